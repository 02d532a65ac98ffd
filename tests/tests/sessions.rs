//! Browser sessions, the live stream and the dashboard's page, over HTTP
//! (API.md "Browser sessions", `GET /api/stream`).

use greenlight_tests::{ALICE, RITA, TestApp, brief};
use reqwest::header::{COOKIE, HeaderMap, ORIGIN, SET_COOKIE};
use serde_json::{Value, json};
use std::time::Duration;

fn plain() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Signs in with `token` and returns the `name=value` of the session cookie.
async fn sign_in(app: &TestApp, token: &str) -> (String, HeaderMap) {
    let resp = plain()
        .post(app.url("/api/session"))
        .header(ORIGIN, format!("http://{}", app.addr))
        .json(&json!({ "token": token }))
        .send()
        .await
        .expect("POST /api/session");
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    let set = headers
        .get(SET_COOKIE)
        .expect("a session cookie is set")
        .to_str()
        .expect("ascii")
        .to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attr), "cookie lacks {attr}: {set}");
    }
    let pair = set.split(';').next().expect("name=value").to_string();
    assert!(pair.starts_with("greenlight_session=gls_"), "{pair}");
    (pair, headers)
}

async fn with_cookie(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    cookie: &str,
    origin: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = plain().request(method, app.url(path)).header(COOKIE, cookie);
    if let Some(o) = origin {
        req = req.header(ORIGIN, o);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_becomes_a_cookie_that_reads_and_with_its_origin_writes_until_sign_out() {
    let app = TestApp::spawn().await;
    let origin = format!("http://{}", app.addr);
    let (cookie, _) = sign_in(&app, ALICE).await;

    let (status, me) = with_cookie(&app, reqwest::Method::GET, "/api/me", &cookie, None, None).await;
    assert_eq!(status, 200);
    assert_eq!(me["member_id"], "alice");
    assert_eq!(me["workspace_name"], "Linen & Loom");

    let start = json!({"workflow": "campaign-launch", "brief": brief("demo-campaign-launch-spring-linen")});
    // A cookie-authenticated write without Origin, or from another site: 403, nothing started.
    for bad in [None, Some("http://evil.example"), Some("null")] {
        let (status, body) = with_cookie(
            &app,
            reqwest::Method::POST,
            "/api/runs",
            &cookie,
            bad,
            Some(start.clone()),
        )
        .await;
        assert_eq!(status, 403, "{bad:?}: {body}");
        assert_eq!(body["error"]["code"], "forbidden");
    }
    let (_, runs) = app.get(ALICE, "/api/runs").await;
    assert_eq!(runs["runs"].as_array().map(Vec::len), Some(0), "{runs}");

    let (status, run) = with_cookie(
        &app,
        reqwest::Method::POST,
        "/api/runs",
        &cookie,
        Some(&origin),
        Some(start),
    )
    .await;
    assert_eq!(status, 201, "{run}");

    // Sign-out revokes the session on the server, not only in the browser.
    let (status, _) = with_cookie(
        &app,
        reqwest::Method::DELETE,
        "/api/session",
        &cookie,
        Some(&origin),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, body) = with_cookie(&app, reqwest::Method::GET, "/api/me", &cookie, None, None).await;
    assert_eq!(status, 401, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sign_ins_are_refused_by_name() {
    let app = TestApp::spawn().await;
    let post = |body: String, origin: Option<String>| {
        let mut req = plain().post(app.url("/api/session")).body(body);
        if let Some(o) = origin {
            req = req.header(ORIGIN, o);
        }
        req.send()
    };
    let resp = post(json!({"token": "nope"}).to_string(), None).await.unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().get(SET_COOKIE).is_none());
    let resp = post(json!({"token": "  "}).to_string(), None).await.unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"]["message"].as_str().unwrap().contains("token"),
        "{body}"
    );
    let resp = post("not json".into(), None).await.unwrap();
    assert_eq!(resp.status(), 400);
    // Sign-in from another site (login CSRF) is refused.
    let resp = post(
        json!({"token": ALICE}).to_string(),
        Some("http://evil.example".into()),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(resp.headers().get(SET_COOKIE).is_none());
    // A made-up session cookie, or one with its expiry edited, is not a session.
    for forged in ["greenlight_session=gls_00_9999999999", "greenlight_session=demo"] {
        let (status, _) = with_cookie(&app, reqwest::Method::GET, "/api/me", forged, None, None).await;
        assert_eq!(status, 401, "{forged}");
    }
    let (cookie, _) = sign_in(&app, ALICE).await;
    let (head, _) = cookie.rsplit_once('_').unwrap();
    let extended = format!("{head}_9999999999");
    let (status, _) = with_cookie(&app, reqwest::Method::GET, "/api/me", &extended, None, None).await;
    assert_eq!(status, 401, "an edited expiry must not authenticate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_members_are_offered_in_dev_mode() {
    let app = TestApp::spawn().await;
    let resp = plain().get(app.url("/api/dev/members")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let members = body["members"].as_array().expect("members");
    let alice = members
        .iter()
        .find(|m| m["member_id"] == "alice")
        .expect("alice is offered");
    assert_eq!(alice["token"], ALICE);
    assert_eq!(alice["workspace_name"], "Linen & Loom");
    assert!(members.iter().any(|m| m["token"] == RITA));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_stream_sends_only_the_callers_workspace() {
    let app = TestApp::spawn().await;
    let (cookie, _) = sign_in(&app, ALICE).await;
    let mut resp = plain()
        .get(app.url("/api/stream"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .expect("GET /api/stream");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    // Another workspace's run first, then the caller's own.
    let theirs = app
        .start(RITA, "campaign-launch", brief("rival-campaign-launch-drip-bags"))
        .await;
    let mine = app
        .start(
            ALICE,
            "campaign-launch",
            brief("demo-campaign-launch-spring-linen"),
        )
        .await;
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while text.matches("approval.requested").count() < 4 {
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .expect("four approval.requested events within 20 s")
            .expect("stream readable")
            .expect("stream open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let events: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect();
    assert!(events.iter().all(|e| e["run_id"] == mine.as_str()), "{text}");
    assert!(!text.contains(&theirs));
    assert_eq!(events[0]["type"], "workflow_run.started");
    let seqs: Vec<u64> = events.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "in order, no repeats: {seqs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_pages_are_served_with_a_strict_content_security_policy() {
    let app = TestApp::spawn().await;
    for path in [
        "/",
        "/approvals",
        "/runs/run_x",
        "/review/x.y",
        "/signin",
        "/brief",
        "/catalog",
    ] {
        let resp = plain().get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let csp = resp.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let html = resp.text().await.unwrap();
        assert!(html.contains("/assets/"), "{path}: the page loads its script");
        assert!(!html.contains("<script>"), "{path}: no inline script");
    }
    // A mistyped dashboard address: the page (it says "Page not found") with a 404.
    let resp = plain()
        .get(app.url("/approval"))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let resp = plain().get(app.url("/approval")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let resp = plain().get(app.url("/assets/app.js")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    for bad in ["/assets/..%2Fbuild.rs", "/assets/.hidden", "/assets/nope.js"] {
        let resp = plain().get(app.url(bad)).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{bad}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found");
    }
}
