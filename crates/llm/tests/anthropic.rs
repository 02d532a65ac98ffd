//! The Anthropic Messages API client against a mock server speaking the same
//! wire format: success, retries, exhaustion, refusals, malformed bodies.

mod common;

use std::time::{Duration, Instant};

use common::*;
use greenlight_llm::{AnthropicClient, Llm, LlmError, LlmRequest, RetryPolicy};
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn request() -> LlmRequest {
    LlmRequest {
        system: "Answer with JSON only.".into(),
        prompt: "Write a caption for the spring linen launch.".into(),
        max_tokens: 512,
    }
}

fn ok(text: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(messages_body(text, 1200, 300))
}

#[tokio::test]
async fn success_sends_the_messages_wire_format_and_prices_the_usage() {
    let server = MockServer::start().await;
    let mut body = messages_body("", 1200, 300);
    body["content"] = json!([
        {"type": "text", "text": "{\"caption\": "},
        {"type": "thinking", "thinking": "not part of the answer"},
        {"type": "text", "text": "\"Softer with every wash.\"}"}
    ]);
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .and(header("x-api-key", KEY))
        .and(header("anthropic-version", "2023-06-01"))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 512,
            "system": "Answer with JSON only.",
            "messages": [{"role": "user", "content": "Write a caption for the spring linen launch."}]
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(1)
        .mount(&server)
        .await;

    let resp = client(&server, 4)
        .complete(&request())
        .await
        .expect("the call succeeds");
    assert_eq!(resp.text, "{\"caption\": \"Softer with every wash.\"}");
    assert_eq!(resp.model, ANSWERING_MODEL);
    assert_eq!((resp.input_tokens, resp.output_tokens), (1200, 300));
    assert_eq!(resp.stop_reason.as_deref(), Some("end_turn"));
    // $3 per million input tokens, $15 per million output tokens.
    assert_eq!(resp.cost_micros(), 1200 * 3 + 300 * 15);
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(1));
}

#[tokio::test]
async fn rate_limited_then_success_honours_retry_after() {
    let server = MockServer::start().await;
    answer_first(
        &server,
        "/v1/messages",
        ResponseTemplate::new(429)
            .insert_header("retry-after", "0")
            .set_body_json(api_error(
                "rate_limit_error",
                "Number of requests has exceeded your rate limit",
            )),
        1,
    )
    .await;
    answer(&server, "/v1/messages", ok("{\"ok\": true}"), 1).await;

    // A backoff of 10 s would make this test slow: only `retry-after: 0` keeps it quick.
    let mut cfg = config(&server, 4);
    cfg.retry.base_delay = Duration::from_secs(10);
    cfg.retry.max_delay = Duration::from_secs(10);
    let started = Instant::now();
    let resp = AnthropicClient::new(cfg)
        .expect("client")
        .complete(&request())
        .await
        .expect("the retry succeeds");
    assert_eq!(resp.text, "{\"ok\": true}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(2));
}

#[tokio::test]
async fn server_errors_exhaust_the_retries_with_a_clear_error() {
    let server = MockServer::start().await;
    answer(
        &server,
        "/v1/messages",
        ResponseTemplate::new(500).set_body_json(api_error("api_error", "Internal server error")),
        5,
    )
    .await;

    let err = client(&server, 4)
        .complete(&request())
        .await
        .expect_err("it fails");
    assert!(
        matches!(
            err,
            LlmError::Server {
                status: 500,
                attempts: 5,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_transient());
    let msg = err.to_string();
    assert!(msg.contains("(500) after 5 attempts"), "{msg}");
    assert!(msg.contains("Internal server error"), "{msg}");
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(5));
}

#[tokio::test]
async fn a_refused_key_is_not_retried() {
    let server = MockServer::start().await;
    answer(
        &server,
        "/v1/messages",
        ResponseTemplate::new(401).set_body_json(api_error("authentication_error", "invalid x-api-key")),
        1,
    )
    .await;

    let err = client(&server, 4)
        .complete(&request())
        .await
        .expect_err("it fails");
    assert!(matches!(err, LlmError::Auth { status: 401, .. }), "{err:?}");
    assert!(!err.is_transient());
    let msg = err.to_string();
    assert!(
        msg.contains("the Anthropic API refused the key (401): invalid x-api-key"),
        "{msg}"
    );
    assert!(!msg.contains(KEY), "{msg}");
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(1));
}

#[tokio::test]
async fn an_invalid_request_is_not_retried() {
    let server = MockServer::start().await;
    answer(
        &server,
        "/v1/messages",
        ResponseTemplate::new(400).set_body_json(api_error(
            "invalid_request_error",
            "max_tokens: must be at most 64000",
        )),
        1,
    )
    .await;

    let err = client(&server, 4)
        .complete(&request())
        .await
        .expect_err("it fails");
    let msg = err.to_string();
    assert!(matches!(err, LlmError::Rejected { status: 400, .. }), "{err:?}");
    assert!(msg.contains("400 invalid_request_error"), "{msg}");
    assert!(msg.contains("max_tokens: must be at most 64000"), "{msg}");
}

#[tokio::test]
async fn overloaded_then_success() {
    let server = MockServer::start().await;
    answer_first(
        &server,
        "/v1/messages",
        ResponseTemplate::new(529).set_body_json(api_error("overloaded_error", "Overloaded")),
        1,
    )
    .await;
    answer(&server, "/v1/messages", ok("{\"fine\": 1}"), 1).await;

    let resp = client(&server, 4)
        .complete(&request())
        .await
        .expect("the retry succeeds");
    assert_eq!(resp.text, "{\"fine\": 1}");
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(2));
}

#[tokio::test]
async fn overloaded_every_time_says_so() {
    let server = MockServer::start().await;
    // An overloaded_error body counts as overloaded whatever the status.
    answer(
        &server,
        "/v1/messages",
        ResponseTemplate::new(503).set_body_json(api_error("overloaded_error", "Overloaded")),
        3,
    )
    .await;

    let err = client(&server, 2)
        .complete(&request())
        .await
        .expect_err("it fails");
    assert_eq!(
        err.to_string(),
        "the Anthropic API was overloaded after 3 attempts: Overloaded"
    );
}

#[tokio::test]
async fn a_malformed_body_is_an_error_not_a_panic() {
    for body in [
        "{\"content\": [",
        "<html>502 Bad Gateway</html>",
        "{\"content\": []}",
        "",
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/messages"))
            .respond_with(ResponseTemplate::new(200).set_body_string(body))
            .expect(1)
            .mount(&server)
            .await;
        let err = client(&server, 4)
            .complete(&request())
            .await
            .expect_err("it fails");
        assert!(matches!(err, LlmError::MalformedResponse(_)), "{body}: {err:?}");
        assert!(err.to_string().contains("not in the Messages format"), "{err}");
    }
}

#[tokio::test]
async fn timeouts_are_retried_then_reported() {
    let server = MockServer::start().await;
    answer(
        &server,
        "/v1/messages",
        ok("{}").set_delay(Duration::from_secs(5)),
        2,
    )
    .await;
    let mut cfg = config(&server, 1);
    cfg.timeout = Duration::from_millis(300);
    let started = Instant::now();
    let err = AnthropicClient::new(cfg)
        .expect("client")
        .complete(&request())
        .await
        .expect_err("it times out");
    assert!(matches!(err, LlmError::Timeout { attempts: 2, .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_unreachable_api_is_retried_then_reported() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        l.local_addr().expect("its address").port()
    };
    let mut cfg = greenlight_llm::AnthropicConfig::new(KEY);
    cfg.base_url = format!("http://127.0.0.1:{port}");
    cfg.retry = RetryPolicy {
        max_retries: 2,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(2),
    };
    let err = AnthropicClient::new(cfg)
        .expect("client")
        .complete(&request())
        .await
        .expect_err("nothing listens");
    assert!(matches!(err, LlmError::Network { attempts: 3, .. }), "{err:?}");
    assert!(
        err.to_string().contains("could not reach the Anthropic API"),
        "{err}"
    );
}
