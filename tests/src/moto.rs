//! A real DynamoDB-compatible server for tests: moto (PyPI `moto[server]`),
//! installed into `.tools/venv` by `scripts/test`, served one request at a
//! time by `tests/moto_serial.py` (see there why) on a free loopback port,
//! and stopped when dropped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Python that has moto installed.
fn python() -> PathBuf {
    if let Ok(p) = std::env::var("GREENLIGHT_MOTO_PYTHON") {
        return PathBuf::from(p);
    }
    crate::repo().join(".tools/venv/bin/python")
}

impl Moto {
    /// Starts moto, or panics saying why: a test that needs it never passes without it.
    pub fn start() -> Moto {
        let bin = python();
        let script = crate::repo().join("tests/moto_serial.py");
        assert!(
            bin.exists(),
            "moto's Python is not at {}: run scripts/test, which installs moto[server] into .tools/venv (or set GREENLIGHT_MOTO_PYTHON)",
            bin.display()
        );
        // A port picked free can be taken before moto binds it (tests start in
        // parallel): a server that exits right away is started again elsewhere.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("a free port");
            let child = Command::new(&bin)
                .arg(&script)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("could not start {}: {e}", bin.display()));
            let mut moto = Moto {
                child,
                endpoint: format!("http://127.0.0.1:{port}"),
            };
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if let Ok(Some(_)) = moto.child.try_wait() {
                    break;
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    // Listening, and still ours a moment later.
                    std::thread::sleep(Duration::from_millis(200));
                    if let Ok(None) = moto.child.try_wait() {
                        return moto;
                    }
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "moto_server did not start listening on port {port} within 60 s"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        panic!(
            "moto exited at start five times; run `{} {}` by hand to see why",
            bin.display(),
            script.display()
        );
    }

    /// Turns on moto's execution of state machines (its Lambda tasks echo their payload).
    pub async fn execute_state_machines(&self) {
        let resp = reqwest::Client::new()
            .post(format!("{}/moto-api/config", self.endpoint))
            .json(&serde_json::json!({"stepfunctions": {"execute_state_machine": true}, "lambda": {"use_docker": false}}))
            .send()
            .await
            .expect("moto config request");
        assert!(
            resp.status().is_success(),
            "moto refused its config: {}",
            resp.status()
        );
    }

    /// The standard AWS configuration, pointed at moto.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "moto"))
            .load()
            .await
    }

    /// Every client the AWS functions use, pointed at moto.
    pub async fn clients(&self) -> greenlight_aws::Clients {
        let c = self.sdk_config().await;
        let s3 = aws_sdk_s3::config::Builder::from(&c)
            .force_path_style(true)
            .build();
        greenlight_aws::Clients {
            dynamodb: aws_sdk_dynamodb::Client::new(&c),
            sfn: aws_sdk_sfn::Client::new(&c),
            s3: aws_sdk_s3::Client::from_conf(s3),
            eventbridge: aws_sdk_eventbridge::Client::new(&c),
        }
    }

    pub fn sfn(&self) -> aws_sdk_sfn::Client {
        use aws_sdk_sfn::config::{BehaviorVersion, Credentials, Region};
        let config = aws_sdk_sfn::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "moto"))
            .build();
        aws_sdk_sfn::Client::from_conf(config)
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "moto"))
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }
}

/// Creates the committed Campaign Launch state machine in moto, every
/// placeholder substituted with `<function prefix><placeholder>`; returns its ARN.
pub async fn create_campaign_launch(sfn: &aws_sdk_sfn::Client, function_prefix: &str) -> String {
    let mut asl = std::fs::read_to_string(crate::repo().join("state-machines/campaign-launch.asl.json"))
        .expect("committed ASL");
    for p in greenlight_recipes::all_function_placeholders() {
        asl = asl.replace(&format!("${{{p}}}"), &format!("{function_prefix}{p}"));
    }
    assert!(!asl.contains("${"), "every placeholder substituted");
    sfn.create_state_machine()
        .name("greenlight-campaign-launch")
        .definition(asl)
        .role_arn("arn:aws:iam::123456789012:role/greenlight-state-machines")
        .send()
        .await
        .expect("state machine created")
        .state_machine_arn()
        .to_string()
}

/// An execution's history events, oldest first (one page of up to 1,000,
/// more than a Campaign Launch makes).
pub async fn execution_history(
    sfn: &aws_sdk_sfn::Client,
    execution_arn: &str,
) -> Vec<aws_sdk_sfn::types::HistoryEvent> {
    sfn.get_execution_history()
        .execution_arn(execution_arn)
        .max_results(1000)
        .send()
        .await
        .expect("execution history")
        .events
}
