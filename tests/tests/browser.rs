//! The dashboard end to end in headless Chromium (Debian's `chromium`,
//! driven by `playwright-core`; both installed by `scripts/test`), against
//! a fresh Greenlight on a free port. The browser's part is
//! `tests/browser/dashboard.e2e.mjs`; this test then checks through the API
//! that what the browser did happened, once.
//!
//! Screenshots go to a temporary directory; set `GREENLIGHT_SCREENSHOTS` to
//! `docs/screenshots` to refresh the README's.

use greenlight_tests::{ALICE, TestApp, repo, step};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

fn tool(var: &str, what: &str) -> PathBuf {
    let path = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        panic!("{var} is not set: {what} is needed for the dashboard tests; scripts/test installs it and sets {var}")
    });
    assert!(
        path.exists(),
        "{var}={} does not exist: {what} is missing",
        path.display()
    );
    path
}

/// Where screenshots go: `GREENLIGHT_SCREENSHOTS`, else a scratch directory.
fn screenshots(scratch: &tempfile::TempDir) -> PathBuf {
    std::env::var_os("GREENLIGHT_SCREENSHOTS")
        .map(|d| repo().join(PathBuf::from(d)))
        .unwrap_or_else(|| scratch.path().join("screenshots"))
}

/// Runs `tests/browser/<script>` against the app; fails with its stderr
/// unless it succeeds. Answers its stdout.
async fn browse(app: &TestApp, script: &str, shots: &std::path::Path, env: &[(&str, &str)]) -> String {
    let playwright = tool("GREENLIGHT_PLAYWRIGHT", "playwright-core");
    let chromium = tool("GREENLIGHT_CHROMIUM", "Chromium");
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(repo().join("tests/browser").join(script))
        .env("GREENLIGHT_BASE_URL", format!("http://{}", app.addr))
        .env("GREENLIGHT_PLAYWRIGHT", &playwright)
        .env("GREENLIGHT_CHROMIUM", &chromium)
        .env("GREENLIGHT_SCREENSHOTS", shots)
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(240), cmd.output())
        .await
        .expect("the browser test finishes within 4 minutes")
        .expect("node runs (Node.js 20+ is required)");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "the browser test {script} failed:\n{stderr}"
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_approves_and_rejects_in_a_real_browser() {
    let app = TestApp::spawn().await;
    let scratch = tempfile::tempdir().expect("temp dir");
    let shots = screenshots(&scratch);
    let stdout = browse(&app, "dashboard.e2e.mjs", &shots, &[]).await;

    let created: Value = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .expect("the browser test prints what it created");
    let rejected = created["rejected_run"].as_str().expect("rejected_run");
    let approved = created["approved_run"].as_str().expect("approved_run");

    // The first run failed at the gate the browser rejected, once.
    let run = app.run(ALICE, rejected).await;
    assert_eq!(run["status"], "failed");
    let error = run["error"].as_str().unwrap_or_default();
    assert_eq!(
        error,
        "Rejected at Outreach: These DMs read like ads <img src=x onerror=alert(2)>"
    );
    assert_eq!(step(&run, "ad_spend_gate")["status"], "cancelled");
    assert_eq!(
        step(&run, "ad_spend_gate")["decision"],
        Value::Null,
        "alice's refused approval changed nothing"
    );
    assert_eq!(
        step(&run, "publish_gate")["decision"]["comment"],
        "Lovely light. <b>bold?</b>"
    );
    // The markup typed into the brief was kept as data.
    assert_eq!(
        run["brief"]["notes"],
        "Keep it calm. <script>alert(\"notes\")</script><img src=x onerror=alert(1)>"
    );

    // The second run succeeded; its report carries olivia's comment.
    let (status, report) = app.get(ALICE, &format!("/api/runs/{approved}/report")).await;
    assert_eq!(status, 200, "{report}");
    let comments = report["approver_comments"].as_array().expect("approver_comments");
    assert!(
        comments
            .iter()
            .any(|c| c["comment"] == "Ship it, and watch the first *two* days | closely <3 & _see_."),
        "{report}"
    );
    assert_eq!(app.run(ALICE, approved).await["rerun_of"], rejected);

    // Each decision the browser made is in the audit log exactly once, and
    // only the approved run's actions sent anything.
    let (_, audit) = app.get(ALICE, "/api/audit?limit=200").await;
    let decisions: Vec<&Value> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["action"].as_str().is_some_and(|a| a.starts_with("approval.")))
        .collect();
    assert_eq!(
        decisions.len(),
        7,
        "3 decisions on the first run, 4 on the second: {audit}"
    );
    let (_, outbox) = app.get(ALICE, "/api/outbox?limit=200").await;
    let items = outbox["items"].as_array().expect("items");
    assert_eq!(
        items.iter().filter(|i| i["run_id"] == approved).count(),
        4,
        "{outbox}"
    );
    assert!(
        items
            .iter()
            .filter(|i| i["run_id"] == rejected)
            .all(|i| i["step_key"] == "publish_listings" || i["step_key"] == "post"),
        "the rejected run sent only what was approved before the rejection: {outbox}"
    );

    for name in [
        "approvals",
        "run-waiting",
        "card-listings",
        "card-publish",
        "card-ad_spend",
        "card-outreach",
    ] {
        let path = shots.join(format!("{name}.png"));
        let size = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .len();
        assert!(size > 20_000, "{} is only {size} bytes", path.display());
    }
}

/// The approver agent's card and page in the browser (`tests/browser/approver.e2e.mjs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_review_card_shows_the_agents_edit_beside_the_proposal_and_approves_it() {
    use greenlight_tests::approver::{TOO_MANY, hashtag_launch};
    let app = TestApp::spawn().await;
    let (token, run_id, run) = hashtag_launch(&app).await;
    let gate = greenlight_tests::step_id(&run, "publish_gate");
    let scratch = tempfile::tempdir().expect("temp dir");
    let shots = screenshots(&scratch);
    browse(
        &app,
        "approver.e2e.mjs",
        &shots,
        &[
            ("GREENLIGHT_TOKEN", &token),
            ("GREENLIGHT_REVIEW", &gate),
            ("GREENLIGHT_FEEDBACK", TOO_MANY),
        ],
    )
    .await;

    // What the browser approved is the edit: three hashtags went out.
    let (_, card) = app.get(&token, &format!("/api/dashboard/approvals/{gate}")).await;
    assert_eq!(card["decision"]["verdict"], "approved", "{card}");
    let sent = app.outbox_item(&token, &run_id, "post").await;
    assert_eq!(
        sent["payload"]["post_caption"], card["suggestion"]["edited_proposal"],
        "{sent}"
    );
    assert_eq!(
        sent["payload"]["post_caption"]["hashtags"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    for name in ["review-suggestion", "approver-agent"] {
        let path = shots.join(format!("{name}.png"));
        let size = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .len();
        assert!(size > 20_000, "{} is only {size} bytes", path.display());
    }
}
