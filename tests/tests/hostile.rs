//! Hostile and malformed input (API.md "Conventions"): every endpoint,
//! every kind of bad request, answers a 4xx in the contract's JSON shape,
//! never a 5xx, and changes nothing. Markup is kept as data and escaped
//! wherever the server renders HTML.

use greenlight_tests::{ALICE, RITA, TestApp, assert_names_field, brief, step_id};
use reqwest::Method;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::{Value, json};

/// Everything a demo member can see, to prove nothing changed.
async fn snapshot(app: &TestApp) -> Value {
    let mut out = serde_json::Map::new();
    for path in [
        "/api/runs?limit=200",
        "/api/dashboard/approvals?limit=200",
        "/api/audit?limit=200",
        "/api/outbox?limit=200",
    ] {
        let (status, body) = app.get(ALICE, path).await;
        assert_eq!(status, 200, "{path}: {body}");
        out.insert(path.into(), body);
    }
    Value::Object(out)
}

struct Bad {
    method: Method,
    path: String,
    auth: Option<HeaderValue>,
    body: Option<Vec<u8>>,
    why: String,
}

fn bad(method: Method, path: &str, body: Option<Vec<u8>>, why: &str) -> Bad {
    Bad {
        method,
        path: path.to_string(),
        auth: Some(HeaderValue::from_str(&format!("Bearer {ALICE}")).unwrap()),
        body,
        why: why.to_string(),
    }
}

async fn send(app: &TestApp, b: &Bad) -> (u16, String, String) {
    let mut req = reqwest::Client::new().request(b.method.clone(), app.url(&b.path));
    if let Some(a) = &b.auth {
        req = req.header(HeaderName::from_static("authorization"), a.clone());
    }
    if let Some(body) = &b.body {
        req = req.header("content-type", "application/json").body(body.clone());
    }
    let resp = req.send().await.expect("the server answers");
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, ct, resp.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_bad_request_is_a_4xx_json_error_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (run_id, run) = app.launch(ALICE, "demo-campaign-launch-spring-linen").await;
    let gate = step_id(&run, "ad_spend_gate");
    let theirs = app
        .start(RITA, "campaign-launch", brief("rival-campaign-launch-drip-bags"))
        .await;
    let their_run = app.wait_gates(RITA, &theirs, 4).await;
    let their_gate = step_id(&their_run, "listings_gate");
    let before = snapshot(&app).await;

    let writes = [
        "/api/runs".to_string(),
        format!("/api/dashboard/approvals/{gate}/approve"),
        format!("/api/dashboard/approvals/{gate}/reject"),
    ];
    let mut cases: Vec<Bad> = Vec::new();

    // Bodies that are not a JSON object, or not one the endpoint takes.
    let huge = {
        let mut b = br#"{"comment": ""#.to_vec();
        b.extend(std::iter::repeat_n(b'a', 1024 * 1024 + 1));
        b.extend(br#""}"#);
        b
    };
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes();
    let deep_object = format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000)).into_bytes();
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("not JSON", b"{not json".to_vec()),
        ("truncated", br#"{"comment": "abc"#.to_vec()),
        ("bytes that are not UTF-8", vec![0x7b, 0xff, 0xfe, 0x7d]),
        (
            "an overlong UTF-8 encoding",
            vec![b'{', b'"', 0xc0, 0xaf, b'"', b':', b'1', b'}'],
        ),
        (
            "a lone surrogate escape",
            br#"{"feedback": "\ud800", "comment": "\udfff"}"#.to_vec(),
        ),
        ("null", b"null".to_vec()),
        ("an array", b"[1, 2]".to_vec()),
        ("a string", br#""approve""#.to_vec()),
        ("a number too large", b"1e999".to_vec()),
        (
            "wrong types",
            br#"{"comment": 5, "feedback": [], "workflow": {}, "brief": "x", "proposal_digest": true}"#
                .to_vec(),
        ),
        (
            "an unknown field",
            br#"{"verdict": "approved", "admin": true}"#.to_vec(),
        ),
        ("over 1 MiB", huge),
        ("deep array nesting", deep),
        ("deep object nesting", deep_object),
        (
            "a duplicate key",
            br#"{"feedback": "a", "feedback": "b", "comment": "c", "comment": "d"}"#.to_vec(),
        ),
    ];
    for path in &writes {
        for (why, body) in &bodies {
            cases.push(bad(Method::POST, path, Some(body.clone()), why));
        }
    }
    // Ids: traversal, SQL, absurd lengths, encodings; and another workspace's.
    let ids = [
        "..%2F..%2F..%2Fetc%2Fpasswd".to_string(),
        "%2e%2e%2f%2e%2e%2fgreenlight.sqlite3".to_string(),
        "run_x'%20OR%20'1'%3D'1".to_string(),
        "run_x%22%3B%20DROP%20TABLE%20runs%3B--".to_string(),
        "%00".to_string(),
        "%F0%9F%92%A5".to_string(),
        "r".repeat(10_000),
        theirs.clone(),
    ];
    for id in &ids {
        for path in [
            format!("/api/runs/{id}"),
            format!("/api/runs/{id}/events"),
            format!("/api/runs/{id}/report"),
            format!("/api/runs/{id}/assets/post.svg"),
            format!("/api/runs/{run_id}/assets/{id}"),
        ] {
            cases.push(bad(Method::GET, &path, None, "a bad or foreign run id"));
        }
        let step = format!("{id}.listings_gate");
        cases.push(bad(
            Method::GET,
            &format!("/api/dashboard/approvals/{step}"),
            None,
            "a bad step id",
        ));
        cases.push(bad(
            Method::POST,
            &format!("/api/dashboard/approvals/{step}/approve"),
            Some(b"{}".to_vec()),
            "deciding a bad step id",
        ));
    }
    for path in [
        format!("/api/dashboard/approvals/{their_gate}"),
        format!("/api/dashboard/approvals/{their_gate}/approve"),
    ] {
        let method = if path.ends_with("approve") {
            Method::POST
        } else {
            Method::GET
        };
        cases.push(bad(
            method,
            &path,
            Some(b"{}".to_vec()),
            "another workspace's gate",
        ));
    }
    // Query strings.
    for path in [
        "/api/runs?limit=0",
        "/api/runs?limit=201",
        "/api/runs?limit=-1",
        "/api/runs?limit=1e3",
        "/api/runs?status=paused",
        "/api/runs?cursor=%27%20OR%201%3D1",
        "/api/runs?cursor=AAAA",
        "/api/dashboard/approvals?cursor=eyJ4IjoxfQ",
        "/api/audit?admin=1",
        "/api/outbox?limit=%FF",
    ] {
        let path = path.replace("%FF", "%ff");
        cases.push(bad(Method::GET, &path, None, "a bad query"));
    }
    let events = format!("/api/runs/{run_id}/events?after=-1");
    cases.push(bad(Method::GET, &events, None, "a negative sequence"));
    // Authorization: missing, garbled, another scheme, absurd, not ASCII.
    for auth in [
        None,
        Some(HeaderValue::from_static("Bearer")),
        Some(HeaderValue::from_static("Bearer ")),
        Some(HeaderValue::from_static("Basic YWxpY2U6cGFzcw==")),
        Some(HeaderValue::from_static("demo-alice-token")),
        Some(HeaderValue::from_str(&format!("Bearer {}", "t".repeat(10_000))).unwrap()),
        Some(HeaderValue::from_bytes(b"Bearer demo-alice-token\xff").unwrap()),
        Some(HeaderValue::from_static("Bearer ' OR '1'='1")),
    ] {
        for (method, path) in [
            (Method::GET, "/api/dashboard/approvals".to_string()),
            (Method::POST, format!("/api/dashboard/approvals/{gate}/approve")),
            (Method::POST, "/api/runs".to_string()),
            (Method::GET, "/api/stream".to_string()),
        ] {
            let mut b = bad(method, &path, Some(b"{}".to_vec()), "bad authorization");
            b.auth = auth.clone();
            cases.push(b);
        }
    }
    // Methods an endpoint does not take.
    for (method, path) in [
        (Method::PUT, "/api/runs".to_string()),
        (Method::DELETE, format!("/api/runs/{run_id}")),
        (Method::PATCH, format!("/api/dashboard/approvals/{gate}")),
        (Method::GET, format!("/api/dashboard/approvals/{gate}/approve")),
        (Method::DELETE, "/api/audit".to_string()),
        (Method::POST, "/api/outbox".to_string()),
        (Method::PUT, "/api/session".to_string()),
        (Method::POST, "/healthz".to_string()),
    ] {
        cases.push(bad(method, &path, None, "a method not allowed"));
    }

    let mut seen = 0;
    for case in &cases {
        let (status, ct, text) = send(&app, case).await;
        let shown = format!(
            "{} {} ({}) answered {status}: {}",
            case.method,
            case.path.chars().take(120).collect::<String>(),
            case.why,
            text.chars().take(300).collect::<String>()
        );
        assert!((400..500).contains(&status), "{shown}");
        assert!(ct.starts_with("application/json"), "{shown} [{ct}]");
        let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{shown}: not JSON"));
        let code = body["error"]["code"].as_str().unwrap_or_default();
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(!code.is_empty() && !message.is_empty(), "{shown}");
        if status == 413 {
            assert_eq!(code, "too_large", "{shown}");
        }
        seen += 1;
    }
    assert!(seen >= 150, "only {seen} cases ran");
    assert_eq!(snapshot(&app).await, before, "a bad request changed something");
}

/// A value of the wrong type is a 400 that names its field, on every body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_type_in_a_body_names_its_field() {
    let app = TestApp::spawn().await;
    let (_, run) = app.launch(ALICE, "demo-campaign-launch-spring-linen").await;
    let gate = step_id(&run, "publish_gate");
    let approve = format!("/api/dashboard/approvals/{gate}/approve");
    let reject = format!("/api/dashboard/approvals/{gate}/reject");
    let before = snapshot(&app).await;
    let start = |extra: Value| {
        let mut b =
            json!({"workflow": "campaign-launch", "brief": brief("demo-campaign-launch-spring-linen")});
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    let cases = [
        (approve.as_str(), json!({"comment": 5}), "comment"),
        (approve.as_str(), json!({"proposal_digest": 5}), "proposal_digest"),
        (reject.as_str(), json!({"feedback": ["a"]}), "feedback"),
        ("/api/runs", json!({"workflow": 5, "brief": {}}), "workflow"),
        ("/api/runs", start(json!({"rerun_of": 5})), "rerun_of"),
        ("/api/runs", start(json!({"notes": 5})), "notes"),
        ("/api/session", json!({"token": 5}), "token"),
    ];
    for (path, body, named) in cases {
        let (status, answer) = app
            .request(Method::POST, path, Some(ALICE), Some(body.clone()))
            .await;
        assert_eq!(status, 400, "{path} {body}: {answer}");
        assert_names_field(&answer, named);
    }
    assert_eq!(snapshot(&app).await, before, "a bad request changed something");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markup_and_sql_are_kept_as_data_and_escaped_where_rendered() {
    let app = TestApp::spawn().await;
    let mut b = brief("demo-campaign-launch-spring-linen");
    let title = r#"Linen <img src=x onerror=alert(1)> '; DROP TABLE runs; --"#;
    b["title"] = json!(title);
    b["notes"] =
        json!("<script>alert('notes')</script> \u{202e}reversed\u{202c} zero\u{200b}width e\u{301} 👩‍👩‍👧");
    let run_id = app.start(ALICE, "campaign-launch", b.clone()).await;
    let run = app.wait_gates(ALICE, &run_id, 4).await;
    assert_eq!(run["brief"], b, "the brief comes back exactly as sent");
    for gate in ["listings_gate", "publish_gate", "ad_spend_gate", "outreach_gate"] {
        let (status, card) = app
            .get(
                ALICE,
                &format!("/api/dashboard/approvals/{}", step_id(&run, gate)),
            )
            .await;
        assert_eq!(status, 200);
        let html = card["proposal_html"].as_str().unwrap();
        assert!(
            !html.contains("<img src=x") && !html.contains("<script>"),
            "{gate}: {html}"
        );
    }
    // The campaign names carry the title: escaped in the HTML, verbatim in the data.
    let (_, card) = app
        .get(
            ALICE,
            &format!("/api/dashboard/approvals/{}", step_id(&run, "ad_spend_gate")),
        )
        .await;
    assert!(
        card["proposal"]
            .to_string()
            .contains("<img src=x onerror=alert(1)>")
    );
    assert!(
        card["proposal_html"]
            .as_str()
            .unwrap()
            .contains("&lt;img src=x onerror=alert(1)&gt;")
    );
    // Feedback with markup and SQL fails the run with it verbatim; the tables are intact.
    let feedback = "No <b>bold</b> claims'); DELETE FROM approvals; --";
    let (status, body) = app
        .post(
            ALICE,
            &format!(
                "/api/dashboard/approvals/{}/reject",
                step_id(&run, "outreach_gate")
            ),
            json!({"feedback": feedback}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["run_error"], format!("Rejected at Outreach: {feedback}"));
    let (_, runs) = app.get(ALICE, "/api/runs").await;
    assert_eq!(runs["runs"][0]["title"], title);
    let other = app
        .start(
            ALICE,
            "campaign-launch",
            brief("demo-campaign-launch-spring-linen"),
        )
        .await;
    app.wait_gates(ALICE, &other, 4).await;
}
