//! Architecture invariants that a test can check.

use greenlight_tests::repo;

/// The core does no IO: no AWS, Lambda, SQL or HTTP crate in its dependency tree.
#[test]
fn the_core_has_no_io_in_its_dependency_tree() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "tree",
            "-p",
            "greenlight-core",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .current_dir(repo())
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = tree.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert!(names.contains(&"greenlight-core"), "{tree}");
    let forbidden = ["rusqlite", "axum", "reqwest", "hyper", "tokio", "libsqlite3-sys"];
    for name in &names {
        assert!(
            !(name.starts_with("aws-")
                || name.starts_with("lambda_")
                || name.starts_with("lambda-")
                || forbidden.contains(name)),
            "greenlight-core depends on {name}:\n{tree}"
        );
    }
}
