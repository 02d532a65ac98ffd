//! The seed's approval flow over HTTP, against the local server on port 0
//! with a fresh data directory per test.

use greenlight_tests::*;
use serde_json::{Value, json};

const GATES: [&str; 4] = ["listings_gate", "publish_gate", "ad_spend_gate", "outreach_gate"];

async fn launch(app: &TestApp) -> (String, Value) {
    app.launch(ALICE, "demo-campaign-launch-spring-linen").await
}

async fn approve(app: &TestApp, token: &str, step_id: &str, body: Value) -> (u16, Value) {
    app.decide(token, step_id, "approve", body).await
}

async fn reject(app: &TestApp, token: &str, step_id: &str, feedback: &str) -> (u16, Value) {
    app.decide(token, step_id, "reject", json!({"feedback": feedback}))
        .await
}

/// The spring-linen brief with one field changed is a 400 whose message names `named`.
async fn brief_refused_naming(app: &TestApp, field: &str, value: Value, named: &str) {
    let mut b = brief("demo-campaign-launch-spring-linen");
    b[field] = value;
    let (status, body) = app
        .post(
            ALICE,
            "/api/runs",
            json!({"workflow": "campaign-launch", "brief": b}),
        )
        .await;
    assert_refused(status, &body, named);
}

#[tokio::test]
async fn four_gates_wait_at_once_and_show_in_the_queue() {
    let app = TestApp::spawn().await;
    let (run_id, run) = launch(&app).await;
    let mut waiting = waiting(&run);
    waiting.sort();
    let mut expected: Vec<String> = GATES.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(waiting, expected);
    assert_eq!(run["status"], "running");
    // Nothing went out, synthesis has not run.
    assert_eq!(step(&run, "synthesis")["status"], "pending");
    let (_, outbox) = app.get(ALICE, "/api/outbox").await;
    assert_eq!(outbox["items"], json!([]));
    // The paused run left memory (these tests keep no paused run in memory):
    // every decision below replays it from the journal.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.local.engine.in_memory() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the paused run was never parked"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(app.local.engine.waiting_tasks(), 4, "four parked gates");

    let pending = app.pending_of(ALICE, &run_id).await;
    assert_eq!(pending.len(), 4);
    let labels: Vec<&str> = pending.iter().filter_map(|a| a["step_label"].as_str()).collect();
    for label in ["Listings", "Publish", "Ad Spend", "Outreach"] {
        assert!(labels.contains(&label), "{label} missing from {labels:?}");
    }
    // Newest first.
    let times: Vec<&str> = pending.iter().filter_map(|a| a["created_at"].as_str()).collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted);
    // The ad spend card shows the committed total: the brief's budget × days.
    let b = brief("demo-campaign-launch-spring-linen");
    let total = b["budget_usd_per_day"].as_f64().unwrap() * b["campaign_days"].as_f64().unwrap();
    let ads = pending.iter().find(|a| a["step_key"] == "ad_spend_gate").unwrap();
    assert_eq!(ads["proposed_spend_usd"].as_f64().unwrap(), total);
    assert_eq!(ads["workflow_name"], "Campaign Launch");
    assert_eq!(ads["target_output_field"], "campaigns");
    // No task token anywhere in what the API returns.
    let card = app
        .get(
            ALICE,
            &format!("/api/dashboard/approvals/{}", ads["step_id"].as_str().unwrap()),
        )
        .await
        .1;
    assert!(!card.to_string().contains("gl1|"), "a task token leaked: {card}");
    assert!(!pending.iter().any(|a| a.to_string().contains("task_token")));
}

#[tokio::test]
async fn the_review_card_has_what_a_reviewer_needs() {
    let app = TestApp::spawn().await;
    let (_, run) = launch(&app).await;
    let (status, card) = app
        .get(
            ALICE,
            &format!("/api/dashboard/approvals/{}", step_id(&run, "publish_gate")),
        )
        .await;
    assert_eq!(status, 200, "{card}");
    assert_eq!(card["status"], "waiting_for_approval");
    assert_eq!(card["target_output_field"], "post_caption");
    assert_eq!(card["upstream_step_key"], "compliance");
    assert!(
        card["proposal"].is_object() || card["proposal"].is_string(),
        "{card}"
    );
    assert!(card["proposal_html"].as_str().unwrap().len() > 20);
    assert!(card["proposal_digest"].as_str().unwrap().starts_with("sha256:"));
    // The trail covers Content Producer (with its Studio render) then Compliance.
    let trail = card["reasoning_trail"].as_array().unwrap();
    let keys: Vec<&str> = trail.iter().filter_map(|t| t["step_key"].as_str()).collect();
    let first_compliance = keys
        .iter()
        .position(|k| *k == "compliance")
        .expect("compliance in the trail");
    assert!(keys[..first_compliance].contains(&"content_producer"), "{keys:?}");
    let studio = trail
        .iter()
        .find(|t| t["kind"] == "studio")
        .expect("a studio entry");
    let asset = studio["asset_url"].as_str().unwrap();
    let resp = reqwest::Client::new()
        .get(app.url(asset))
        .bearer_auth(ALICE)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let svg = resp.text().await.unwrap();
    assert!(svg.contains("<svg"), "the asset is an image: {svg}");
    // Checklist: the generic four, then the gate's own.
    let checklist = card["checklist"].as_array().unwrap();
    assert_eq!(checklist[0], "Does the proposal match the brief?");
    assert!(checklist.len() > 4);
    assert!(card["run_cost_so_far_usd"].as_f64().unwrap() > 0.0);
    assert_eq!(card["decision"], Value::Null);
}

/// Approved with an edit that lowers the spend, the card shows what was
/// committed: the edit's total is what the spend cap was charged.
#[tokio::test]
async fn an_edit_approved_is_the_spend_the_card_shows_and_the_cap_is_charged() {
    let app = TestApp::spawn().await;
    let (_, run) = launch(&app).await;
    let gate = step_id(&run, "ad_spend_gate");
    let (_, card) = app.get(OLIVIA, &format!("/api/dashboard/approvals/{gate}")).await;
    let remaining = card["spend_cap_remaining_usd"].as_f64().unwrap();
    let mut edit = card["proposal"].clone();
    let mut total_cents = 0i64;
    for c in edit.as_array_mut().unwrap() {
        let days = c["days"].as_i64().unwrap();
        let daily_cents = (c["daily_budget_usd"].as_f64().unwrap() * 50.0).floor() as i64;
        c["daily_budget_usd"] = json!(daily_cents as f64 / 100.0);
        c["total_usd"] = json!((daily_cents * days) as f64 / 100.0);
        total_cents += daily_cents * days;
    }
    let committed = total_cents as f64 / 100.0;
    assert!(committed < card["proposed_spend_usd"].as_f64().unwrap(), "{card}");
    // A fraction of a day or of a cent is not an edit the platforms can take.
    let mut half_day = edit.clone();
    half_day[0]["days"] = json!(1.5);
    let (status, body) = approve(&app, OLIVIA, &gate, json!({"edited_proposal": half_day})).await;
    assert_refused(status, &body, "campaigns[0].days must be a whole number");
    // Days written as 7.0 are the whole number 7, for the summary and the action.
    let mut sent = edit.clone();
    for c in sent.as_array_mut().unwrap() {
        c["days"] = json!(c["days"].as_i64().unwrap() as f64);
    }
    let (status, body) = approve(&app, OLIVIA, &gate, json!({"edited_proposal": sent})).await;
    assert_eq!(status, 200, "{body}");
    let (_, card) = app.get(OLIVIA, &format!("/api/dashboard/approvals/{gate}")).await;
    assert_eq!(
        serde_json::to_string(&card["approved_edit"]).unwrap(),
        serde_json::to_string(&edit).unwrap()
    );
    assert!(
        card["summary"].as_str().unwrap().contains("/day for"),
        "{}",
        card["summary"]
    );
    let shown = card["proposed_spend_usd"].as_f64().unwrap();
    assert!(
        (shown - committed).abs() < 1e-9,
        "{shown} against {committed}: {card}"
    );
    let left = card["spend_cap_remaining_usd"].as_f64().unwrap();
    assert!(
        (remaining - left - committed).abs() < 1e-6,
        "{remaining} - {left} != {committed}"
    );
}

#[tokio::test]
async fn decisions_in_any_order_complete_the_run_and_comments_reach_the_report() {
    let app = TestApp::spawn().await;
    let (run_id, run) = launch(&app).await;
    // Outreach first, listings last; one with a comment.
    let order = ["outreach_gate", "ad_spend_gate", "publish_gate", "listings_gate"];
    for key in order {
        let body = if key == "publish_gate" {
            json!({"comment": "Lovely light in the photo; ship it."})
        } else {
            json!({})
        };
        let (status, resp) = approve(&app, ALICE, &step_id(&run, key), body).await;
        assert_eq!(status, 200, "{key}: {resp}");
        assert_eq!(resp["status"], "succeeded");
        assert_eq!(resp["decision"]["verdict"], "approved");
        assert_eq!(resp["decision"]["actor"]["member_id"], "alice");
    }
    let run = app.wait_status(ALICE, &run_id, "succeeded").await;
    assert_eq!(step(&run, "synthesis")["status"], "succeeded");
    for action in ["publish_listings", "post", "launch_ads", "send_dms"] {
        assert_eq!(step(&run, action)["status"], "succeeded", "{action}");
    }
    let (status, report) = app.get(ALICE, &format!("/api/runs/{run_id}/report")).await;
    assert_eq!(status, 200, "{report}");
    assert!(
        report["markdown"]
            .as_str()
            .unwrap()
            .contains("Lovely light in the photo; ship it.")
    );
    let comments = report["approver_comments"].as_array().unwrap();
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0]["comment"], "Lovely light in the photo; ship it.");
    // Each action sent exactly once.
    let (_, outbox) = app.get(ALICE, "/api/outbox").await;
    let items = outbox["items"].as_array().unwrap();
    assert_eq!(items.len(), 4, "{outbox}");
    let mut actions: Vec<&str> = items.iter().filter_map(|i| i["action"].as_str()).collect();
    actions.sort();
    assert_eq!(actions, ["launch_ads", "post", "publish_listings", "send_dms"]);
    // The audit log has the four decisions.
    let (_, audit) = app.get(ALICE, "/api/audit").await;
    assert_eq!(audit["entries"].as_array().unwrap().len(), 4);
    // The events end with workflow_run.succeeded.
    let (_, events) = app.get(ALICE, &format!("/api/runs/{run_id}/events")).await;
    let events = events["events"].as_array().unwrap();
    assert_eq!(events.last().unwrap()["type"], "workflow_run.succeeded");
    assert_eq!(events.first().unwrap()["type"], "workflow_run.started");
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_blocking_rejection_fails_the_run_and_cancels_its_other_gates() {
    let app = TestApp::spawn().await;
    let (run_id, run) = launch(&app).await;
    let (status, resp) = reject(&app, ALICE, &step_id(&run, "listings_gate"), "too salesy").await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["status"], "failed");
    assert_eq!(resp["run_status"], "failed");
    assert_eq!(resp["run_error"], "Rejected at Listings: too salesy");
    assert_eq!(resp["decision"]["feedback"], "too salesy");

    let run = app
        .wait_run(ALICE, &run_id, "the execution to end", |r| {
            r["status"] == "failed" && steps_with(r, "pending").is_empty()
        })
        .await;
    assert_eq!(run["error"], "Rejected at Listings: too salesy");
    assert_eq!(
        run["rejections"],
        json!([{"step_label": "Listings", "feedback": "too salesy"}])
    );
    let gate = step(&run, "listings_gate");
    assert_eq!(gate["status"], "failed");
    assert_eq!(gate["output"]["feedback"], "too salesy");
    for key in ["publish_gate", "ad_spend_gate", "outreach_gate"] {
        assert_eq!(step(&run, key)["status"], "cancelled", "{key}");
    }
    assert_ne!(step(&run, "synthesis")["status"], "succeeded");
    assert_eq!(step(&run, "synthesis")["output"], Value::Null);
    // The queue no longer has any of the run's gates; nothing went out.
    assert!(app.pending_of(ALICE, &run_id).await.is_empty());
    let (_, outbox) = app.get(ALICE, "/api/outbox").await;
    assert_eq!(outbox["items"], json!([]));
    // The live stream has the rejection, the cancellations and the failure.
    let (_, events) = app.get(ALICE, &format!("/api/runs/{run_id}/events")).await;
    let types: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert!(types.contains(&"approval.rejected"));
    assert_eq!(
        types.iter().filter(|t| **t == "approval.cancelled").count(),
        3,
        "{types:?}"
    );
    assert_eq!(
        types.iter().filter(|t| **t == "workflow_run.failed").count(),
        1,
        "{types:?}"
    );
    assert!(!types.contains(&"workflow_run.succeeded"));
    // No report for a failed run.
    let (status, body) = app.get(ALICE, &format!("/api/runs/{run_id}/report")).await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "no_report");
    // A cancelled gate can no longer be decided.
    let (status, body) = approve(&app, ALICE, &step_id(&run, "publish_gate"), json!({})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "not_pending");
    // The ended run left nothing behind in the engine: no run in memory, no
    // parked gate waiting on a token.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.local.engine.in_memory() + app.local.engine.waiting_tasks() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the ended run left waiters behind"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_non_blocking_rejection_skips_its_action_and_the_run_goes_on() {
    let app = TestApp::spawn_with(vec!["soft-launch"]).await;
    let run_id = app
        .start(ALICE, "soft-launch", brief("demo-campaign-launch-spring-linen"))
        .await;
    let run = app.wait_gates(ALICE, &run_id, 2).await;
    let (status, resp) = reject(
        &app,
        ALICE,
        &step_id(&run, "outreach_gate"),
        "Not these creators this month.",
    )
    .await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["status"], "failed");
    // The contract's rejection fields: the run goes on, with no error.
    assert_eq!(resp["run_status"], "running", "{resp}");
    assert!(resp.get("run_error").is_some_and(Value::is_null), "{resp}");
    let (status, resp) = approve(&app, ALICE, &step_id(&run, "listings_gate"), json!({})).await;
    assert_eq!(status, 200, "{resp}");
    let run = app.wait_status(ALICE, &run_id, "succeeded").await;
    assert_eq!(step(&run, "send_dms")["status"], "skipped");
    assert_eq!(step(&run, "publish_listings")["status"], "succeeded");
    assert_eq!(
        run["rejections"],
        json!([{"step_label": "Outreach", "feedback": "Not these creators this month."}])
    );
    let (_, report) = app.get(ALICE, &format!("/api/runs/{run_id}/report")).await;
    assert_eq!(
        report["rejections"][0]["feedback"],
        "Not these creators this month."
    );
    assert!(
        report["markdown"]
            .as_str()
            .unwrap()
            .contains("Not these creators this month.")
    );
    let (_, outbox) = app.get(ALICE, "/api/outbox").await;
    let actions: Vec<&str> = outbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["action"].as_str())
        .collect();
    assert_eq!(actions, ["publish_listings"]);
}

#[tokio::test]
async fn a_rejected_run_can_be_rerun_with_notes() {
    let app = TestApp::spawn().await;
    let (run_id, run) = launch(&app).await;
    reject(
        &app,
        ALICE,
        &step_id(&run, "publish_gate"),
        "Drop the exclamation marks.",
    )
    .await;
    app.wait_status(ALICE, &run_id, "failed").await;
    let (status, resp) = app
        .post(
            ALICE,
            "/api/runs",
            json!({"rerun_of": run_id, "notes": "Lead with the stonewashed texture."}),
        )
        .await;
    assert_eq!(status, 201, "{resp}");
    let new_id = resp["run_id"].as_str().unwrap();
    assert_ne!(new_id, run_id);
    let new = app.run(ALICE, new_id).await;
    assert_eq!(new["workflow"], "campaign-launch");
    assert_eq!(new["rerun_of"], run_id.as_str());
    let notes = new["brief"]["notes"].as_str().unwrap();
    assert!(
        notes.contains("Rejected at Publish: Drop the exclamation marks."),
        "{notes}"
    );
    assert!(notes.contains("Lead with the stonewashed texture."), "{notes}");
    let old = brief("demo-campaign-launch-spring-linen");
    assert_eq!(new["brief"]["products"], old["products"]);
    app.wait_gates(ALICE, new_id, 4).await;

    // Notes that already quote the reason (the dashboard prefills it) get it once.
    let (status, resp) = app
        .post(
            ALICE,
            "/api/runs",
            json!({"rerun_of": run_id, "notes": "Rejected at Publish: Drop the exclamation marks. Calmer, please."}),
        )
        .await;
    assert_eq!(status, 201, "{resp}");
    let notes = resp["brief"]["notes"].as_str().unwrap();
    assert_eq!(notes.matches("Drop the exclamation marks.").count(), 1, "{notes}");
    assert!(notes.contains("Calmer, please."), "{notes}");
}

#[tokio::test]
async fn a_second_decision_is_409_with_the_standing_decision() {
    let app = TestApp::spawn().await;
    let (run_id, run) = launch(&app).await;
    let id = step_id(&run, "outreach_gate");
    let (status, _) = approve(&app, ALICE, &id, json!({"comment": "first"})).await;
    assert_eq!(status, 200);
    let (status, body) = reject(&app, OLIVIA, &id, "second").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "already_decided");
    assert_eq!(body["decision"]["verdict"], "approved");
    assert_eq!(body["decision"]["actor"]["member_id"], "alice");
    assert_eq!(body["decision"]["comment"], "first");
    let (status, body) = approve(&app, ALICE, &id, json!({})).await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "already_decided");
    // The run is still running and the first decision stands.
    let run = app.run(ALICE, &run_id).await;
    assert_eq!(run["status"], "running");
    assert_eq!(step(&run, "outreach_gate")["decision"]["comment"], "first");
    let (_, audit) = app.get(ALICE, "/api/audit").await;
    assert_eq!(audit["entries"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn another_workspace_sees_nothing() {
    let app = TestApp::spawn().await;
    let (run_id, run) = launch(&app).await;
    let id = step_id(&run, "listings_gate");
    for path in [
        format!("/api/runs/{run_id}"),
        format!("/api/runs/{run_id}/events"),
        format!("/api/runs/{run_id}/report"),
        format!("/api/dashboard/approvals/{id}"),
    ] {
        let (status, body) = app.get(RITA, &path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["error"]["code"], "not_found");
    }
    let (status, _) = approve(&app, RITA, &id, json!({})).await;
    assert_eq!(status, 404);
    let (status, _) = reject(&app, RITA, &id, "not mine").await;
    assert_eq!(status, 404);
    assert!(app.pending_of(RITA, &run_id).await.is_empty());
    // And nothing changed.
    let run = app.run(ALICE, &run_id).await;
    assert_eq!(waiting(&run).len(), 4);
}

#[tokio::test]
async fn bad_requests_are_4xx_in_the_contract_shape_and_change_nothing() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .post(
            ALICE,
            "/api/runs",
            json!({"workflow": "no-such-workflow", "brief": {"title": "x"}}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");

    brief_refused_naming(&app, "campaign_days", json!(0), "campaign_days").await;

    brief_refused_naming(&app, "products", json!(["ckc-not-ours"]), "products").await;

    let (run_id, run) = launch(&app).await;
    let id = step_id(&run, "listings_gate");
    for feedback in [json!(""), json!("   "), Value::Null] {
        let (status, body) = app
            .decide(ALICE, &id, "reject", json!({"feedback": feedback}))
            .await;
        assert_refused(status, &body, "feedback");
    }
    let long = "x".repeat(4001);
    let (status, body) = approve(&app, ALICE, &id, json!({"comment": long})).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = approve(&app, ALICE, &id, json!({"comment": 5})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_request");
    let resp = reqwest::Client::new()
        .post(app.url(&format!("/api/dashboard/approvals/{id}/approve")))
        .bearer_auth(ALICE)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_request");
    // A digest cut short is no digest: a 400 naming it (another card's is 409 stale_proposal).
    let (status, body) = approve(&app, ALICE, &id, json!({"proposal_digest": "sha256:0000"})).await;
    assert_eq!(status, 400, "{body}");
    assert_names_field(&body, "proposal_digest");
    let other = format!("sha256:{}", "0".repeat(64));
    let (status, body) = approve(&app, ALICE, &id, json!({"proposal_digest": other})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "stale_proposal");
    // Unauthenticated and unknown tokens.
    let (status, body) = app
        .request(reqwest::Method::GET, "/api/dashboard/approvals", None, None)
        .await;
    assert_eq!(status, 401, "{body}");
    let (status, _) = app.get("not-a-token", "/api/dashboard/approvals").await;
    assert_eq!(status, 401);
    // Path traversal and garbage ids are 404s.
    for bad in [
        "..%2F..%2Fetc%2Fpasswd",
        "run_x.%27%3B%20DROP%20TABLE%20runs",
        "x",
    ] {
        let (status, body) = app.get(ALICE, &format!("/api/dashboard/approvals/{bad}")).await;
        assert_eq!(status, 404, "{bad}: {body}");
    }
    // A JSON array is not a body, even one whose items fit the fields by position.
    for body in [json!([]), json!(["positional comment"])] {
        let resp = reqwest::Client::new()
            .post(app.url(&format!("/api/dashboard/approvals/{id}/approve")))
            .bearer_auth(ALICE)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
    }
    // Feedback of invisible characters only is blank.
    let (status, body) = reject(&app, ALICE, &id, "\u{200b}\u{200b}").await;
    assert_eq!(status, 400, "{body}");
    // Sequence numbers past any run's are an empty page, not a wrap-around.
    for after in ["9223372036854775808", "18446744073709551614"] {
        let (status, body) = app
            .get(ALICE, &format!("/api/runs/{run_id}/events?after={after}"))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["events"], json!([]));
    }
    // A bad byte in an asset name is a JSON 404, like any missing asset; sidecar files are not assets.
    for name in ["%FF", "post.svg.content-type"] {
        let (status, body) = app.get(ALICE, &format!("/api/runs/{run_id}/assets/{name}")).await;
        assert_eq!(status, 404, "{name}: {body}");
    }
    // The auth scheme is case-insensitive.
    let resp = reqwest::Client::new()
        .get(app.url("/api/me"))
        .header("authorization", format!("BEARER {ALICE}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // A budget under a cent a day is refused up front, naming the field.
    brief_refused_naming(&app, "budget_usd_per_day", json!(0.001), "budget_usd_per_day").await;
    // Nothing changed: still four waiting, no decisions.
    let run = app.run(ALICE, &run_id).await;
    assert_eq!(waiting(&run).len(), 4);
    let (_, audit) = app.get(ALICE, "/api/audit").await;
    assert_eq!(audit["entries"], json!([]));
}

#[tokio::test]
async fn a_gate_policy_needs_its_role() {
    let app = TestApp::spawn().await;
    // The holiday brief's ad total is over $1,000: the Ad Spend gate needs ops-lead.
    let run_id = app
        .start(
            ALICE,
            "campaign-launch",
            brief("demo-campaign-launch-holiday-table"),
        )
        .await;
    let run = app.wait_gates(ALICE, &run_id, 4).await;
    let id = step_id(&run, "ad_spend_gate");
    let (_, card) = app.get(ALICE, &format!("/api/dashboard/approvals/{id}")).await;
    assert_eq!(card["required_role"], "ops-lead");
    assert!(card["proposed_spend_usd"].as_f64().unwrap() > 1000.0);
    let (status, body) = approve(&app, ALICE, &id, json!({})).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    assert!(body["error"]["message"].as_str().unwrap().contains("ops-lead"));
    let (status, body) = approve(
        &app,
        OLIVIA,
        &id,
        json!({"proposal_digest": card["proposal_digest"]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["decision"]["actor"]["name"], "Olivia Chen");
    // Under the threshold, the same gate needs no role.
    let run_id = app
        .start(
            ALICE,
            "campaign-launch",
            brief("demo-campaign-launch-spring-linen"),
        )
        .await;
    let run = app.wait_gates(ALICE, &run_id, 4).await;
    let (status, body) = approve(&app, ALICE, &step_id(&run, "ad_spend_gate"), json!({})).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn gate_less_recipes_run_to_their_report() {
    let app = TestApp::spawn().await;
    let audit = app
        .start(ALICE, "profile-audit", brief("demo-profile-audit-shop"))
        .await;
    let run = app.wait_status(ALICE, &audit, "succeeded").await;
    assert_eq!(step(&run, "profile_auditor")["status"], "succeeded");
    let (status, report) = app.get(ALICE, &format!("/api/runs/{audit}/report")).await;
    assert_eq!(status, 200, "{report}");
    assert!(!report["markdown"].as_str().unwrap().is_empty());

    let lp = app
        .start(ALICE, "post-launch-loop", brief("demo-post-launch-loop-spring"))
        .await;
    let run = app.wait_status(ALICE, &lp, "succeeded").await;
    assert_eq!(step(&run, "next_move_recommender")["status"], "succeeded");
    let (_, outbox) = app.get(ALICE, "/api/outbox").await;
    assert_eq!(outbox["items"], json!([]), "these recipes act on nothing");
    let (_, listed) = app.get(ALICE, "/api/runs?status=succeeded").await;
    assert_eq!(listed["runs"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn lists_paginate_newest_first_with_opaque_cursors() {
    let app = TestApp::spawn().await;
    for _ in 0..3 {
        app.start(ALICE, "profile-audit", brief("demo-profile-audit-shop"))
            .await;
    }
    let (_, first) = app.get(ALICE, "/api/runs?limit=2").await;
    assert_eq!(first["runs"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().expect("a next page").to_string();
    let (_, second) = app
        .get(ALICE, &format!("/api/runs?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(second["runs"].as_array().unwrap().len(), 1);
    assert_eq!(second["next_cursor"], Value::Null);
    let a = first["runs"][1]["created_at"].as_str().unwrap();
    let b = second["runs"][0]["created_at"].as_str().unwrap();
    assert!(a >= b);
    // Another workspace's cursor, or a forged one, is a 400.
    let (status, body) = app.get(RITA, &format!("/api/runs?limit=2&cursor={cursor}")).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = app.get(ALICE, "/api/runs?cursor=Zm9yZ2Vk").await;
    assert_eq!(status, 400);
    let (status, _) = app.get(ALICE, "/api/runs?limit=0").await;
    assert_eq!(status, 400);
    let (status, _) = app.get(ALICE, "/api/runs?limit=201").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn concurrent_decisions_on_one_gate_have_exactly_one_winner() {
    let app = TestApp::spawn().await;
    let (run_id, run) = launch(&app).await;
    let id = step_id(&run, "listings_gate");
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (verb, body) = if i % 2 == 0 {
            ("approve", json!({"comment": format!("yes {i}")}))
        } else {
            ("reject", json!({"feedback": format!("no {i}")}))
        };
        let url = app.url(&format!("/api/dashboard/approvals/{id}/{verb}"));
        let token = if i % 3 == 0 { OLIVIA } else { ALICE };
        tasks.push(tokio::spawn(async move {
            let resp = reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    let winners: Vec<&Value> = results
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for (status, body) in &results {
        if *status != 200 {
            // Everyone else lost the race and sees the standing decision.
            assert_eq!(*status, 409, "{body}");
            assert_eq!(body["error"]["code"], "already_decided");
            assert_eq!(body["decision"]["verdict"], winners[0]["decision"]["verdict"]);
            assert_eq!(body["decision"]["at"], winners[0]["decision"]["at"]);
        }
    }
    let (_, audit) = app.get(ALICE, "/api/audit").await;
    assert_eq!(audit["entries"].as_array().unwrap().len(), 1);
    let run = app.run(ALICE, &run_id).await;
    assert!(step(&run, "listings_gate")["decision"].is_object());
}

#[tokio::test]
async fn the_spend_cap_admits_only_what_fits_even_when_approvals_race() {
    let app = TestApp::spawn().await;
    // Each proposal commits $3,000: either fits the $5,000 cap alone, not both.
    let mut b = brief("demo-campaign-launch-holiday-table");
    b["budget_usd_per_day"] = json!(300);
    b["campaign_days"] = json!(10);
    let first = app.start(OLIVIA, "campaign-launch", b.clone()).await;
    let second = app.start(OLIVIA, "campaign-launch", b).await;
    let r1 = app.wait_gates(OLIVIA, &first, 4).await;
    let r2 = app.wait_gates(OLIVIA, &second, 4).await;
    let (_, card) = app
        .get(
            OLIVIA,
            &format!("/api/dashboard/approvals/{}", step_id(&r1, "ad_spend_gate")),
        )
        .await;
    assert_eq!(card["proposed_spend_usd"], 3000.0);
    assert_eq!(card["spend_cap_remaining_usd"], 5000.0);

    let urls: Vec<String> = [&r1, &r2]
        .iter()
        .map(|r| {
            app.url(&format!(
                "/api/dashboard/approvals/{}/approve",
                step_id(r, "ad_spend_gate")
            ))
        })
        .collect();
    let tasks: Vec<_> = urls
        .into_iter()
        .map(|url| {
            tokio::spawn(async move {
                let resp = reqwest::Client::new()
                    .post(url)
                    .bearer_auth(OLIVIA)
                    .json(&json!({}))
                    .send()
                    .await
                    .unwrap();
                (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    let ok = results.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(ok, 1, "{results:?}");
    let (_, refused) = results.iter().find(|(s, _)| *s == 409).expect("one refused");
    assert_eq!(refused["error"]["code"], "spend_cap_exceeded");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("$2,000.00"),
        "{refused}"
    );
    // The refused gate is still waiting, and its card shows what is left.
    let loser = if results[0].0 == 409 { &r1 } else { &r2 };
    let (_, card) = app
        .get(
            OLIVIA,
            &format!("/api/dashboard/approvals/{}", step_id(loser, "ad_spend_gate")),
        )
        .await;
    assert_eq!(card["status"], "waiting_for_approval");
    assert_eq!(card["spend_cap_remaining_usd"], 2000.0);
    let (_, audit) = app.get(OLIVIA, "/api/audit").await;
    assert_eq!(audit["entries"].as_array().unwrap().len(), 1);
}

/// The offline agents answer at once, so each agent step is written once;
/// its events still say it started, then succeeded, and its times agree.
#[tokio::test]
async fn every_agent_step_reports_its_start_before_its_end() {
    let app = TestApp::spawn().await;
    let (run_id, run) = app.launch(OLIVIA, "demo-campaign-launch-spring-linen").await;
    let (_, events) = app.get(OLIVIA, &format!("/api/runs/{run_id}/events")).await;
    let events = events["events"].as_array().expect("events");
    for key in [
        "listing_optimizer",
        "content_producer",
        "compliance",
        "ad_campaign_director",
        "creator_outreach",
    ] {
        // The step's one event of a type: its number and its time.
        let event = |ty: &str| {
            let found: Vec<(u64, &str)> = events
                .iter()
                .filter(|e| e["type"] == ty && e["data"]["step_key"] == key)
                .map(|e| (e["seq"].as_u64().unwrap(), e["at"].as_str().unwrap()))
                .collect();
            assert_eq!(found.len(), 1, "{key}: one {ty} in {events:?}");
            found[0]
        };
        let (started_seq, started_event_at) = event("step.started");
        let (succeeded_seq, succeeded_event_at) = event("step.succeeded");
        assert!(started_seq < succeeded_seq, "{key}");
        let s = step(&run, key);
        assert_eq!(s["status"], "succeeded");
        let (started, finished) = (
            s["started_at"].as_str().unwrap(),
            s["finished_at"].as_str().unwrap(),
        );
        assert!(started <= finished, "{key}: {started} > {finished}");
        // Each event at the time it says: the start at the step's start.
        assert_eq!(started_event_at, started, "{key}");
        assert_eq!(succeeded_event_at, finished, "{key}");
    }
}

/// The server keeps brand data parsed between steps; a change written by
/// another process (as `greenlight admin workspace create` does) is seen at
/// the next read all the same.
#[tokio::test]
async fn a_workspace_changed_by_another_process_is_seen_at_once() {
    use greenlight_core::ports::Store;
    let app = TestApp::spawn().await;
    let (_, run) = app.launch(OLIVIA, "demo-campaign-launch-holiday-table").await;
    let card_path = format!("/api/dashboard/approvals/{}", step_id(&run, "ad_spend_gate"));
    let (_, card) = app.get(OLIVIA, &card_path).await;
    assert_eq!(card["spend_cap_remaining_usd"], 5000.0);

    let other = greenlight_store_sqlite::SqliteStore::open(&app.dir.path().join("greenlight.sqlite3"))
        .expect("a second process's store");
    let id = greenlight_core::WorkspaceId::parse("demo").unwrap();
    let mut ws = other.get_workspace(&id).await.unwrap().expect("the workspace");
    ws.spend_cap = greenlight_core::Money::from_cents(7_000 * 100);
    other.put_workspace(&ws).await.unwrap();
    let (_, card) = app.get(OLIVIA, &card_path).await;
    assert_eq!(card["spend_cap_remaining_usd"], 7000.0);
}

#[tokio::test]
async fn a_post_launch_loop_triages_the_post_its_launch_sent() {
    let app = TestApp::spawn().await;
    let (launch, run) = launch(&app).await;
    for key in GATES {
        let (status, body) = approve(&app, ALICE, &step_id(&run, key), json!({})).await;
        assert_eq!(status, 200, "{body}");
    }
    app.wait_status(ALICE, &launch, "succeeded").await;
    let (status, body) = app
        .post(ALICE, "/api/runs", json!({"workflow": "post-launch-loop", "brief": {"title": "Spring follow-up", "launch_run_id": launch}}))
        .await;
    assert_eq!(status, 201, "{body}");
    let lp = body["run_id"].as_str().unwrap().to_string();
    let run = app.wait_status(ALICE, &lp, "succeeded").await;
    let triage = &step(&run, "comment_triage")["output"];
    assert_eq!(triage["post_id"], format!("post-{launch}"), "{triage}");
    // The recommendations name the launched product, not a placeholder.
    let moves = step(&run, "next_move_recommender")["output"].to_string();
    assert!(!moves.contains("featured product"), "{moves}");
    assert!(moves.contains("Stonewashed Linen"), "{moves}");
    // A run that is not a succeeded Campaign Launch of the workspace is refused.
    let (status, body) = app
        .post(
            ALICE,
            "/api/runs",
            json!({"workflow": "post-launch-loop", "brief": {"title": "x", "launch_run_id": lp}}),
        )
        .await;
    assert_refused(status, &body, "launch_run_id");
}
