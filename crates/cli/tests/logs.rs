//! Nothing secret reaches the logs: API tokens, session secrets and the LLM
//! key stay out of everything `greenlight dev` writes to stderr, at the most
//! verbose level, whatever requests it serves.

use greenlight_tests::*;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};

#[test]
fn tokens_sessions_and_keys_never_reach_the_logs() {
    let data = tempfile::tempdir().unwrap();
    let llm_key = "sk-ant-secret-key-for-the-log-test";
    let mut child = Command::new(PathBuf::from(env!("CARGO_BIN_EXE_greenlight")))
        .env("GREENLIGHT_LOG", "trace")
        .env("ANTHROPIC_API_KEY", llm_key)
        .env("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
        .args(["dev", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .arg("--samples")
        .arg(samples())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("greenlight dev starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("an address").expect("stdout");
        if let Some(rest) = line.strip_prefix("Greenlight is running at ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let mut stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });

    let made_up = "made-up-token-that-must-not-be-logged";
    let session = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let http = reqwest::Client::new();
            for token in [ALICE, made_up] {
                let _ = http.get(format!("{url}/api/me")).bearer_auth(token).send().await;
                let _ = http
                    .post(format!("{url}/api/runs"))
                    .bearer_auth(token)
                    .body("{not json")
                    .send()
                    .await;
            }
            let resp = http
                .post(format!("{url}/api/session"))
                .json(&serde_json::json!({"token": ALICE}))
                .send()
                .await
                .expect("sign in");
            let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
            let pair = cookie.split(';').next().unwrap().to_string();
            let _ = http
                .get(format!("{url}/api/me"))
                .header("cookie", &pair)
                .send()
                .await;
            let _ = http
                .post(format!("{url}/api/session"))
                .json(&serde_json::json!({"token": made_up}))
                .send()
                .await;
            pair.split_once('=').unwrap().1.to_string()
        });
    child.kill().unwrap();
    child.wait().unwrap();
    let log = log.join().unwrap();
    assert!(
        log.lines().count() > 10,
        "the server logged at trace level: {log}"
    );
    let secret_part = session.trim_start_matches("gls_").split('_').next().unwrap();
    for (what, secret) in [
        ("a dev token", ALICE),
        ("an unknown token", made_up),
        ("a session secret", secret_part),
        ("the LLM key", llm_key),
    ] {
        assert!(!log.contains(secret), "{what} is in the logs:\n{log}");
    }
}
