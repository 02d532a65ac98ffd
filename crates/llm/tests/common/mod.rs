//! Helpers shared by the tests: the sample data, a Messages API answer, a
//! client with short retries pointed at a mock server.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use greenlight_agents::{AgentId, AgentInput, PriorStep, WorkspaceData, load_workspace_dir};
use greenlight_llm::{AnthropicClient, AnthropicConfig, LlmAgents, RetryPolicy, Studio};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const RUN_ID: &str = "run-01JLLMTEST";
pub const PREFIX: &str = "/api/runs/run-01JLLMTEST/assets/";
pub const KEY: &str = "sk-ant-test-key-123";
pub const MODEL: &str = "claude-sonnet-4-5";
pub const ANSWERING_MODEL: &str = "claude-sonnet-4-5-20250929";

pub fn samples() -> PathBuf {
    // The package's directory as cargo gives it to the running test, not the
    // one compiled in: a cached test binary may come from another checkout.
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    dir.join("../../samplesdata")
}

pub fn demo() -> WorkspaceData {
    load_workspace_dir(&samples().join("workspaces/demo")).expect("the demo workspace loads")
}

pub fn spring_brief() -> Value {
    let text = std::fs::read_to_string(samples().join("briefs/demo-campaign-launch-spring-linen.json"))
        .expect("the spring brief is readable");
    serde_json::from_str(&text).expect("the spring brief is JSON")
}

pub fn input<'a>(
    agent: AgentId,
    ws: &'a WorkspaceData,
    brief: &'a Value,
    prior: &'a [PriorStep],
) -> AgentInput<'a> {
    AgentInput {
        agent,
        run_id: RUN_ID,
        step_key: agent.as_str(),
        step_label: "Step",
        workflow: "campaign-launch",
        workflow_name: "Campaign Launch",
        brief,
        workspace: ws,
        prior_steps: prior,
        asset_url_prefix: PREFIX,
        priced_model: MODEL,
    }
}

/// A Messages API success body.
pub fn messages_body(text: &str, input_tokens: u64, output_tokens: u64) -> Value {
    json!({
        "id": "msg_01TEST",
        "type": "message",
        "role": "assistant",
        "model": ANSWERING_MODEL,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": null,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens}
    })
}

pub fn api_error(kind: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

pub fn config(server: &MockServer, max_retries: u32) -> AnthropicConfig {
    let mut cfg = AnthropicConfig::new(KEY);
    cfg.base_url = server.uri();
    cfg.timeout = Duration::from_secs(10);
    cfg.retry = RetryPolicy {
        max_retries,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    };
    cfg
}

pub fn client(server: &MockServer, max_retries: u32) -> AnthropicClient {
    AnthropicClient::new(config(server, max_retries)).expect("the client builds")
}

/// A model that answers every request with `text`.
pub async fn model_answering(text: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(ResponseTemplate::new(200).set_body_json(messages_body(text, 2000, 800)))
        .mount(&server)
        .await;
    server
}

pub fn agents(server: &MockServer, studio: Option<Arc<dyn Studio>>) -> LlmAgents {
    LlmAgents::new(Arc::new(client(server, 0)), studio)
}

/// The JSON body of the `i`th request the server received.
pub async fn request_body(server: &MockServer, i: usize) -> Value {
    let reqs = server.received_requests().await.expect("requests are recorded");
    let req = reqs.get(i).expect("the request was made");
    serde_json::from_slice(&req.body).expect("the request body is JSON")
}

/// Every string in a JSON value.
pub fn strings(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            Value::Object(map) => map.iter().for_each(|(k, v)| {
                out.push(k.clone());
                walk(v, out)
            }),
            _ => {}
        }
    }
    walk(v, &mut out);
    out
}

/// The trail's one `llm` entry.
pub fn llm_entry(trail: &[Value]) -> &Value {
    let entries: Vec<&Value> = trail.iter().filter(|e| e["kind"] == "llm").collect();
    assert_eq!(entries.len(), 1, "one llm entry: {trail:?}");
    entries[0]
}

/// Dollars (a JSON number) as cents.
pub fn cents(v: &Value) -> i64 {
    (v.as_f64().expect("a number of dollars") * 100.0).round() as i64
}

/// The mock answers `POST route` with `response`, and expects exactly
/// `times` such requests (checked when the server is dropped).
pub async fn answer(server: &MockServer, route: &str, response: ResponseTemplate, times: u64) {
    Mock::given(method("POST"))
        .and(path(route))
        .respond_with(response)
        .expect(times)
        .mount(server)
        .await;
}

/// As [`answer`], for the first `times` requests only: later ones go to the
/// next mock.
pub async fn answer_first(server: &MockServer, route: &str, response: ResponseTemplate, times: u64) {
    Mock::given(method("POST"))
        .and(path(route))
        .respond_with(response)
        .up_to_n_times(times)
        .expect(times)
        .mount(server)
        .await;
}
