//! Helpers for the scenario tests: the local server on port 0 with a fresh
//! data directory, and a typed HTTP client; and the store conformance suite.

pub mod approver;
pub mod conformance;
pub mod moto;

use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use greenlight_local::{Local, Options};

/// The repository root.
pub fn repo() -> PathBuf {
    // The workspace root above the package cargo runs the test in (this
    // crate's tests, or another crate's that use these helpers), not the
    // path compiled in: a cached test binary may come from another checkout.
    let start = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    start
        .ancestors()
        .find(|d| d.join("Cargo.lock").is_file() && d.join("samplesdata").is_dir())
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("no repository root above {}", start.display()))
}

pub fn samples() -> PathBuf {
    repo().join("samplesdata")
}

/// A brief from `samplesdata/briefs/`.
pub fn brief(name: &str) -> Value {
    let path = samples().join("briefs").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("brief is JSON")
}

pub const ALICE: &str = "demo-alice-token";
pub const OLIVIA: &str = "demo-olivia-token";
pub const RITA: &str = "rival-rita-token";

/// A Greenlight on port 0 with its own data directory.
pub struct TestApp {
    pub addr: SocketAddr,
    pub local: Local,
    pub dir: tempfile::TempDir,
    http: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(Vec::new()).await
    }

    /// With extra custom recipes from `tests/fixtures/recipes/<name>.yaml`.
    pub async fn spawn_with(recipes: Vec<&str>) -> TestApp {
        TestApp::spawn_configured(recipes, |_| {}).await
    }

    /// With the options adjusted by `configure` after the tests' defaults.
    pub async fn spawn_configured(recipes: Vec<&str>, configure: impl FnOnce(&mut Options)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut opts = Options::new(dir.path());
        opts.samples_dir = Some(samples());
        opts.retry_scale = 0.0;
        // Every paused run leaves memory at once: the scenarios exercise the
        // replay that brings it back on each decision.
        opts.live_paused = 0;
        // Never the real LLM in tests, whatever the environment says.
        opts.agents = greenlight_local::AgentsMode::Offline;
        opts.extra_recipes = recipes
            .iter()
            .map(|r| repo().join("tests/fixtures/recipes").join(format!("{r}.yaml")))
            .collect();
        configure(&mut opts);
        let local = Local::start(opts).await.expect("Greenlight starts");
        let (addr, server) = local.serve("127.0.0.1:0".parse().unwrap()).await.expect("serves");
        TestApp {
            addr,
            local,
            dir,
            http: reqwest::Client::new(),
            server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body read");
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{path} answered {status} with non-JSON: {text}"));
        (status, value)
    }

    pub async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        self.request(reqwest::Method::GET, path, Some(token), None).await
    }

    /// `verb` (`approve` or `reject`) on the gate `step_id`, with `body`.
    pub async fn decide(&self, token: &str, step_id: &str, verb: &str, body: Value) -> (u16, Value) {
        self.post(token, &format!("/api/dashboard/approvals/{step_id}/{verb}"), body)
            .await
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        self.request(reqwest::Method::POST, path, Some(token), Some(body))
            .await
    }

    /// Starts a run and returns its id.
    pub async fn start(&self, token: &str, workflow: &str, brief: Value) -> String {
        let (status, body) = self
            .post(token, "/api/runs", json!({"workflow": workflow, "brief": brief}))
            .await;
        assert_eq!(status, 201, "start run: {body}");
        body["run_id"].as_str().expect("run_id").to_string()
    }

    pub async fn run(&self, token: &str, run_id: &str) -> Value {
        let (status, body) = self.get(token, &format!("/api/runs/{run_id}")).await;
        assert_eq!(status, 200, "get run: {body}");
        body
    }

    /// The run's pending approvals, keyed by step key.
    pub async fn pending_of(&self, token: &str, run_id: &str) -> Vec<Value> {
        let (status, body) = self.get(token, "/api/dashboard/approvals?limit=200").await;
        assert_eq!(status, 200, "{body}");
        body["approvals"]
            .as_array()
            .expect("approvals")
            .iter()
            .filter(|a| a["run_id"] == run_id)
            .cloned()
            .collect()
    }

    /// Polls until `check` holds of the run (at most 30 s; the work itself takes milliseconds).
    pub async fn wait_run<F: Fn(&Value) -> bool>(
        &self,
        token: &str,
        run_id: &str,
        what: &str,
        check: F,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let run = self.run(token, run_id).await;
            if check(&run) {
                return run;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; the run is: {run:#}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts a Campaign Launch from a sample brief and waits for its four gates.
    pub async fn launch(&self, token: &str, brief_name: &str) -> (String, Value) {
        let run_id = self.start_launch(token, brief_name).await;
        let run = self.wait_gates(token, &run_id, 4).await;
        (run_id, run)
    }

    /// Starts a Campaign Launch with a sample brief; its run id.
    pub async fn start_launch(&self, token: &str, brief_name: &str) -> String {
        self.start(token, "campaign-launch", brief(brief_name)).await
    }

    /// The audit log's entries for one step.
    pub async fn audit_of(&self, token: &str, step_id: &str) -> Vec<Value> {
        let (status, audit) = self.get(token, "/api/audit?limit=200").await;
        assert_eq!(status, 200, "{audit}");
        audit["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .filter(|e| e["step_id"] == step_id)
            .cloned()
            .collect()
    }

    /// Waits for the run's action of `step_key` to reach the outbox (at most 10 s).
    pub async fn outbox_item(&self, token: &str, run_id: &str, step_key: &str) -> Value {
        for _ in 0..500 {
            let (status, outbox) = self.get(token, "/api/outbox?limit=200").await;
            assert_eq!(status, 200, "{outbox}");
            if let Some(item) = outbox["items"]
                .as_array()
                .expect("items")
                .iter()
                .find(|i| i["run_id"] == run_id && i["step_key"] == step_key)
            {
                return item.clone();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no outbox item for {step_key} of {run_id}");
    }

    /// Waits until the run has `n` gates waiting for approval.
    pub async fn wait_gates(&self, token: &str, run_id: &str, n: usize) -> Value {
        self.wait_run(token, run_id, &format!("{n} gates waiting"), |r| {
            waiting(r).len() == n
        })
        .await
    }

    pub async fn wait_status(&self, token: &str, run_id: &str, status: &str) -> Value {
        self.wait_run(token, run_id, &format!("status {status}"), |r| {
            r["status"] == status
        })
        .await
    }
}

/// A 400 whose message says `saying`.
pub fn assert_refused(status: u16, body: &Value, saying: &str) {
    assert_eq!(status, 400, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(saying), "not saying {saying:?}: {body}");
}

/// A 400 `invalid_request` whose message begins with the field it names.
pub fn assert_names_field(body: &Value, field: &str) {
    assert_eq!(body["error"]["code"], "invalid_request", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with(&format!("{field}: ")),
        "not about {field}: {body}"
    );
}

/// Step keys of the run's steps waiting for approval.
pub fn waiting(run: &Value) -> Vec<String> {
    steps_with(run, "waiting_for_approval")
}

pub fn steps_with(run: &Value, status: &str) -> Vec<String> {
    run["steps"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter(|s| s["status"] == status)
                .filter_map(|s| s["step_key"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub fn step<'a>(run: &'a Value, key: &str) -> &'a Value {
    run["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["step_key"] == key))
        .unwrap_or_else(|| panic!("no step {key} in {run:#}"))
}

pub fn step_id(run: &Value, key: &str) -> String {
    step(run, key)["step_id"].as_str().expect("step_id").to_string()
}
