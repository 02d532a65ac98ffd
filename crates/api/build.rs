//! Embeds the dashboard: every file of `dashboard/` becomes an entry of the
//! generated `ASSETS` table, so a new file is served without editing code.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    // Read at run time: a cached build script may come from another checkout.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&manifest).join("dashboard");
    // Relative to the package, so a build cached from another checkout of
    // the repository is not taken for this one's.
    println!("cargo:rerun-if-changed=dashboard");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    let mut out =
        String::from("/// The dashboard's files: (name, bytes).\npub static ASSETS: &[(&str, &[u8])] = &[\n");
    for name in &names {
        println!("cargo:rerun-if-changed=dashboard/{name}");
        // The path is resolved when the crate compiles, not here: a build
        // script's output cached from another checkout must not point into it.
        let _ = writeln!(
            out,
            "    ({name:?}, include_bytes!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/dashboard/\", {name:?}))),"
        );
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("assets.rs");
    std::fs::write(&dest, out).unwrap_or_else(|e| panic!("writing {}: {e}", dest.display()));
}
