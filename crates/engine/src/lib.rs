//! The local orchestrator: a durable interpreter of the Amazon States
//! Language subset that Greenlight's recipes compile to.
//!
//! It runs the committed `.asl.json` definitions themselves. Durability is by
//! replay: every task outcome is written to a [`Journal`] before the
//! execution moves on; after a restart an execution is run again from its
//! start, and each task whose outcome is journaled returns that outcome
//! instead of running again. A task that was running when the process died
//! has no outcome and runs again (at least once); a gate waiting on its task
//! token re-opens with the same token and waits on.

pub mod asl;
mod run;

pub use asl::{DefinitionError, Machine};
pub use run::{DEFAULT_LIVE_PAUSED, Engine, EngineError};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A task's failure: `error` is what `Retry`/`Catch` match on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub error: String,
    pub cause: String,
}

/// How one task attempt ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskOutcome {
    Succeeded(Value),
    Failed(Failure),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    Running,
    Succeeded,
    Failed,
}

impl ExecutionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
        }
    }

    pub fn parse(s: &str) -> Option<ExecutionStatus> {
        [
            ExecutionStatus::Running,
            ExecutionStatus::Succeeded,
            ExecutionStatus::Failed,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// An execution as the journal keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionRecord {
    pub name: String,
    pub machine: String,
    pub input: Value,
    pub start_time: String,
    pub status: ExecutionStatus,
    pub output: Option<Value>,
    pub failure: Option<Failure>,
    /// Whether the listener has been told how it ended.
    pub notified: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("journal unavailable: {0}")]
pub struct JournalError(pub String);

/// Where the engine persists executions and task outcomes.
#[async_trait]
pub trait Journal: Send + Sync {
    /// Creates the execution; `false` if one with that name exists.
    async fn create_execution(&self, record: &ExecutionRecord) -> Result<bool, JournalError>;
    async fn get_execution(&self, name: &str) -> Result<Option<ExecutionRecord>, JournalError>;
    /// Executions still running, and finished ones whose end was not yet reported.
    async fn unfinished(&self) -> Result<Vec<ExecutionRecord>, JournalError>;
    /// Records a task attempt's outcome; `false` if one was already recorded.
    async fn record_task(
        &self,
        execution: &str,
        task_key: &str,
        outcome: &TaskOutcome,
    ) -> Result<bool, JournalError>;
    async fn task_outcome(
        &self,
        execution: &str,
        task_key: &str,
    ) -> Result<Option<TaskOutcome>, JournalError>;
    /// Every task outcome an execution has recorded, by task key (what a
    /// replay reads once instead of one task at a time).
    async fn task_outcomes(
        &self,
        execution: &str,
    ) -> Result<std::collections::HashMap<String, TaskOutcome>, JournalError>;
    async fn finish_execution(
        &self,
        name: &str,
        status: ExecutionStatus,
        output: Option<&Value>,
        failure: Option<&Failure>,
    ) -> Result<(), JournalError>;
    async fn mark_notified(&self, name: &str) -> Result<(), JournalError>;
}

/// Runs the function a task names: the same handlers the Lambda binaries wrap.
#[async_trait]
pub trait Invoker: Send + Sync {
    async fn invoke(&self, function: &str, payload: Value) -> Result<Value, Failure>;
}

/// Told when an execution ends (the run finalizer).
#[async_trait]
pub trait Listener: Send + Sync {
    async fn execution_finished(&self, record: &ExecutionRecord) -> Result<(), String>;
}
