//! `greenlight approver`: the decision history and the agent's shadow-mode
//! statistics over the API, and its evaluation on a history (a store's, or
//! the sample brands').

use crate::client::{Conn, api, print_json, table};
use anyhow::{Context, bail};
use clap::Subcommand;
use greenlight_core::approver::{evaluate_history, gates_of};
use greenlight_core::model::{HistoryEntry, PageRequest};
use greenlight_core::recipes::RecipeBook;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum ApproverCmd {
    /// Export the decision history (the agent's training data): every gate's,
    /// or one gate's. `--json` gives `{"decisions": [...]}`, oldest first.
    History {
        #[command(flatten)]
        conn: Conn,
        #[arg(long, requires = "gate")]
        workflow: Option<String>,
        /// A gate's step key, e.g. publish_gate.
        #[arg(long, requires = "workflow")]
        gate: Option<String>,
    },
    /// Per gate: decisions learnt from, agreement, precision and recall of
    /// predicted rejections, auto-approvals and the auto-approve setting.
    Stats {
        #[command(flatten)]
        conn: Conn,
    },
    /// Train on the older part of each gate's history and test on the newer:
    /// precision and recall of predicted rejections, agreement, and the
    /// false-accept rate auto-approve would have had at each threshold.
    Eval {
        /// A store to read the history from: `sqlite:<path>` or `dynamodb:<table>`
        /// (with --workspace). Without it, each sample brand's decision-history.json.
        #[arg(long, env = "GREENLIGHT_STORE")]
        store: Option<String>,
        #[arg(long, requires = "store")]
        workspace: Option<String>,
        /// The sample data, when no --store is given.
        #[arg(long, default_value = "samplesdata")]
        samples: PathBuf,
        /// The share of each gate's decisions, oldest first, to train on.
        #[arg(long, default_value_t = 0.7)]
        train_share: f64,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cmd: ApproverCmd) -> anyhow::Result<()> {
    match cmd {
        ApproverCmd::History { conn, workflow, gate } => history(conn, workflow, gate).await,
        ApproverCmd::Stats { conn } => stats(conn).await,
        ApproverCmd::Eval {
            store,
            workspace,
            samples,
            train_share,
            json,
        } => {
            if !(0.1..=0.9).contains(&train_share) {
                bail!("--train-share must be from 0.1 to 0.9, not {train_share}");
            }
            let brands = match (store, workspace) {
                (Some(spec), Some(ws)) => vec![from_store(&spec, &ws).await?],
                (Some(_), None) => bail!("--store needs --workspace"),
                _ => from_samples(&samples)?,
            };
            eval(brands, train_share, json)
        }
    }
}

async fn history(conn: Conn, workflow: Option<String>, gate: Option<String>) -> anyhow::Result<()> {
    let json_out = conn.json;
    let api = api(conn)?;
    let gates: Vec<(String, String)> = match (workflow, gate) {
        (Some(w), Some(g)) => vec![(w, g)],
        _ => {
            let stats = api.get("/api/approver/stats").await?;
            stats["gates"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|g| (s(g, "workflow"), s(g, "gate")))
                .collect()
        }
    };
    let mut all: Vec<Value> = Vec::new();
    for (w, g) in gates {
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!(
                "/api/approver/history?workflow={}&gate={}&limit=200",
                crate::client::enc(&w),
                crate::client::enc(&g)
            );
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={}", crate::client::enc(c)));
            }
            let page = api.get(&path).await?;
            all.extend(page["decisions"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
    }
    all.sort_by_key(|d| s(d, "at"));
    if json_out {
        return print_json(&json!({ "decisions": all }));
    }
    table(
        &["at", "workflow", "gate", "verdict", "by", "feedback or comment"],
        all.iter()
            .map(|d| {
                vec![
                    s(d, "at"),
                    s(d, "workflow"),
                    s(d, "gate"),
                    s(d, "verdict"),
                    // table() shows each cell as a terminal may.
                    d.pointer("/actor/name")
                        .and_then(Value::as_str)
                        .unwrap_or("-")
                        .to_string(),
                    d["feedback"]
                        .as_str()
                        .or(d["comment"].as_str())
                        .unwrap_or("")
                        .to_string(),
                ]
            })
            .collect(),
    );
    eprintln!("{} decisions", all.len());
    Ok(())
}

async fn stats(conn: Conn) -> anyhow::Result<()> {
    let json_out = conn.json;
    let api = api(conn)?;
    let stats = api.get("/api/approver/stats").await?;
    if json_out {
        return print_json(&stats);
    }
    let pct = |v: &Value| {
        v.as_f64()
            .map(|x| format!("{:.1}%", x * 100.0))
            .unwrap_or_else(|| "-".into())
    };
    table(
        &[
            "workflow",
            "gate",
            "decisions",
            "rejected",
            "learnt from",
            "predicted",
            "agreement",
            "precision",
            "recall",
            "auto-approved",
            "auto-approve",
        ],
        stats["gates"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|g| {
                vec![
                    s(g, "workflow"),
                    s(g, "gate"),
                    s(g, "decisions"),
                    s(g, "rejected"),
                    s(g, "learnt_from"),
                    s(g, "predicted"),
                    pct(&g["agreement"]),
                    pct(&g["precision"]),
                    pct(&g["recall"]),
                    s(g, "auto_approved"),
                    match g["auto_approve"].as_object() {
                        Some(a) => format!(
                            "at ≥ {}{}",
                            a.get("threshold").map(Value::to_string).unwrap_or_default(),
                            if a.get("spend").and_then(Value::as_bool) == Some(true) {
                                ", spend too"
                            } else {
                                ""
                            }
                        ),
                        None => "off".into(),
                    },
                ]
            })
            .collect(),
    );
    Ok(())
}

fn s(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => crate::client::printable(s),
        Some(Value::Null) | None => "-".into(),
        Some(other) => crate::client::printable(&other.to_string()),
    }
}

/// A brand and its history, to evaluate.
struct Brand {
    name: String,
    brand: greenlight_agents::BrandProfile,
    history: Vec<HistoryEntry>,
    synthetic: bool,
}

async fn from_store(spec: &str, ws: &str) -> anyhow::Result<Brand> {
    let store = crate::admin::open(spec, crate::admin::Create::No).await?;
    let id = greenlight_core::ids::WorkspaceId::parse(ws)?;
    let workspace = store
        .get_workspace(&id)
        .await?
        .with_context(|| format!("no workspace {id} in {spec}"))?;
    let data: greenlight_agents::WorkspaceData =
        serde_json::from_value(workspace.data).context("the workspace's brand data does not load")?;
    let recipes = RecipeBook::seeded()?;
    let mut history = Vec::new();
    for g in gates_of(&recipes) {
        let mut cursor = None;
        loop {
            let page = store
                .list_history(&id, &g.workflow, &g.gate, &PageRequest { limit: 500, cursor })
                .await?;
            history.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
    }
    Ok(Brand {
        name: format!("{} ({id})", workspace.name),
        synthetic: !history.is_empty() && history.iter().all(|e| e.synthetic),
        brand: data.brand,
        history,
    })
}

fn from_samples(dir: &Path) -> anyhow::Result<Vec<Brand>> {
    let root = dir.join("workspaces");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .with_context(|| {
            format!(
                "no sample data at {}; run from the repository root or pass --samples",
                root.display()
            )
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("decision-history.json").is_file())
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        bail!("no decision-history.json under {}", root.display());
    }
    dirs.iter()
        .map(|d| {
            let data = greenlight_agents::load_workspace_dir(d)
                .with_context(|| format!("loading {}", d.display()))?;
            let path = d.join("decision-history.json");
            let text =
                std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            let history = greenlight_local::parse_history(&path, &text)?;
            Ok(Brand {
                name: format!(
                    "{} ({})",
                    data.brand.brand_name,
                    d.file_name().and_then(|n| n.to_str()).unwrap_or("?")
                ),
                synthetic: history.iter().all(|e| e.synthetic),
                brand: data.brand,
                history,
            })
        })
        .collect()
}

fn eval(brands: Vec<Brand>, train_share: f64, json_out: bool) -> anyhow::Result<()> {
    let recipes = RecipeBook::seeded()?;
    let mut report = Vec::new();
    for b in &brands {
        let mut gates = Vec::new();
        let (mut caught, mut alarms, mut missed, mut agree, mut tested) = (0, 0, 0, 0.0, 0);
        let mut by_threshold: Vec<(f64, usize, usize, usize)> = Vec::new();
        for g in gates_of(&recipes) {
            let entries: Vec<HistoryEntry> = b
                .history
                .iter()
                .filter(|e| e.workflow == g.workflow && e.gate == g.gate)
                .cloned()
                .collect();
            if entries.is_empty() {
                continue;
            }
            match evaluate_history(&b.brand, &entries, train_share) {
                Ok(e) => {
                    caught += e.caught;
                    alarms += e.false_alarms;
                    missed += e.missed;
                    agree += e.agreement * e.test as f64;
                    tested += e.test;
                    for (i, t) in e.thresholds.iter().enumerate() {
                        if by_threshold.len() <= i {
                            by_threshold.push((t.threshold, 0, 0, 0));
                        }
                        by_threshold[i].1 += t.auto_approved;
                        by_threshold[i].2 += t.false_accepts;
                        by_threshold[i].3 += e.test;
                    }
                    gates.push(json!({"workflow": g.workflow, "gate": g.gate, "evaluation": e}));
                }
                Err(err) => {
                    gates.push(json!({"workflow": g.workflow, "gate": g.gate, "error": err.to_string()}))
                }
            }
        }
        let ratio = |a: usize, b: usize| if b == 0 { None } else { Some(a as f64 / b as f64) };
        let thresholds: Vec<Value> = by_threshold
            .iter()
            .map(|(t, auto, fa, test)| {
                json!({"threshold": t, "auto_approved": auto, "false_accepts": fa,
                       "false_accept_rate": ratio(*fa, *auto).unwrap_or(0.0), "coverage": ratio(*auto, *test)})
            })
            .collect();
        report.push(json!({
            "brand": b.name, "synthetic": b.synthetic, "decisions": b.history.len(),
            "precision": ratio(caught, caught + alarms), "recall": ratio(caught, caught + missed),
            "agreement": if tested > 0 { Some(agree / tested as f64) } else { None },
            "tested": tested, "gates": gates, "thresholds": thresholds,
        }));
    }
    if json_out {
        return print_json(&json!({ "train_share": train_share, "brands": report }));
    }
    let pct = |v: &Value| {
        v.as_f64()
            .map(|x| format!("{:.1}%", x * 100.0))
            .unwrap_or_else(|| "-".into())
    };
    for r in &report {
        println!(
            "\n{}: {} decisions{}; trained on the oldest {:.0}% of each gate's, tested on the newest {}",
            s(r, "brand"),
            s(r, "decisions"),
            if r["synthetic"] == true {
                " (synthetic)"
            } else {
                ""
            },
            train_share * 100.0,
            s(r, "tested")
        );
        println!(
            "  predicted rejections: precision {}, recall {}; agreement {}",
            pct(&r["precision"]),
            pct(&r["recall"]),
            pct(&r["agreement"])
        );
        let rows = r["gates"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|g| match g.get("evaluation") {
                Some(e) => vec![
                    format!("  {}", s(g, "gate")),
                    s(e, "train"),
                    s(e, "test"),
                    pct(&e["precision"]),
                    pct(&e["recall"]),
                    pct(&e["agreement"]),
                    e["brier"].as_f64().map(|b| format!("{b:.3}")).unwrap_or_default(),
                ],
                None => vec![
                    format!("  {}", s(g, "gate")),
                    s(g, "error"),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                ],
            })
            .collect();
        table(
            &[
                "  gate",
                "train",
                "test",
                "precision",
                "recall",
                "agreement",
                "brier",
            ],
            rows,
        );
        let rows = r["thresholds"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                vec![
                    format!("  ≥ {}", s(t, "threshold")),
                    s(t, "auto_approved"),
                    pct(&t["coverage"]),
                    s(t, "false_accepts"),
                    pct(&t["false_accept_rate"]),
                ]
            })
            .collect();
        table(
            &[
                "  auto-approve at",
                "approved",
                "of tested",
                "false accepts",
                "false-accept rate",
            ],
            rows,
        );
    }
    println!(
        "\nA false accept is a decision auto-approve would have taken that a person rejected; it never acts on a card that breaks a written brand rule."
    );
    Ok(())
}
