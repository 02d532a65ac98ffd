//! The real `greenlight dev` process for the CLI's process tests: started
//! on a free port with its own data directory, read, killed.

#![allow(dead_code)] // each test file uses its own part of these helpers

use greenlight_tests::{ALICE, brief, samples, waiting};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub struct Server {
    pub child: Child,
    pub url: String,
    /// Lines the server wrote to stderr.
    stderr: mpsc::Receiver<String>,
    /// Lines it wrote to stdout after its address.
    stdout: mpsc::Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn start(data: &Path, fault: Option<&str>) -> Server {
        let mut cmd = Command::new(PathBuf::from(env!("CARGO_BIN_EXE_greenlight")));
        cmd.env_remove("ANTHROPIC_API_KEY")
            .env_remove("GREENLIGHT_FAULT")
            .args(["dev", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .arg("--samples")
            .arg(samples())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(point) = fault {
            cmd.env("GREENLIGHT_FAULT", point);
        }
        let mut child = cmd.spawn().expect("greenlight dev starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("greenlight dev printed its address")
                .expect("stdout");
            if let Some(rest) = line.strip_prefix("Greenlight is running at ") {
                break rest.split_whitespace().next().expect("url").to_string();
            }
        };
        let (out_tx, stdout) = mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let _ = out_tx.send(line);
            }
        });
        let (tx, stderr) = mpsc::channel();
        let err = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Server {
            child,
            url,
            stderr,
            stdout,
        }
    }

    /// What the server printed on starting, after its address, up to
    /// "Press Ctrl-C to stop.".
    pub fn greeting(&self) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            match self.stdout.recv_timeout(Duration::from_secs(30)) {
                Ok(line) if line.starts_with("Press Ctrl-C") => return out,
                Ok(line) => out.push(line),
                Err(_) => panic!("the server's greeting did not end: {out:?}"),
            }
        }
    }

    /// Kills the server with SIGKILL (no shutdown code runs) and reaps it.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    /// Waits for the server to stop at `point`, then kills it with SIGKILL.
    pub fn kill_at(mut self, point: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let marker = format!("fault point {point} reached");
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) if line.contains(&marker) => break,
                Ok(_) => {}
                Err(_) => panic!("the server never reached the fault point {point}"),
            }
        }
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

pub fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

pub fn get(url: &str, token: &str, path: &str) -> Value {
    block_on(async {
        reqwest::Client::new()
            .get(format!("{url}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
            .json::<Value>()
            .await
            .expect("json")
    })
}

pub fn post(url: &str, token: &str, path: &str, body: Value) -> (u16, Value) {
    block_on(async {
        let resp = reqwest::Client::new()
            .post(format!("{url}{path}"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request");
        (resp.status().as_u16(), resp.json::<Value>().await.expect("json"))
    })
}

/// Sends a request that may never be answered (the server stops mid-way).
pub fn post_in_background(url: &str, token: &str, path: &str, body: Value) {
    let (url, token, path) = (url.to_string(), token.to_string(), path.to_string());
    std::thread::spawn(move || {
        block_on(async {
            let _ = reqwest::Client::new()
                .post(format!("{url}{path}"))
                .bearer_auth(token)
                .json(&body)
                .timeout(Duration::from_secs(120))
                .send()
                .await;
        })
    });
}

pub fn wait_for(what: &str, mut check: impl FnMut() -> Option<Value>) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts a Campaign Launch (as Alice, the spring-linen brief) and waits
/// for its four gates; the run's id and the run.
pub fn launch(url: &str) -> (String, Value) {
    let (status, started) = post(
        url,
        ALICE,
        "/api/runs",
        serde_json::json!({"workflow": "campaign-launch", "brief": brief("demo-campaign-launch-spring-linen")}),
    );
    assert_eq!(status, 201, "{started}");
    let run_id = started["run_id"].as_str().unwrap().to_string();
    let run = wait_for("four gates", || {
        let r = get(url, ALICE, &format!("/api/runs/{run_id}"));
        (waiting(&r).len() == 4).then_some(r)
    });
    (run_id, run)
}
