//! Decisions under contention, `Idempotency-Key` replay and the proposal
//! digest (API.md), over HTTP against the local server.

use futures::future::join_all;
use greenlight_core::ids::MemberId;
use greenlight_core::model::Member;
use greenlight_core::service::token_hash;
use greenlight_tests::{ALICE, OLIVIA, TestApp, assert_names_field, assert_refused, brief, step, step_id};
use serde_json::{Value, json};
use std::time::Duration;

/// Adds `n` members to the demo workspace; returns their tokens.
async fn members(app: &TestApp, n: usize) -> Vec<String> {
    let store = app.local.app.store();
    let ws = greenlight_core::ids::WorkspaceId::parse("demo").unwrap();
    let mut tokens = Vec::new();
    for i in 0..n {
        let member = Member {
            workspace_id: ws.clone(),
            id: MemberId::parse(format!("m{i}")).unwrap(),
            name: format!("Member {i}"),
            roles: vec!["member".into()],
        };
        store.put_member(&member).await.unwrap();
        let token = format!("test-token-{i}-{}", "x".repeat(16));
        store
            .put_token(&token_hash(&token), &member, false)
            .await
            .unwrap();
        tokens.push(token);
    }
    tokens
}

async fn post_with(
    app: &TestApp,
    token: &str,
    path: &str,
    body: Value,
    key: Option<&str>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut req = reqwest::Client::new()
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body);
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        headers,
    )
}

/// Starts a run with `body` sent as it is under `key`: the answer must be
/// a replay of an earlier 201, whose body it returns.
async fn replayed_start(app: &TestApp, key: &str, body: impl Into<reqwest::Body>) -> Value {
    let resp = reqwest::Client::new()
        .post(app.url("/api/runs"))
        .bearer_auth(ALICE)
        .header("Idempotency-Key", key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    assert_eq!(resp.headers()["idempotency-replayed"], "true");
    resp.json().await.unwrap()
}

fn events_of<'a>(events: &'a [Value], step_id: &str, kind: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["type"] == kind && e["data"]["step_id"] == step_id)
        .collect()
}

async fn all_events(app: &TestApp, run_id: &str) -> Vec<Value> {
    let (status, body) = app.get(ALICE, &format!("/api/runs/{run_id}/events")).await;
    assert_eq!(status, 200);
    body["events"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_decisions_on_one_step_have_one_winner() {
    let app = TestApp::spawn().await;
    let mut tokens = members(&app, 48).await;
    tokens.push(ALICE.into());
    tokens.push(OLIVIA.into());
    let (run_id, run) = app.launch(ALICE, "demo-campaign-launch-spring-linen").await;
    let gate = step_id(&run, "listings_gate");
    let path_of = |verdict: &str| format!("/api/dashboard/approvals/{gate}/{verdict}");

    let requests = tokens.iter().enumerate().map(|(i, token)| {
        let (path, body) = if i % 2 == 0 {
            (path_of("approve"), json!({"comment": format!("approve {i}")}))
        } else {
            (path_of("reject"), json!({"feedback": format!("reject {i}")}))
        };
        let app = &app;
        async move { post_with(app, token, &path, body, None).await }
    });
    let answers = join_all(requests).await;
    assert_eq!(answers.len(), 50);
    let winners: Vec<&Value> = answers
        .iter()
        .filter(|(s, _, _)| *s == 200)
        .map(|(_, b, _)| b)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one decision wins: {answers:?}");
    let winner = winners[0];
    for (status, body, _) in answers.iter().filter(|(s, _, _)| *s != 200) {
        assert_eq!(*status, 409, "{body}");
        assert_eq!(body["error"]["code"], "already_decided", "{body}");
        assert_eq!(
            body["decision"], winner["decision"],
            "everyone else sees the standing decision"
        );
    }

    // The run moved on exactly once, whichever verdict won.
    let approved = winner["decision"]["verdict"] == "approved";
    let run = if approved {
        app.wait_run(ALICE, &run_id, "the listings action ran", |r| {
            step(r, "publish_listings")["status"] == "succeeded"
        })
        .await
    } else {
        app.wait_status(ALICE, &run_id, "failed").await
    };
    let events = all_events(&app, &run_id).await;
    let decided = events_of(&events, &gate, "approval.approved").len()
        + events_of(&events, &gate, "approval.rejected").len();
    assert_eq!(decided, 1, "one decision event");
    let entries = app.audit_of(ALICE, &gate).await;
    assert_eq!(entries.len(), 1, "one audit entry: {entries:?}");
    if approved {
        let action = step_id(&run, "publish_listings");
        assert_eq!(
            events_of(&events, &action, "step.started").len(),
            1,
            "resumed once"
        );
        // Let any duplicate resume have its chance to show.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (_, outbox) = app.get(ALICE, "/api/outbox?limit=200").await;
        let sent = outbox["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["run_id"] == run_id.as_str() && i["step_key"] == "publish_listings")
            .count();
        assert_eq!(sent, 1, "the action's effect applied once: {outbox}");
    } else {
        assert!(
            run["error"]
                .as_str()
                .unwrap()
                .starts_with("Rejected at Listings: reject ")
        );
        let events = all_events(&app, &run_id).await;
        assert_eq!(
            events
                .iter()
                .filter(|e| e["type"] == "workflow_run.failed")
                .count(),
            1
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_replays_the_first_response() {
    let app = TestApp::spawn().await;
    let start = json!({"workflow": "campaign-launch", "brief": brief("demo-campaign-launch-spring-linen")});

    // Starting a run: concurrent repeats and a later one all answer the same run.
    let repeats =
        join_all((0..5).map(|_| post_with(&app, ALICE, "/api/runs", start.clone(), Some("launch-1")))).await;
    let ids: Vec<&str> = repeats
        .iter()
        .map(|(s, b, _)| {
            assert_eq!(*s, 201, "{b}");
            b["run_id"].as_str().unwrap()
        })
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let (status, again, headers) = post_with(&app, ALICE, "/api/runs", start.clone(), Some("launch-1")).await;
    assert_eq!(status, 201);
    assert_eq!(again["run_id"], ids[0]);
    assert_eq!(headers["idempotency-replayed"], "true");
    assert_eq!(
        headers["location"].to_str().unwrap(),
        format!("/api/runs/{}", ids[0])
    );
    // The same JSON with its keys in another order and other spacing is
    // the same request.
    let reordered = format!(
        "{{ \"brief\" : {},\n  \"workflow\":\"campaign-launch\" }}",
        start["brief"]
    );
    let body = replayed_start(&app, "launch-1", reordered).await;
    assert_eq!(body["run_id"], ids[0]);
    let (_, runs) = app.get(ALICE, "/api/runs").await;
    assert_eq!(
        runs["runs"].as_array().unwrap().len(),
        1,
        "one run started: {runs}"
    );
    // The same key for another member is another key.
    let (status, olivias, _) = post_with(&app, OLIVIA, "/api/runs", start.clone(), Some("launch-1")).await;
    assert_eq!(status, 201);
    assert_ne!(olivias["run_id"], ids[0]);
    // The same key on a different request is refused, and starts nothing.
    let other = json!({"workflow": "profile-audit", "brief": {"title": "Shop audit"}});
    let (status, body, _) = post_with(&app, ALICE, "/api/runs", other, Some("launch-1")).await;
    assert_refused(status, &body, "Idempotency-Key");
    for bad in ["", "has space", &"k".repeat(256)] {
        let (status, body, _) = post_with(&app, ALICE, "/api/runs", start.clone(), Some(bad)).await;
        assert_eq!(status, 400, "{bad:?}: {body}");
    }

    // A decision: the repeat answers 200 with the first decision, and nothing is decided twice.
    let run_id = ids[0].to_string();
    let run = app.wait_gates(ALICE, &run_id, 4).await;
    let gate = step_id(&run, "publish_gate");
    let path = format!("/api/dashboard/approvals/{gate}/approve");
    let body = json!({"comment": "Lovely"});
    let (s1, first, _) = post_with(&app, ALICE, &path, body.clone(), Some("decide-1")).await;
    let (s2, second, headers) = post_with(&app, ALICE, &path, body.clone(), Some("decide-1")).await;
    assert_eq!((s1, s2), (200, 200), "{first} {second}");
    assert_eq!(first, second);
    assert_eq!(headers["idempotency-replayed"], "true");
    // Without the key, the repeat is a second decision: refused.
    let (s3, third, _) = post_with(&app, ALICE, &path, body, None).await;
    assert_eq!(s3, 409, "{third}");
    assert_eq!(app.audit_of(ALICE, &gate).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_digest_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (_, run) = app.launch(ALICE, "demo-campaign-launch-spring-linen").await;
    let gate = step_id(&run, "ad_spend_gate");
    let (_, card) = app.get(ALICE, &format!("/api/dashboard/approvals/{gate}")).await;
    let digest = card["proposal_digest"].as_str().unwrap().to_string();
    assert!(digest.starts_with("sha256:"));
    let wrong = format!("sha256:{}", "0".repeat(64));
    for verdict in ["approve", "reject"] {
        let feedback = if verdict == "reject" {
            json!("no")
        } else {
            Value::Null
        };
        let (status, body) = app
            .decide(
                ALICE,
                &gate,
                verdict,
                json!({"proposal_digest": wrong, "feedback": feedback}),
            )
            .await;
        // Approve takes no feedback: send the field only where it belongs.
        if verdict == "approve" {
            assert_eq!(status, 400, "{body}");
            continue;
        }
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["error"]["code"], "stale_proposal");
    }
    let (status, body) = app
        .decide(ALICE, &gate, "approve", json!({"proposal_digest": wrong}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "stale_proposal");
    // Something that is not a digest at all is a 400 naming the field.
    for garbage in ["garbage", "sha256:XYZ", &format!("sha256:{}", "A".repeat(64))] {
        let (status, body) = app
            .decide(ALICE, &gate, "approve", json!({"proposal_digest": garbage}))
            .await;
        assert_eq!(status, 400, "{garbage}: {body}");
        assert_names_field(&body, "proposal_digest");
    }
    let (_, card) = app.get(ALICE, &format!("/api/dashboard/approvals/{gate}")).await;
    assert_eq!(card["status"], "waiting_for_approval");
    let (_, month) = app.get(ALICE, &format!("/api/dashboard/approvals/{gate}")).await;
    assert_eq!(month["spend_cap_remaining_usd"], card["spend_cap_remaining_usd"]);
    // The digest shown approves.
    let (status, body) = app
        .decide(ALICE, &gate, "approve", json!({"proposal_digest": digest}))
        .await;
    assert_eq!(status, 200, "{body}");
}

/// A response kept by an earlier version, which fingerprinted a request by
/// its bytes, still replays to the same request after an upgrade.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_kept_by_an_earlier_version_still_replays() {
    use greenlight_core::ports::KeptResponse;
    use greenlight_core::time::Timestamp;
    use sha2::{Digest, Sha256};
    let app = TestApp::spawn().await;
    let body = serde_json::to_vec(
        &json!({"workflow": "campaign-launch", "brief": brief("demo-campaign-launch-spring-linen")}),
    )
    .unwrap();
    let mut hasher = Sha256::new();
    hasher.update(b"POST /api/runs\n");
    hasher.update(&body);
    let now = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
    let later = Timestamp::parse("2999-01-01T00:00:00Z").unwrap();
    let kept = KeptResponse {
        workspace_id: greenlight_core::ids::WorkspaceId::parse("demo").unwrap(),
        member_id: MemberId::parse("alice").unwrap(),
        key: "before-the-upgrade".into(),
        fingerprint: hex::encode(hasher.finalize()),
        status: 201,
        body: r#"{"run_id":"run_kept_earlier","status":"running"}"#.into(),
        location: Some("/api/runs/run_kept_earlier".into()),
        created_at: now,
        expires_at: later,
    };
    app.local.app.store().keep_response(&kept, now).await.unwrap();
    let replayed = replayed_start(&app, "before-the-upgrade", body).await;
    assert_eq!(replayed["run_id"], "run_kept_earlier");
    let (_, runs) = app.get(ALICE, "/api/runs").await;
    assert_eq!(
        runs["runs"].as_array().unwrap().len(),
        0,
        "nothing started: {runs}"
    );
}
