//! Crash faults: the real `greenlight dev` (a debug build) stopped at each
//! armed fault point and killed with SIGKILL, then restarted. Afterwards no
//! decision is lost, no gate resumes its run twice, no action's effect is
//! applied twice, and no run is stuck: it completes.

mod common;

use common::{Server, wait_for};
use greenlight_core::service::faults;
use greenlight_tests::*;
use serde_json::{Value, json};

fn get(url: &str, path: &str) -> Value {
    common::get(url, OLIVIA, path)
}

fn post(url: &str, path: &str, body: Value) -> (u16, Value) {
    common::post(url, OLIVIA, path, body)
}

fn post_in_background(url: &str, path: &str, body: Value) {
    common::post_in_background(url, OLIVIA, path, body)
}

const GATES: [&str; 4] = ["listings_gate", "publish_gate", "ad_spend_gate", "outreach_gate"];

fn run_of(url: &str, run_id: &str) -> Value {
    get(url, &format!("/api/runs/{run_id}"))
}

fn start_body() -> Value {
    json!({"workflow": "campaign-launch", "brief": brief("demo-campaign-launch-spring-linen")})
}

fn approve(url: &str, run: &Value, key: &str) {
    let (status, body) = post(
        url,
        &format!("/api/dashboard/approvals/{}/approve", step_id(run, key)),
        json!({}),
    );
    assert_eq!(status, 200, "{key}: {body}");
}

/// After the restart: approves whatever still waits, then checks the run
/// completed with every decision once and every action's effect once.
fn finish_and_check(url: &str, run_id: &str) {
    let run = wait_for("every gate waiting or decided", || {
        let r = run_of(url, run_id);
        GATES
            .iter()
            .all(|g| {
                matches!(
                    step(&r, g)["status"].as_str(),
                    Some("waiting_for_approval" | "succeeded")
                )
            })
            .then_some(r)
    });
    for key in waiting(&run) {
        approve(url, &run, &key);
    }
    let run = wait_for("the run to succeed", || {
        let r = run_of(url, run_id);
        (r["status"] == "succeeded").then_some(r)
    });
    assert_eq!(step(&run, "synthesis")["status"], "succeeded");
    for gate in GATES {
        assert_eq!(
            step(&run, gate)["decision"]["verdict"],
            "approved",
            "{gate}: {run:#}"
        );
    }
    let items = get(url, "/api/outbox?limit=200");
    let mut actions: Vec<&str> = items["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["run_id"] == run_id)
        .filter_map(|i| i["action"].as_str())
        .collect();
    actions.sort();
    assert_eq!(
        actions,
        ["launch_ads", "post", "publish_listings", "send_dms"],
        "each effect once"
    );
    let audit = get(url, "/api/audit?limit=200");
    for gate in GATES {
        let id = step_id(&run, gate);
        let n = audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["step_id"] == id.as_str())
            .count();
        assert_eq!(n, 1, "{gate}: one decision in the audit log");
    }
    let events = get(url, &format!("/api/runs/{run_id}/events"));
    let events = events["events"].as_array().unwrap();
    for kind in ["approval.approved", "step.succeeded", "workflow_run.succeeded"] {
        let mut keys: Vec<&str> = events
            .iter()
            .filter(|e| e["type"] == kind)
            .map(|e| e["data"]["step_key"].as_str().unwrap_or("run"))
            .collect();
        let n = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), n, "{kind} twice for one step: {events:#?}");
    }
}

fn start_run_and_wait_gates(url: &str) -> (String, Value) {
    let (status, started) = post(url, "/api/runs", start_body());
    assert_eq!(status, 201, "{started}");
    let run_id = started["run_id"].as_str().unwrap().to_string();
    let run = wait_for("four gates", || {
        let r = run_of(url, &run_id);
        (waiting(&r).len() == 4).then_some(r)
    });
    (run_id, run)
}

#[test]
fn a_crash_after_a_decision_commits_loses_nothing() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), Some(faults::DECISION_AFTER_COMMIT));
    let (run_id, run) = start_run_and_wait_gates(&server.url);
    let gate = step_id(&run, "listings_gate");
    post_in_background(
        &server.url,
        &format!("/api/dashboard/approvals/{gate}/approve"),
        json!({"comment": "yes"}),
    );
    server.kill_at(faults::DECISION_AFTER_COMMIT);

    let server = Server::start(data.path(), None);
    let run = run_of(&server.url, &run_id);
    assert_eq!(
        step(&run, "listings_gate")["decision"]["comment"],
        "yes",
        "the decision survived"
    );
    wait_for("the committed decision to resume the run", || {
        let r = run_of(&server.url, &run_id);
        (step(&r, "publish_listings")["status"] == "succeeded").then_some(r)
    });
    finish_and_check(&server.url, &run_id);
}

#[test]
fn a_crash_in_the_middle_of_an_agent_step_reruns_only_that_step() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), Some(faults::AGENT_BEFORE_OUTPUT));
    post_in_background(&server.url, "/api/runs", start_body());
    server.kill_at(faults::AGENT_BEFORE_OUTPUT);

    let server = Server::start(data.path(), None);
    let runs = get(&server.url, "/api/runs");
    let runs = runs["runs"].as_array().unwrap();
    assert_eq!(
        runs.len(),
        1,
        "the run was recorded before its first step: {runs:?}"
    );
    let run_id = runs[0]["run_id"].as_str().unwrap().to_string();
    finish_and_check(&server.url, &run_id);
}

fn crash_in_an_action(point: &str) {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), Some(point));
    let (run_id, run) = start_run_and_wait_gates(&server.url);
    approve(&server.url, &run, "listings_gate");
    server.kill_at(point);

    let server = Server::start(data.path(), None);
    wait_for("the action to finish after the restart", || {
        let r = run_of(&server.url, &run_id);
        (step(&r, "publish_listings")["status"] == "succeeded").then_some(r)
    });
    finish_and_check(&server.url, &run_id);
}

#[test]
fn a_crash_before_an_actions_effect_sends_it_once_after_restart() {
    crash_in_an_action(faults::ACTION_BEFORE_EFFECT);
}

#[test]
fn a_crash_after_an_actions_effect_does_not_send_it_again() {
    crash_in_an_action(faults::ACTION_AFTER_EFFECT);
}
