//! The OpenAPI document (`GET /api/openapi.json`): it agrees with API.md and
//! with the router, documents every error, and `schemathesis` (PyPI,
//! installed by `scripts/test`) fuzzes every operation but the SSE stream
//! against it: no 5xx, and every response conforms to the document.

use greenlight_tests::{ALICE, TestApp, brief, repo};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

async fn document(app: &TestApp) -> Value {
    let resp = reqwest::get(app.url("/api/openapi.json"))
        .await
        .expect("GET /api/openapi.json");
    assert_eq!(resp.status(), 200, "the document needs no token");
    resp.json().await.expect("JSON")
}

fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                out.insert((method.to_string(), path.clone()));
            }
        }
    }
    out
}

/// Every `METHOD /path` that API.md names (queries dropped).
fn api_md_endpoints() -> BTreeSet<(String, String)> {
    let path = repo().join("../shared/API.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out = BTreeSet::new();
    for pair in words.windows(2) {
        let method = pair[0].trim_start_matches('`');
        if !["GET", "POST", "DELETE", "PUT", "PATCH"].contains(&method) {
            continue;
        }
        let path: String = pair[1]
            .trim_matches(|c| c == '`' || c == ',' || c == ';' || c == ')' || c == '(')
            .split(['?', '`'])
            .next()
            .unwrap_or_default()
            .to_string();
        if path.starts_with('/') {
            out.insert((method.to_lowercase(), path));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_agrees_with_api_md_and_the_router() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    let documented = operations(&doc);
    let contract = api_md_endpoints();
    assert!(contract.len() >= 18, "API.md parsed: {contract:?}");
    for (method, path) in &contract {
        assert!(
            documented.contains(&(method.clone(), path.clone())),
            "API.md's {method} {path} is not in the document"
        );
    }

    let http = reqwest::Client::new();
    for (method, path) in &documented {
        let op = &doc["paths"][path][method];
        let responses = op["responses"].as_object().expect("responses");
        // Every error an operation answers is documented with the error body.
        for (status, response) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                let schema = &response["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(
                    schema, "#/components/schemas/ErrorBody",
                    "{method} {path} {status}"
                );
            }
        }
        let public = op["security"].as_array().is_some_and(|s| s.is_empty());
        if !public {
            assert!(responses.contains_key("401"), "{method} {path} documents no 401");
        }
        // The router serves it: a request finds the route, not the fallback.
        let url = app.url(
            &path
                .replace("{step_id}", "run_x.y")
                .replace("{run_id}", "run_x")
                .replace("{name}", "a.svg"),
        );
        let req = match method.as_str() {
            "post" => http.post(&url).json(&serde_json::json!({})),
            "delete" => http.delete(&url),
            _ => http.get(&url),
        };
        let resp = req.bearer_auth(ALICE).send().await.unwrap();
        let status = resp.status().as_u16();
        // The live stream never ends: its status is the answer.
        let text = if path == "/api/stream" {
            String::new()
        } else {
            resp.text().await.unwrap_or_default()
        };
        assert!(
            !text.contains("no such endpoint"),
            "{method} {path} is documented but not routed"
        );
        assert!(
            responses.contains_key(&status.to_string()),
            "{method} {path} answered {status}, which it does not document: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_response_off_the_document() {
    let st = std::env::var_os("GREENLIGHT_SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            panic!("GREENLIGHT_SCHEMATHESIS is not set: scripts/test installs schemathesis and sets it")
        });
    assert!(st.exists(), "{} does not exist", st.display());
    let app = TestApp::spawn().await;
    // Real gates to decide, so the fuzzer's links reach past 404s.
    for _ in 0..2 {
        let run = app
            .start(
                ALICE,
                "campaign-launch",
                brief("demo-campaign-launch-spring-linen"),
            )
            .await;
        app.wait_gates(ALICE, &run, 4).await;
    }
    let checks = [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "missing_required_header",
        "unsupported_method",
        "ignored_auth",
        "use_after_free",
        "ensure_resource_availability",
    ]
    .join(",");
    let reports = tempfile::tempdir().unwrap();
    let run = tokio::process::Command::new(&st)
        .arg("run")
        .arg(app.url("/api/openapi.json"))
        .args(["--header", &format!("Authorization: Bearer {ALICE}")])
        .args(["--exclude-path", "/api/stream"])
        .args(["--checks", &checks])
        .args([
            "--max-examples",
            "40",
            "--seed",
            "20261127",
            "--no-color",
            "--request-timeout",
            "10",
        ])
        .arg("--report-dir")
        .arg(reports.path())
        .current_dir(reports.path())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(600), run)
        .await
        .expect("schemathesis finishes within 10 minutes")
        .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "schemathesis found failures (above)");
    let tested = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("Tested: "))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .expect("schemathesis reports how many operations it tested");
    assert!(tested >= 19, "schemathesis tested only {tested} operations");
    assert!(stdout.contains(" passed"), "no test case passed: {stdout}");
}
