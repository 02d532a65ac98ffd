//! `greenlight recipes check|compile`.

use anyhow::{Context, bail};
use clap::Subcommand;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum RecipesCmd {
    /// Validate recipe files (default: every state-machines/recipes/*.yaml).
    Check { files: Vec<PathBuf> },
    /// Compile recipes to state-machines/<id>.asl.json.
    Compile {
        /// Recipe files (default: every state-machines/recipes/*.yaml).
        files: Vec<PathBuf>,
        /// Where the .asl.json files go.
        #[arg(long, default_value = "state-machines")]
        out_dir: PathBuf,
        /// Write nothing; fail if a committed file differs from what the compiler makes.
        #[arg(long)]
        check: bool,
    },
}

/// The files named (each once, however often a shell glob repeats it), or
/// every seeded recipe.
fn default_files(files: Vec<PathBuf>) -> anyhow::Result<Vec<PathBuf>> {
    if !files.is_empty() {
        let mut seen = std::collections::HashSet::new();
        return Ok(files
            .into_iter()
            .filter(|f| seen.insert(std::fs::canonicalize(f).unwrap_or_else(|_| f.clone())))
            .collect());
    }
    let dir = Path::new("state-machines/recipes");
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| {
            format!(
                "reading {} (run from the repository root or name the files)",
                dir.display()
            )
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    out.sort();
    Ok(out)
}

fn load(path: &Path) -> anyhow::Result<greenlight_recipes::Recipe> {
    let yaml = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(greenlight_recipes::parse_recipe(
        &path.display().to_string(),
        &yaml,
    )?)
}

pub fn run(cmd: RecipesCmd) -> anyhow::Result<()> {
    match cmd {
        RecipesCmd::Check { files } => {
            let mut failed = 0;
            let mut ids: HashMap<String, PathBuf> = HashMap::new();
            for path in default_files(files)? {
                match load(&path) {
                    Ok(r) if ids.contains_key(&r.id) => {
                        failed += 1;
                        println!(
                            "invalid {}: the id {} is also {}'s (ids must differ)",
                            path.display(),
                            r.id,
                            ids[&r.id].display()
                        );
                    }
                    Ok(r) => {
                        println!(
                            "ok      {} ({}: {} steps, {})",
                            path.display(),
                            r.id,
                            r.steps.len(),
                            match r.gates().count() {
                                1 => "1 gate".to_string(),
                                n => format!("{n} gates"),
                            }
                        );
                        ids.insert(r.id.clone(), path);
                    }
                    Err(e) => {
                        failed += 1;
                        println!("invalid {e:#}");
                    }
                }
            }
            if failed > 0 {
                bail!("{failed} recipe(s) invalid");
            }
            Ok(())
        }
        RecipesCmd::Compile {
            files,
            out_dir,
            check,
        } => {
            // Every recipe compiles, with an id of its own, before any file
            // is written: a bad one among several leaves nothing half done.
            let mut compiled: Vec<(PathBuf, String)> = Vec::new();
            let mut ids: HashMap<String, PathBuf> = HashMap::new();
            for path in default_files(files)? {
                let recipe = load(&path)?;
                if let Some(other) = ids.get(&recipe.id) {
                    bail!(
                        "{}: the id {} is also {}'s; each recipe compiles to <id>.asl.json, so ids must differ",
                        path.display(),
                        recipe.id,
                        other.display()
                    );
                }
                ids.insert(recipe.id.clone(), path);
                let out = out_dir.join(format!("{}.asl.json", recipe.id));
                compiled.push((out, greenlight_recipes::asl_text(&recipe)));
            }
            let mut drifted = 0;
            for (out, text) in compiled {
                if check {
                    let current = std::fs::read_to_string(&out).unwrap_or_default();
                    if current != text {
                        drifted += 1;
                        println!("differs {}", out.display());
                    } else {
                        println!("same    {}", out.display());
                    }
                } else {
                    std::fs::create_dir_all(&out_dir)
                        .with_context(|| format!("creating {}", out_dir.display()))?;
                    std::fs::write(&out, &text).with_context(|| format!("writing {}", out.display()))?;
                    println!("wrote   {}", out.display());
                }
            }
            if drifted > 0 {
                bail!("{drifted} ASL file(s) differ from their recipes; run `greenlight recipes compile`");
            }
            Ok(())
        }
    }
}
