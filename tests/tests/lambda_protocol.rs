//! The Lambda binaries of `functions/` through the real Lambda runtime
//! protocol: `cargo lambda watch` (PyPI `cargo-lambda`) emulates the Lambda
//! control plane and runs each binary as a function; the API answers through
//! its function URL and the other functions through `cargo lambda invoke`
//! with the event fixtures of `samplesdata/events/`. The stores are in moto.

use greenlight_core::service::token_hash;
use greenlight_store_dynamodb::DynamoStore;
use greenlight_tests::moto::Moto;
use greenlight_tests::{repo, samples};
use serde_json::{Value, json};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "lambda-test-alice-token";

fn cargo_lambda() -> PathBuf {
    let bin = std::env::var("GREENLIGHT_CARGO_LAMBDA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join(".tools/venv/bin/cargo-lambda"));
    assert!(
        bin.exists(),
        "cargo-lambda is not installed at {}: run scripts/test, which installs it into .tools/venv",
        bin.display()
    );
    bin
}

/// `cargo lambda watch`, in its own process group, stopped with the group.
struct Watch {
    child: Child,
    port: u16,
}

impl Drop for Watch {
    fn drop(&mut self) {
        // cargo lambda spawns `cargo run` per function: stop the whole group.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-s", "TERM", "--", &group]).status();
        std::thread::sleep(Duration::from_millis(300));
        let _ = Command::new("kill").args(["-s", "KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

fn function_env(moto: &Moto, machine: &str) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("GREENLIGHT_TABLE", "greenlight"),
        ("GREENLIGHT_BUCKET", "greenlight-assets"),
        ("GREENLIGHT_EVENT_BUS", "greenlight"),
        ("GREENLIGHT_AGENT", "listing_optimizer"),
        ("GREENLIGHT_ACTION", "publish_listings"),
        ("GREENLIGHT_LOG", "warn"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .chain([(
        "GREENLIGHT_STATE_MACHINES".to_string(),
        json!({"campaign-launch": machine}).to_string(),
    )])
    .collect()
}

/// cargo lambda builds each function with `cargo run`: in its own target
/// directory beside ours, so its feature set never invalidates the
/// workspace's artifacts (or the other way round) and reruns are warm.
fn watch_target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let target = exe.ancestors().nth(3).expect("target dir").to_path_buf();
    target.join("cargo-lambda")
}

fn start_watch(env: &[(String, String)]) -> Watch {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(cargo_lambda())
        .args([
            "lambda",
            "watch",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &port.to_string(),
            "--ignore-changes",
        ])
        .current_dir(repo())
        .envs(env.iter().cloned())
        .env("CARGO_TARGET_DIR", watch_target_dir())
        .env_remove("ANTHROPIC_API_KEY")
        .stdout(Stdio::null())
        .stderr(
            std::fs::File::create(std::env::temp_dir().join("greenlight-cargo-lambda-watch.log"))
                .map(Stdio::from)
                .unwrap_or(Stdio::null()),
        )
        .process_group(0)
        .spawn()
        .expect("cargo lambda watch starts");
    let watch = Watch { child, port };
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "cargo lambda watch did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    watch
}

/// `cargo lambda invoke <function>` with a JSON payload: the function's answer or its error.
fn invoke(watch: &Watch, function: &str, payload: &Value) -> Result<Value, String> {
    let out = Command::new(cargo_lambda())
        .args([
            "lambda",
            "invoke",
            function,
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &watch.port.to_string(),
            "--output-format",
            "json",
            "--data-ascii",
        ])
        .arg(payload.to_string())
        .current_dir(repo())
        .output()
        .expect("cargo lambda invoke runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    if out.status.success() {
        serde_json::from_str(&stdout).map_err(|e| format!("{function} answered non-JSON ({e}): {stdout}"))
    } else {
        Err(format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)))
    }
}

fn fixture(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(samples().join("events").join(name)).unwrap()).unwrap()
}

async fn api(watch: &Watch, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let url = format!("http://127.0.0.1:{}/lambda-url/approvals-api{path}", watch.port);
    let mut req = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap()
        .request(method, url)
        .bearer_auth(TOKEN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("function URL answers");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lambda_binaries_answer_through_the_runtime_protocol() {
    let moto = Moto::start();
    moto.execute_state_machines().await;
    let clients = moto.clients().await;
    let store = DynamoStore::new(clients.dynamodb.clone(), "greenlight");
    store.create_table().await.unwrap();
    clients
        .s3
        .create_bucket()
        .bucket("greenlight-assets")
        .send()
        .await
        .unwrap();
    clients
        .eventbridge
        .create_event_bus()
        .name("greenlight")
        .send()
        .await
        .unwrap();
    let machine = greenlight_tests::moto::create_campaign_launch(
        &clients.sfn,
        "arn:aws:lambda:us-east-1:123456789012:function:",
    )
    .await;
    greenlight_local::seed_from_dir(&store, &samples(), false)
        .await
        .unwrap();
    let alice = greenlight_core::ports::Store::get_member(
        &store,
        &greenlight_core::ids::WorkspaceId::parse("demo").unwrap(),
        &greenlight_core::ids::MemberId::parse("alice").unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    greenlight_core::ports::Store::put_token(&store, &token_hash(TOKEN), &alice, false)
        .await
        .unwrap();

    let watch = start_watch(&function_env(&moto, &machine));
    let w = &watch;
    // The API through its function URL (API Gateway v2 payloads).
    let (status, body) = api(w, reqwest::Method::GET, "/healthz", None).await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    let (status, body) = api(w, reqwest::Method::GET, "/api/me", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["member_id"], "alice");

    // brief-trigger: a Brief Submitted event starts a run named after it.
    let started = tokio::task::block_in_place(|| {
        invoke(w, "brief-trigger", &fixture("eventbridge-brief-submitted.json"))
    })
    .expect("brief-trigger answers");
    let run_id = started["run_id"].as_str().unwrap().to_string();
    assert_eq!(run_id, "run_6a7e8feb-b491-4cf7-a9f1-bf3703467718");
    let (status, run) = api(w, reqwest::Method::GET, &format!("/api/runs/{run_id}"), None).await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["status"], "running");

    // agent, then approval-gate: the Listings approval opens.
    let payload = json!({"run_id": run_id, "step_key": "listing_optimizer"});
    tokio::task::block_in_place(|| invoke(w, "agent", &payload)).expect("the agent runs");
    let mut gate = fixture("stepfunctions-approval-gate-task.json");
    gate["run_id"] = json!(run_id);
    tokio::task::block_in_place(|| invoke(w, "approval-gate", &gate)).expect("the gate opens");
    let (status, queue) = api(w, reqwest::Method::GET, "/api/dashboard/approvals", None).await;
    assert_eq!(status, 200, "{queue}");
    let items = queue["approvals"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{queue}");
    assert_eq!(items[0]["step_label"], "Listings");
    let step_id = items[0]["step_id"].as_str().unwrap().to_string();
    let (status, decided) = api(
        w,
        reqwest::Method::POST,
        &format!("/api/dashboard/approvals/{step_id}/approve"),
        Some(json!({"comment": "via Lambda"})),
    )
    .await;
    assert_eq!(status, 200, "{decided}");
    assert_eq!(decided["decision"]["comment"], "via Lambda");

    // A task error reaches Step Functions as the function's error type.
    let err = tokio::task::block_in_place(|| invoke(w, "agent", &json!({"run_id": run_id})))
        .expect_err("a payload without step_key fails");
    assert!(err.contains("Greenlight.BadPayload"), "{err}");

    // stream-processor publishes a run event; run-finalizer records the end.
    let response = tokio::task::block_in_place(|| {
        invoke(
            w,
            "stream-processor",
            &fixture("dynamodb-stream-event-insert.json"),
        )
    })
    .expect("stream-processor answers");
    assert_eq!(response["batchItemFailures"], json!([]));
    let mut ended = fixture("eventbridge-execution-status-change.json");
    ended["detail"]["name"] = json!(run_id);
    ended["detail"]["status"] = json!("FAILED");
    ended["detail"]["error"] = json!("States.Timeout");
    ended["detail"]["cause"] = json!("the execution timed out");
    tokio::task::block_in_place(|| invoke(w, "run-finalizer", &ended)).expect("run-finalizer answers");
    let (_, run) = api(w, reqwest::Method::GET, &format!("/api/runs/{run_id}"), None).await;
    assert_eq!(run["status"], "failed");
    assert_eq!(run["error"], "the execution timed out (States.Timeout)");
}
