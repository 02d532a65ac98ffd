//! The API client commands: tables for people, `--json` for scripts.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::path::PathBuf;

#[derive(Args, Clone)]
pub struct Conn {
    /// The Greenlight API to talk to.
    #[arg(
        long,
        env = "GREENLIGHT_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    url: String,
    /// An API token of a member of the workspace.
    #[arg(long, env = "GREENLIGHT_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum ApprovalsCmd {
    /// Pending approvals of your workspace, newest first.
    List {
        #[command(flatten)]
        conn: Conn,
        #[arg(long)]
        workflow: Option<String>,
        /// A gate's step key, e.g. ad_spend_gate.
        #[arg(long)]
        gate: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// The next page: the cursor the previous page printed.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// The Review card of one approval.
    Show {
        #[command(flatten)]
        conn: Conn,
        step_id: String,
    },
    /// Approve, optionally with a comment that reaches the run report.
    Approve {
        #[command(flatten)]
        conn: Conn,
        step_id: String,
        #[arg(long)]
        comment: Option<String>,
        /// Only approve if the proposal still has this digest (from `approvals show`).
        #[arg(long)]
        digest: Option<String>,
        /// Approve an edit of the proposal instead: a JSON file of the same
        /// shape (spend may only go down). The action sends the edit.
        #[arg(long, conflicts_with = "use_suggestion")]
        edit: Option<PathBuf>,
        /// Approve the approver agent's edited proposal from the card.
        #[arg(long)]
        use_suggestion: bool,
    },
    /// Reject with feedback; a blocking gate's rejection fails the run.
    Reject {
        #[command(flatten)]
        conn: Conn,
        step_id: String,
        #[arg(long)]
        feedback: String,
        #[arg(long)]
        digest: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum RunsCmd {
    /// Start a run of a workflow from a brief file, or re-run a rejected run with notes.
    Start {
        #[command(flatten)]
        conn: Conn,
        /// The workflow id, e.g. campaign-launch (optional with --rerun-of).
        workflow: Option<String>,
        /// A JSON file with the brief.
        #[arg(long)]
        brief: Option<PathBuf>,
        /// Re-run this run with its brief, its rejection reason and --notes.
        #[arg(long)]
        rerun_of: Option<String>,
        #[arg(long)]
        notes: Option<String>,
    },
    /// One run with its steps.
    Show {
        #[command(flatten)]
        conn: Conn,
        run_id: String,
    },
    /// Runs of your workspace, newest first.
    List {
        #[command(flatten)]
        conn: Conn,
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// The next page: the cursor the previous page printed.
        #[arg(long)]
        cursor: Option<String>,
    },
}

pub struct Api {
    http: reqwest::Client,
    conn: Conn,
}

/// A client of the API for these connection settings.
pub fn api(conn: Conn) -> anyhow::Result<Api> {
    Api::new(conn)
}

impl Api {
    fn new(conn: Conn) -> anyhow::Result<Api> {
        if conn.token.is_none() {
            bail!("no API token: pass --token or set GREENLIGHT_TOKEN (in dev: demo-alice-token)");
        }
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .context("building the HTTP client")?;
        Ok(Api { http, conn })
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}{}", self.conn.url.trim_end_matches('/'), path);
        let mut req = self
            .http
            .request(method, &url)
            .bearer_auth(self.conn.token.as_deref().unwrap_or_default());
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("could not reach {url}; is `greenlight dev` running?"))?;
        let status = resp.status();
        let text = match resp.text().await {
            Ok(t) => t,
            Err(e) if status.is_success() => bail!(
                "{url} answered {} but its answer could not be read ({e}): it may have taken effect; look before repeating it",
                status.as_u16()
            ),
            Err(_) => String::new(),
        };
        let value: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            // A success must be Greenlight's JSON: anything else (a proxy's
            // login page, another server at that address) decided nothing.
            Err(_) if status.is_success() => bail!(
                "{url} answered {} with something that is not Greenlight's JSON, so nothing can be said to have happened; is {} a Greenlight API? It began: {}",
                status.as_u16(),
                self.conn.url,
                printable(&text.chars().take(120).collect::<String>())
            ),
            Err(_) => Value::String(text),
        };
        if !status.is_success() {
            if self.conn.json {
                println!("{}", serde_json::to_string_pretty(&value)?);
            }
            let message = value
                .pointer("/error/message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| value.to_string());
            let code = value
                .pointer("/error/code")
                .and_then(Value::as_str)
                .unwrap_or("error");
            if let Some(d) = value.get("decision").filter(|d| d.is_object()) {
                let who = d
                    .pointer("/actor/name")
                    .and_then(Value::as_str)
                    .unwrap_or("someone");
                let text = d["comment"]
                    .as_str()
                    .or(d["feedback"].as_str())
                    .map(|t| format!(": {t}"))
                    .unwrap_or_default();
                bail!(
                    "{}",
                    printable(&format!(
                        "{} {code}: {message} ({} by {who} at {}{text})",
                        status.as_u16(),
                        s(d, "verdict"),
                        s(d, "at")
                    ))
                );
            }
            bail!("{}", printable(&format!("{} {code}: {message}", status.as_u16())));
        }
        Ok(value)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
}

/// What a terminal would act on instead of showing: line breaks and tabs
/// (they would break a table's rows) become spaces; other control
/// characters and the invisible direction overrides become U+FFFD.
fn shown_as(c: char) -> Option<char> {
    match c {
        '\n' | '\r' | '\t' => Some(' '),
        c if c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') => {
            Some('\u{fffd}')
        }
        _ => None,
    }
}

/// `text` as a terminal may show it (see [`shown_as`]).
pub fn printable(text: &str) -> String {
    text.chars().map(|c| shown_as(c).unwrap_or(c)).collect()
}

/// `v` as pretty JSON for a person: JSON escapes control characters
/// itself; the invisible direction overrides are escaped too, so what is
/// shown is what was sent (and can be sent back as an edit).
pub fn pretty(v: &Value) -> anyhow::Result<String> {
    let text = serde_json::to_string_pretty(v)?;
    Ok(text
        .chars()
        .map(|c| match c {
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => format!("\\u{:04x}", c as u32),
            c => c.to_string(),
        })
        .collect())
}

/// An answer to a decision is one (API.md: the step, its status and the
/// decision), or nothing is reported decided.
fn a_decision(v: &Value) -> anyhow::Result<()> {
    if v["step_id"].is_string() && v["decision"].is_object() {
        return Ok(());
    }
    bail!(
        "the answer is not a decision (no step_id and decision), so nothing can be said to be decided; is the URL a Greenlight API? It was: {}",
        printable(&v.to_string().chars().take(120).collect::<String>())
    )
}

/// A field of an answer as a person sees it ([`printable`]).
fn s(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => printable(s),
        Some(Value::Null) | None => "-".into(),
        Some(other) => printable(&other.to_string()),
    }
}

fn money(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_f64)
        .map(|x| format!("${x:.2}"))
        .unwrap_or_else(|| "-".into())
}

pub fn table(headers: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count().min(60));
        }
    }
    // Every cell as a terminal may show it, whatever its source.
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|r| r.iter().map(|c| printable(c)).collect())
        .collect();
    let line = |cells: Vec<String>| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let c: String = if c.chars().count() > 60 {
                    format!("{}…", c.chars().take(59).collect::<String>())
                } else {
                    c.clone()
                };
                format!("{c:<w$}", w = widths[i])
            })
            .collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(headers.iter().map(|h| h.to_string()).collect());
    for r in rows {
        line(r);
    }
}

pub fn print_json(v: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Percent-encodes a path segment or query value, byte by byte of its UTF-8.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub async fn approvals(cmd: ApprovalsCmd) -> anyhow::Result<()> {
    match cmd {
        ApprovalsCmd::List {
            conn,
            workflow,
            gate,
            limit,
            cursor,
        } => {
            let json = conn.json;
            let api = Api::new(conn)?;
            let mut path = format!("/api/dashboard/approvals?limit={limit}");
            if let Some(w) = workflow {
                path.push_str(&format!("&workflow={}", enc(&w)));
            }
            if let Some(g) = gate {
                path.push_str(&format!("&gate={}", enc(&g)));
            }
            if let Some(c) = cursor {
                path.push_str(&format!("&cursor={}", enc(&c)));
            }
            let v = api.get(&path).await?;
            if json {
                return print_json(&v);
            }
            let items = v
                .get("approvals")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if items.is_empty() {
                println!("No pending approvals.");
                return Ok(());
            }
            table(
                &["STEP ID", "WORKFLOW", "GATE", "SPEND", "ROLE", "SUMMARY"],
                items
                    .iter()
                    .map(|a| {
                        vec![
                            s(a, "step_id"),
                            s(a, "workflow"),
                            s(a, "step_label"),
                            money(a, "proposed_spend_usd"),
                            s(a, "required_role"),
                            s(a, "summary"),
                        ]
                    })
                    .collect(),
            );
            next_page(&v);
            Ok(())
        }
        ApprovalsCmd::Show { conn, step_id } => {
            let json = conn.json;
            let v = Api::new(conn)?
                .get(&format!("/api/dashboard/approvals/{}", enc(&step_id)))
                .await?;
            if json {
                return print_json(&v);
            }
            println!(
                "{} · {} gate · run {}",
                s(&v, "workflow_name"),
                s(&v, "step_label"),
                s(&v, "run_id")
            );
            println!("status:   {}", s(&v, "status"));
            println!("summary:  {}", s(&v, "summary"));
            println!(
                "spend:    {} (cap remaining {})",
                money(&v, "proposed_spend_usd"),
                money(&v, "spend_cap_remaining_usd")
            );
            println!("run cost: {}", money(&v, "run_cost_so_far_usd"));
            if let Some(role) = v.get("required_role").and_then(Value::as_str) {
                println!("needs:    role {role}");
            }
            println!("digest:   {}", s(&v, "proposal_digest"));
            println!("\nproposal ({}):", s(&v, "target_output_field"));
            println!("{}", pretty(v.get("proposal").unwrap_or(&Value::Null))?);
            println!("\nchecklist:");
            for c in v
                .get("checklist")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
            {
                println!("  [ ] {}", printable(c.as_str().unwrap_or_default()));
            }
            if let Some(sg) = v.get("suggestion").filter(|x| !x.is_null()) {
                println!(
                    "\napprover agent: predicts {} ({:.0}% confident, learnt from {} decisions)",
                    s(sg, "predicted_verdict"),
                    sg["confidence"].as_f64().unwrap_or(0.0) * 100.0,
                    s(sg, "learnt_from")
                );
                for key in ["reasons", "rule_breaks", "edits", "could_not"] {
                    let items = sg[key].as_array().cloned().unwrap_or_default();
                    if !items.is_empty() {
                        println!("  {}:", key.replace('_', " "));
                        for i in items {
                            println!("    - {}", printable(i.as_str().unwrap_or_default()));
                        }
                    }
                }
                if let Some(e) = sg.get("edited_proposal").filter(|e| !e.is_null()) {
                    println!(
                        "  edited proposal (approve it with --use-suggestion):\n{}",
                        pretty(e)?
                    );
                }
            }
            if let Some(d) = v.get("decision").filter(|d| !d.is_null()) {
                println!(
                    "\ndecision: {} by {} at {}",
                    s(d, "verdict"),
                    printable(d.pointer("/actor/name").and_then(Value::as_str).unwrap_or("-")),
                    s(d, "at")
                );
                for key in ["comment", "feedback"] {
                    if let Some(t) = d[key].as_str().filter(|t| !t.is_empty()) {
                        println!("{key}: {}", printable(t));
                    }
                }
                if let Some(e) = v.get("approved_edit").filter(|e| !e.is_null()) {
                    println!("approved with an edit:\n{}", pretty(e)?);
                }
            }
            Ok(())
        }
        ApprovalsCmd::Approve {
            conn,
            step_id,
            comment,
            digest,
            edit,
            use_suggestion,
        } => {
            let json = conn.json;
            let mut body = json!({});
            if let Some(c) = comment {
                body["comment"] = json!(c);
            }
            if let Some(d) = digest {
                body["proposal_digest"] = json!(d);
            }
            let api = Api::new(conn)?;
            if let Some(path) = edit {
                let text =
                    std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
                body["edited_proposal"] =
                    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
            }
            if use_suggestion {
                let card = api
                    .get(&format!("/api/dashboard/approvals/{}", enc(&step_id)))
                    .await?;
                match card
                    .pointer("/suggestion/edited_proposal")
                    .filter(|e| !e.is_null())
                {
                    Some(e) => body["edited_proposal"] = e.clone(),
                    None => bail!("the card has no edited proposal from the approver agent"),
                }
                // Bound to the proposal the edit was made from.
                if body.get("proposal_digest").is_none() {
                    body["proposal_digest"] = card["proposal_digest"].clone();
                }
            }
            let v = api
                .post(
                    &format!("/api/dashboard/approvals/{}/approve", enc(&step_id)),
                    body,
                )
                .await?;
            a_decision(&v)?;
            if json {
                return print_json(&v);
            }
            println!("Approved {} ({}).", s(&v, "step_id"), s(&v, "status"));
            Ok(())
        }
        ApprovalsCmd::Reject {
            conn,
            step_id,
            feedback,
            digest,
        } => {
            let json = conn.json;
            let mut body = json!({"feedback": feedback});
            if let Some(d) = digest {
                body["proposal_digest"] = json!(d);
            }
            let v = Api::new(conn)?
                .post(
                    &format!("/api/dashboard/approvals/{}/reject", enc(&step_id)),
                    body,
                )
                .await?;
            a_decision(&v)?;
            if json {
                return print_json(&v);
            }
            println!("Rejected {}.", s(&v, "step_id"));
            if let Some(e) = v.get("run_error").and_then(Value::as_str) {
                println!("The run failed: {}", printable(e));
            }
            Ok(())
        }
    }
}

fn print_run(v: &Value) {
    println!(
        "{} · {} · {}",
        s(v, "run_id"),
        s(v, "workflow_name"),
        s(v, "status")
    );
    if let Some(e) = v.get("error").and_then(Value::as_str) {
        println!("error: {}", printable(e));
    }
    println!("cost: {}", money(v, "cost_usd"));
    let steps = v
        .get("steps")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    table(
        &["STEP", "KIND", "STATUS", "COST"],
        steps
            .iter()
            .map(|st| {
                vec![
                    s(st, "label"),
                    s(st, "kind"),
                    s(st, "status"),
                    money(st, "cost_usd"),
                ]
            })
            .collect(),
    );
}

pub async fn runs(cmd: RunsCmd) -> anyhow::Result<()> {
    match cmd {
        RunsCmd::Start {
            conn,
            workflow,
            brief,
            rerun_of,
            notes,
        } => {
            let json = conn.json;
            let mut body = json!({});
            if let Some(w) = workflow {
                body["workflow"] = json!(w);
            }
            if let Some(path) = brief {
                let text =
                    std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
                let brief: Value =
                    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
                body["brief"] = brief;
            }
            if let Some(r) = rerun_of {
                body["rerun_of"] = json!(r);
            }
            if let Some(n) = notes {
                body["notes"] = json!(n);
            }
            let v = Api::new(conn)?.post("/api/runs", body).await?;
            if json {
                return print_json(&v);
            }
            println!("Started {} ({}).", s(&v, "run_id"), s(&v, "status"));
            println!("Follow it with: greenlight runs show {}", s(&v, "run_id"));
            Ok(())
        }
        RunsCmd::Show { conn, run_id } => {
            let json = conn.json;
            let v = Api::new(conn)?
                .get(&format!("/api/runs/{}", enc(&run_id)))
                .await?;
            if json {
                return print_json(&v);
            }
            print_run(&v);
            Ok(())
        }
        RunsCmd::List {
            conn,
            status,
            limit,
            cursor,
        } => {
            let json = conn.json;
            let mut path = format!("/api/runs?limit={limit}");
            if let Some(st) = status {
                path.push_str(&format!("&status={}", enc(&st)));
            }
            if let Some(c) = cursor {
                path.push_str(&format!("&cursor={}", enc(&c)));
            }
            let v = Api::new(conn)?.get(&path).await?;
            if json {
                return print_json(&v);
            }
            let runs = v
                .get("runs")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            table(
                &["RUN ID", "WORKFLOW", "STATUS", "COST", "TITLE", "ERROR"],
                runs.iter()
                    .map(|r| {
                        vec![
                            s(r, "run_id"),
                            s(r, "workflow"),
                            s(r, "status"),
                            money(r, "cost_usd"),
                            s(r, "title"),
                            s(r, "error"),
                        ]
                    })
                    .collect(),
            );
            next_page(&v);
            Ok(())
        }
    }
}

/// Under a list's table: how to ask for the page after it, if there is one.
fn next_page(page: &Value) {
    if let Some(c) = page.get("next_cursor").and_then(Value::as_str) {
        println!("More: the same command with --cursor {}", printable(c));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_utf8_bytes() {
        assert_eq!(super::enc("café 日"), "caf%C3%A9%20%E6%97%A5");
        assert_eq!(super::enc("run_01.listings_gate"), "run_01.listings_gate");
    }

    #[test]
    fn text_is_shown_without_what_a_terminal_would_act_on() {
        assert_eq!(
            printable("a\nb\tc\u{1b}[31md\u{202e}e\u{2066}f é 👩‍👩‍👧"),
            "a b c\u{fffd}[31md\u{fffd}e\u{fffd}f é 👩‍👩‍👧"
        );
    }

    /// What `approvals show` prints of a proposal is the proposal: copied
    /// into an `--edit` file it reads back the same.
    #[test]
    fn pretty_json_escapes_direction_overrides_and_reads_back_the_same() {
        let v = json!({"text": "para one\n\npara two \u{202e}reversed\u{202c} \u{1b}[0m", "n": 7});
        let shown = pretty(&v).unwrap();
        assert!(
            !shown.contains('\u{202e}') && !shown.contains('\u{1b}') && !shown.contains("one\n"),
            "{shown}"
        );
        assert!(shown.contains("\\u202e"), "{shown}");
        assert_eq!(serde_json::from_str::<Value>(&shown).unwrap(), v);
    }
}
