//! The Orchestrator port on AWS Step Functions (`aws-sdk-sfn`).
//!
//! A run is an execution of its workflow's state machine, named by the run
//! id, so a second start of the same run is refused by Step Functions rather
//! than run twice. Gates are resumed with `SendTaskSuccess`/`SendTaskFailure`
//! by the resumer, after the decision transaction committed; a token that is
//! no longer valid (its branch was closed by a sibling's rejection, or it was
//! already used) is reported as `InvalidToken`, and the resumer then reads the
//! execution's status instead of assuming anything.

use async_trait::async_trait;
use aws_sdk_sfn::Client;
use aws_sdk_sfn::error::{DisplayErrorContext, SdkError};
use aws_sdk_sfn::types::ExecutionStatus as SfnStatus;
use greenlight_core::ids::RunId;
use greenlight_core::ports::{ExecutionStatus, Orchestrator, OrchestratorError};
use serde_json::Value;
use std::collections::HashMap;

/// Step Functions limits a task failure's `cause` to 32,768 characters and its `error` to 256.
const MAX_CAUSE: usize = 32_768;
const MAX_ERROR: usize = 256;

pub struct SfnOrchestrator {
    client: Client,
    /// Workflow id → state machine ARN.
    machines: HashMap<String, String>,
}

fn unavailable<E: std::error::Error + 'static, R: std::fmt::Debug>(e: SdkError<E, R>) -> OrchestratorError {
    OrchestratorError::Unavailable(DisplayErrorContext(&e).to_string())
}

/// A token that names no waiting task (used, timed out, or its branch
/// closed) is `InvalidToken`; anything else is the service being unavailable.
fn token_error<E: std::error::Error + 'static, R: std::fmt::Debug>(
    e: SdkError<E, R>,
    invalid: impl Fn(&E) -> bool,
) -> OrchestratorError {
    if e.as_service_error().is_some_and(invalid) {
        OrchestratorError::InvalidToken
    } else {
        unavailable(e)
    }
}

fn clip(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

impl SfnOrchestrator {
    pub fn new(client: Client, machines: HashMap<String, String>) -> SfnOrchestrator {
        SfnOrchestrator { client, machines }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    fn machine(&self, workflow: &str) -> Result<&str, OrchestratorError> {
        self.machines.get(workflow).map(String::as_str).ok_or_else(|| {
            OrchestratorError::Unavailable(format!(
                "no state machine is configured for workflow `{workflow}`"
            ))
        })
    }

    /// `arn:…:stateMachine:<name>` → `arn:…:execution:<name>:<run id>`.
    pub fn execution_arn(machine_arn: &str, run_id: &RunId) -> String {
        format!(
            "{}:{run_id}",
            machine_arn.replacen(":stateMachine:", ":execution:", 1)
        )
    }
}

#[async_trait]
impl Orchestrator for SfnOrchestrator {
    async fn start(&self, workflow: &str, run_id: &RunId, input: Value) -> Result<(), OrchestratorError> {
        let machine = self.machine(workflow)?;
        let result = self
            .client
            .start_execution()
            .state_machine_arn(machine)
            .name(run_id.as_str())
            .input(input.to_string())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // The same run started twice (an event delivered twice): the first start stands.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_execution_already_exists()) =>
            {
                tracing::info!(run_id = %run_id, "execution already exists; not starting it again");
                Ok(())
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn send_task_success(&self, token: &str, output: Value) -> Result<(), OrchestratorError> {
        let sent = self
            .client
            .send_task_success()
            .task_token(token)
            .output(output.to_string())
            .send()
            .await;
        sent.map(drop).map_err(|e| {
            token_error(e, |s| {
                s.is_invalid_token() || s.is_task_timed_out() || s.is_task_does_not_exist()
            })
        })
    }

    async fn send_task_failure(
        &self,
        token: &str,
        error: &str,
        cause: &str,
    ) -> Result<(), OrchestratorError> {
        let sent = self
            .client
            .send_task_failure()
            .task_token(token)
            .error(clip(error, MAX_ERROR))
            .cause(clip(cause, MAX_CAUSE))
            .send()
            .await;
        sent.map(drop).map_err(|e| {
            token_error(e, |s| {
                s.is_invalid_token() || s.is_task_timed_out() || s.is_task_does_not_exist()
            })
        })
    }

    async fn execution_status(
        &self,
        workflow: &str,
        run_id: &RunId,
    ) -> Result<ExecutionStatus, OrchestratorError> {
        let arn = Self::execution_arn(self.machine(workflow)?, run_id);
        match self.client.describe_execution().execution_arn(&arn).send().await {
            Ok(out) => Ok(match out.status() {
                SfnStatus::Running | SfnStatus::PendingRedrive => ExecutionStatus::Running,
                SfnStatus::Succeeded => ExecutionStatus::Succeeded,
                _ => ExecutionStatus::Failed,
            }),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_execution_does_not_exist()) =>
            {
                Err(OrchestratorError::NoExecution(run_id.to_string()))
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}
