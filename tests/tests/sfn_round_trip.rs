//! The committed Campaign Launch ASL on a Step Functions implementation we
//! did not write (moto, with execution on), driven through the Step
//! Functions orchestrator adapter: it pauses at its four gates, resumes on
//! approvals, and a rejection ends it FAILED with `Rejected`, synthesis never entered.

use aws_sdk_sfn::types::{ExecutionStatus as SfnStatus, HistoryEventType};
use greenlight_core::ids::RunId;
use greenlight_core::ports::{ExecutionStatus, Orchestrator, OrchestratorError};
use greenlight_orchestrator_sfn::SfnOrchestrator;
use greenlight_tests::moto::Moto;

use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const FAKE_LAMBDA: &str = "arn:aws:lambda:us-east-1:123456789012:function:greenlight-";

async fn setup(moto: &Moto) -> (SfnOrchestrator, String) {
    moto.execute_state_machines().await;
    let client = moto.sfn();
    let arn = greenlight_tests::moto::create_campaign_launch(&client, FAKE_LAMBDA).await;
    let machines = HashMap::from([("campaign-launch".to_string(), arn.clone())]);
    (SfnOrchestrator::new(client, machines), arn)
}

/// The gate tasks waiting on a token: step key → token.
async fn waiting_gates(sfn: &SfnOrchestrator, arn: &str) -> HashMap<String, String> {
    greenlight_tests::moto::execution_history(sfn.client(), arn)
        .await
        .iter()
        .filter(|e| *e.r#type() == HistoryEventType::TaskScheduled)
        .filter_map(|e| e.task_scheduled_event_details())
        .filter(|d| d.resource().ends_with("waitForTaskToken"))
        .filter_map(|d| serde_json::from_str::<Value>(d.parameters()).ok())
        .map(|p| {
            (
                p["Payload"]["step_key"].as_str().unwrap_or_default().to_string(),
                p["Payload"]["task_token"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

async fn entered_states(sfn: &SfnOrchestrator, arn: &str) -> Vec<String> {
    greenlight_tests::moto::execution_history(sfn.client(), arn)
        .await
        .iter()
        .filter_map(|e| e.state_entered_event_details())
        .map(|d| d.name().to_string())
        .collect()
}

async fn wait_for<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn start_and_wait_for_gates(
    sfn: &SfnOrchestrator,
    machine: &str,
    run: &RunId,
) -> (String, HashMap<String, String>) {
    let input = json!({"run_id": run, "workspace_id": "demo", "workflow": "campaign-launch"});
    sfn.start("campaign-launch", run, input.clone())
        .await
        .expect("started");
    // Starting the same run again is a no-op, not a second execution.
    sfn.start("campaign-launch", run, input)
        .await
        .expect("a second start is a no-op");
    let arn = SfnOrchestrator::execution_arn(machine, run);
    let gates = wait_for("four gates waiting", || async {
        let g = waiting_gates(sfn, &arn).await;
        (g.len() == 4).then_some(g)
    })
    .await;
    (arn, gates)
}

#[tokio::test]
async fn campaign_launch_pauses_at_four_gates_and_completes_on_approvals() {
    let moto = Moto::start();
    let (sfn, machine) = setup(&moto).await;
    let run = RunId::generate();
    let (arn, gates) = start_and_wait_for_gates(&sfn, &machine, &run).await;
    let mut keys: Vec<&String> = gates.keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["ad_spend_gate", "listings_gate", "outreach_gate", "publish_gate"]
    );
    assert_eq!(
        sfn.execution_status("campaign-launch", &run).await.unwrap(),
        ExecutionStatus::Running
    );
    assert!(
        !entered_states(&sfn, &arn)
            .await
            .contains(&"Synthesis".to_string())
    );

    for token in gates.values() {
        sfn.send_task_success(token, json!({"verdict": "approved"}))
            .await
            .expect("resumed");
    }
    wait_for("the execution to succeed", || async {
        let d = sfn
            .client()
            .describe_execution()
            .execution_arn(&arn)
            .send()
            .await
            .unwrap();
        (*d.status() == SfnStatus::Succeeded).then_some(())
    })
    .await;
    assert_eq!(
        sfn.execution_status("campaign-launch", &run).await.unwrap(),
        ExecutionStatus::Succeeded
    );
    let entered = entered_states(&sfn, &arn).await;
    for action in ["Publish listings", "Post", "Launch ads", "Send DMs", "Synthesis"] {
        assert!(
            entered.contains(&action.to_string()),
            "{action} never ran: {entered:?}"
        );
    }
    // A token of a finished execution is no longer valid.
    let used = gates.values().next().unwrap();
    assert!(matches!(
        sfn.send_task_success(used, json!({})).await,
        Err(OrchestratorError::InvalidToken)
    ));
}

#[tokio::test]
async fn a_rejection_fails_the_execution_with_rejected_and_synthesis_never_runs() {
    let moto = Moto::start();
    let (sfn, machine) = setup(&moto).await;
    let run = RunId::generate();
    let (arn, gates) = start_and_wait_for_gates(&sfn, &machine, &run).await;
    sfn.send_task_success(&gates["outreach_gate"], json!({"verdict": "approved"}))
        .await
        .unwrap();
    sfn.send_task_failure(
        &gates["listings_gate"],
        "Rejected",
        "Rejected at Listings: too salesy",
    )
    .await
    .expect("rejection delivered");
    let described = wait_for("the execution to fail", || async {
        let d = sfn
            .client()
            .describe_execution()
            .execution_arn(&arn)
            .send()
            .await
            .unwrap();
        (*d.status() == SfnStatus::Failed).then_some(d)
    })
    .await;
    assert_eq!(described.error(), Some("Rejected"));
    assert_eq!(
        sfn.execution_status("campaign-launch", &run).await.unwrap(),
        ExecutionStatus::Failed
    );
    let entered = entered_states(&sfn, &arn).await;
    assert!(!entered.contains(&"Synthesis".to_string()), "{entered:?}");
    assert!(
        entered.contains(&"Rejected".to_string()),
        "caught into the Rejected state: {entered:?}"
    );
    // The sibling gates' tokens were closed with their branches.
    assert!(matches!(
        sfn.send_task_success(&gates["publish_gate"], json!({})).await,
        Err(OrchestratorError::InvalidToken)
    ));
    assert!(matches!(
        sfn.execution_status("campaign-launch", &RunId::generate()).await,
        Err(OrchestratorError::NoExecution(_))
    ));
}
