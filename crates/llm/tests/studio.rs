//! The Studio clients: the hosted renderer against a mock server, and the
//! local SVG renderer.

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::*;
use greenlight_llm::{
    LocalStudio, RenderRequest, RetryPolicy, Studio, StudioClient, StudioConfig, StudioError,
};
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n fake image bytes";

fn render_request() -> RenderRequest {
    let ws = demo();
    RenderRequest {
        brief: "Render a 1080×1350 post in the brand's colours.".into(),
        width: 1080,
        height: 1350,
        colors: ws.brand.colors.clone(),
        title: "Softer with <every> wash & more".into(),
        subtitle: ws.brand.tagline.clone(),
        brand: ws.brand.brand_name.clone(),
        eyebrow: "Stonewashed Linen Sheet Set".into(),
        label: "Instagram post".into(),
    }
}

fn studio(server: &MockServer) -> StudioClient {
    let mut cfg = StudioConfig::new(server.uri(), Some("studio-key".into()));
    cfg.timeout = Duration::from_secs(10);
    cfg.retry = RetryPolicy {
        max_retries: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    };
    StudioClient::new(cfg).expect("the client builds")
}

fn rendered(bytes: &[u8], cost: f64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "content_type": "image/png",
        "data_base64": base64::engine::general_purpose::STANDARD.encode(bytes),
        "cost_usd": cost,
    }))
}

#[tokio::test]
async fn hosted_render_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/renders"))
        .and(header("authorization", "Bearer studio-key"))
        .and(header("content-type", "application/json"))
        .respond_with(rendered(PNG, 0.05))
        .expect(1)
        .mount(&server)
        .await;

    let r = studio(&server)
        .render(&render_request())
        .await
        .expect("it renders");
    assert_eq!(r.content_type, "image/png");
    assert_eq!(r.bytes, PNG);
    assert_eq!(r.cost_micros, 50_000);

    let body = request_body(&server, 0).await;
    assert_eq!(body["width"], 1080);
    assert_eq!(body["height"], 1350);
    assert_eq!(body["title"], "Softer with <every> wash & more");
    assert_eq!(body["colors"]["primary"], demo().brand.colors.primary.as_str());
    assert_eq!(body["brand"], "Linen & Loom");
    assert!(body["brief"].as_str().is_some_and(|b| b.contains("1080×1350")));
}

#[tokio::test]
async fn unavailable_then_success() {
    let server = MockServer::start().await;
    answer_first(
        &server,
        "/v1/renders",
        ResponseTemplate::new(503).set_body_string("upstream busy"),
        1,
    )
    .await;
    answer(&server, "/v1/renders", rendered(PNG, 0.04), 1).await;

    let r = studio(&server)
        .render(&render_request())
        .await
        .expect("the retry renders");
    assert_eq!(r.bytes, PNG);
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(2));
}

#[tokio::test]
async fn failing_every_time_is_reported_after_the_attempts() {
    let server = MockServer::start().await;
    answer(
        &server,
        "/v1/renders",
        ResponseTemplate::new(502).set_body_string("bad gateway"),
        4,
    )
    .await;
    let err = studio(&server)
        .render(&render_request())
        .await
        .expect_err("it fails");
    assert!(
        matches!(
            err,
            StudioError::Server {
                status: 502,
                attempts: 4,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("bad gateway"), "{err}");
}

#[tokio::test]
async fn bad_base64_is_an_error_and_not_retried() {
    let server = MockServer::start().await;
    answer(
        &server,
        "/v1/renders",
        ResponseTemplate::new(200).set_body_json(json!({
            "content_type": "image/png",
            "data_base64": "this is not base64!!",
            "cost_usd": 0.04,
        })),
        1,
    )
    .await;
    let err = studio(&server)
        .render(&render_request())
        .await
        .expect_err("it fails");
    assert!(matches!(err, StudioError::MalformedResponse(_)), "{err:?}");
    assert!(err.to_string().contains("not valid base64"), "{err}");
}

#[tokio::test]
async fn a_refused_key_is_not_retried() {
    let server = MockServer::start().await;
    answer(
        &server,
        "/v1/renders",
        ResponseTemplate::new(403).set_body_json(json!({"error": {"message": "key revoked"}})),
        1,
    )
    .await;
    let err = studio(&server)
        .render(&render_request())
        .await
        .expect_err("it fails");
    assert!(matches!(err, StudioError::Auth { status: 403, .. }), "{err:?}");
    assert!(!err.to_string().contains("studio-key"));
}

#[tokio::test]
async fn the_local_studio_draws_an_escaped_svg() {
    let r = LocalStudio.render(&render_request()).await.expect("it renders");
    assert_eq!(r.content_type, "image/svg+xml");
    assert_eq!(r.cost_micros, 40_000);
    let svg = String::from_utf8(r.bytes).expect("UTF-8");
    assert!(svg.starts_with("<svg"), "{svg}");
    assert!(svg.contains("width=\"1080\" height=\"1350\""));
    assert!(svg.contains("&lt;every&gt;"), "the title is escaped");
    assert!(!svg.contains("<every>"));
    assert!(svg.contains("Linen &amp; Loom"));
    let primary = demo().brand.colors.primary.to_ascii_uppercase();
    assert!(
        svg.to_ascii_uppercase().contains(&primary),
        "brand colour {primary}"
    );
}
