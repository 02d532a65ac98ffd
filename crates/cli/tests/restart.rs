//! Durability: the real `greenlight dev` process killed with SIGKILL while
//! gates wait comes back with the run still waiting, and approvals after the
//! restart complete it.

mod common;

use common::{Server, wait_for};
use greenlight_tests::*;
use serde_json::{Value, json};
use std::path::Path;

fn get(url: &str, path: &str) -> Value {
    common::get(url, ALICE, path)
}

fn post(url: &str, path: &str, body: Value) -> (u16, Value) {
    common::post(url, ALICE, path, body)
}

fn start_server(data: &Path) -> Server {
    Server::start(data, None)
}

#[test]
fn a_run_waiting_at_its_gates_survives_sigkill_and_completes_after_restart() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path());
    let (run_id, run) = common::launch(&server.url);
    // Decide one before the crash; the rest after.
    let (status, body) = post(
        &server.url,
        &format!(
            "/api/dashboard/approvals/{}/approve",
            step_id(&run, "outreach_gate")
        ),
        json!({}),
    );
    assert_eq!(status, 200, "{body}");
    wait_for("send_dms to run", || {
        let r = get(&server.url, &format!("/api/runs/{run_id}"));
        (step(&r, "send_dms")["status"] == "succeeded").then_some(r)
    });

    // SIGKILL: no shutdown code runs.
    server.kill();

    let server = start_server(data.path());
    let run = get(&server.url, &format!("/api/runs/{run_id}"));
    assert_eq!(run["status"], "running", "{run:#}");
    let mut w = waiting(&run);
    w.sort();
    assert_eq!(w, ["ad_spend_gate", "listings_gate", "publish_gate"]);
    let queue = get(&server.url, "/api/dashboard/approvals");
    assert_eq!(queue["approvals"].as_array().unwrap().len(), 3, "{queue:#}");

    for key in ["listings_gate", "publish_gate", "ad_spend_gate"] {
        let (status, body) = post(
            &server.url,
            &format!("/api/dashboard/approvals/{}/approve", step_id(&run, key)),
            json!({}),
        );
        assert_eq!(status, 200, "{key}: {body}");
    }
    let run = wait_for("the run to succeed", || {
        let r = get(&server.url, &format!("/api/runs/{run_id}"));
        (r["status"] == "succeeded").then_some(r)
    });
    assert_eq!(step(&run, "synthesis")["status"], "succeeded");
    // Every action's effect exactly once, the one before the crash included.
    let outbox = get(&server.url, "/api/outbox");
    let mut actions: Vec<&str> = outbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["action"].as_str())
        .collect();
    actions.sort();
    assert_eq!(actions, ["launch_ads", "post", "publish_listings", "send_dms"]);
    // Each step started once in the live stream: nothing ran twice.
    let events = get(&server.url, &format!("/api/runs/{run_id}/events"));
    let succeeded: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "step.succeeded")
        .filter_map(|e| e["data"]["step_key"].as_str())
        .collect();
    let mut unique = succeeded.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        succeeded.len(),
        "a step succeeded twice: {succeeded:?}"
    );
}

/// A second process on the same data directory would run a second engine
/// over the same journal: it refuses to start, naming the one that has it,
/// and changes nothing; once that one is killed, the directory is free.
#[test]
fn a_second_process_on_the_same_data_directory_refuses_to_start() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path());
    let (run_id, _) = common::launch(&server.url);

    let mut second = std::process::Command::new(env!("CARGO_BIN_EXE_greenlight"))
        .env_remove("ANTHROPIC_API_KEY")
        .args(["dev", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .arg("--samples")
        .arg(samples())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the second greenlight dev runs");
    // It must stop by itself; one that keeps serving is killed and fails the test.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            second.kill().unwrap();
            second.wait().unwrap();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(
        status.is_some_and(|s| !s.success()),
        "the second process started ({status:?}): {stderr}"
    );
    let expected = format!(
        "the data directory {} is in use by another Greenlight (process {})",
        data.path().display(),
        server.child.id()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    // The first still has its run, waiting at the same gates.
    let run = get(&server.url, &format!("/api/runs/{run_id}"));
    assert_eq!(run["status"], "running", "{run:#}");
    assert_eq!(waiting(&run).len(), 4, "{run:#}");

    server.kill();
    let server = start_server(data.path());
    let run = get(&server.url, &format!("/api/runs/{run_id}"));
    assert_eq!(waiting(&run).len(), 4, "{run:#}");
}
