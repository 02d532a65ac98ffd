//! Durability: the real `greenlight dev` process killed with SIGKILL while
//! gates wait comes back with the run still waiting, and approvals after the
//! restart complete it.

use greenlight_tests::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `greenlight` binary cargo built for this test.
fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_greenlight"))
}

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(data: &Path) -> Server {
    let mut child = Command::new(binary())
        .env_remove("ANTHROPIC_API_KEY")
        .args(["dev", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .arg("--samples")
        .arg(samples())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("greenlight dev starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("greenlight dev printed its address")
            .expect("stdout readable");
        if let Some(rest) = line.strip_prefix("Greenlight is running at ") {
            break rest.split_whitespace().next().expect("url").to_string();
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child, url }
}

fn get(url: &str, path: &str) -> Value {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        reqwest::Client::new()
            .get(format!("{url}{path}"))
            .bearer_auth(ALICE)
            .send()
            .await
            .expect("request")
            .json::<Value>()
            .await
            .expect("json")
    })
}

fn post(url: &str, path: &str, body: Value) -> (u16, Value) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let resp = reqwest::Client::new()
            .post(format!("{url}{path}"))
            .bearer_auth(ALICE)
            .json(&body)
            .send()
            .await
            .expect("request");
        (resp.status().as_u16(), resp.json::<Value>().await.expect("json"))
    })
}

fn wait_for(what: &str, mut check: impl FnMut() -> Option<Value>) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_run_waiting_at_its_gates_survives_sigkill_and_completes_after_restart() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path());
    let (status, started) = post(
        &server.url,
        "/api/runs",
        json!({"workflow": "campaign-launch", "brief": brief("demo-campaign-launch-spring-linen")}),
    );
    assert_eq!(status, 201, "{started}");
    let run_id = started["run_id"].as_str().unwrap().to_string();
    let run = wait_for("four gates", || {
        let r = get(&server.url, &format!("/api/runs/{run_id}"));
        (waiting(&r).len() == 4).then_some(r)
    });
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
    let mut server = server;
    server.child.kill().expect("SIGKILL");
    server.child.wait().unwrap();
    drop(server);

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
