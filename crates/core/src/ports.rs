//! Ports: the traits the core drives. Each has a local adapter (SQLite, the
//! local engine, files) and an AWS one (DynamoDB, Step Functions, S3).

use crate::ids::*;
use crate::model::*;
use crate::money::Money;
use crate::time::Timestamp;
use async_trait::async_trait;
use serde_json::Value;

/// Failures of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A pagination cursor that this store did not issue for this caller.
    #[error("the cursor is not valid for this list")]
    BadCursor,
    /// A record with that id already exists.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The backend failed; retrying may help.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data that does not decode: a bug or a manual edit.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A new run with its steps, all `pending`, and its `workflow_run.started` event.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub run: Run,
    pub steps: Vec<StepRecord>,
    pub started: NewEvent,
}

/// A conditional step transition: applied only while the run is running and
/// the step's status is one of `from`.
#[derive(Debug, Clone)]
pub struct StepUpdate {
    pub run_id: RunId,
    pub key: StepKey,
    pub from: Vec<StepStatus>,
    pub to: StepStatus,
    pub result: Option<StepResult>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub events: Vec<NewEvent>,
}

impl StepUpdate {
    /// When an event of this update happened: a step's start at the update's
    /// `started_at`, anything else at its `finished_at` (each failing the
    /// other; `None` if it has neither).
    pub fn event_at(&self, e: &NewEvent) -> Option<Timestamp> {
        match e.kind {
            EventType::StepStarted => self.started_at.or(self.finished_at),
            _ => self.finished_at.or(self.started_at),
        }
    }
}

/// A gate task arrived: open its approval, or refresh its task token.
#[derive(Debug, Clone)]
pub struct OpenGate {
    pub approval: Approval,
    pub task_token: String,
    pub events: Vec<NewEvent>,
    /// Compute spent preparing the card (the approver agent's rewrite by a
    /// language model), added to the gate step's cost when it opens.
    pub cost: Money,
}

#[derive(Debug, Clone, PartialEq)]
pub enum GateOpened {
    /// The approval is now in the queue.
    Waiting,
    /// The approval already was in the queue (a retried gate task): its
    /// token was replaced, the approval (and its suggestion) kept as it was.
    StillWaiting,
    /// The gate was decided before this task arrived: its resume has been
    /// re-armed with the new token.
    AlreadyDecided,
    /// The gate was cancelled, or the run is no longer running.
    Closed,
}

/// The decision transaction of DESIGN.md: all of it or nothing.
#[derive(Debug, Clone)]
pub struct DecisionWrite {
    pub workspace_id: WorkspaceId,
    pub step_id: StepId,
    pub decision: Decision,
    /// `succeeded` for an approval, `failed` for a rejection.
    pub step_status: StepStatus,
    pub step_output: Value,
    pub audit: AuditEntry,
    pub events: Vec<NewEvent>,
    /// For a blocking rejection: the run's error; the run fails and its other
    /// pending gates are cancelled in the same transaction.
    pub fail_run: Option<FailRun>,
    pub resume: ResumeAction,
    /// Spend to reserve in the month's aggregate, under the cap.
    pub reserve: Option<SpendReservation>,
    /// The decision as the approver agent's training data.
    pub history: HistoryEntry,
}

#[derive(Debug, Clone)]
pub struct FailRun {
    pub error: String,
    /// Appended after the cancellations: `workflow_run.failed`.
    pub event: NewEvent,
}

#[derive(Debug, Clone)]
pub struct SpendReservation {
    pub month: String,
    pub amount: Money,
    pub cap: Money,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DecisionApplied {
    Applied {
        cancelled: Vec<StepId>,
    },
    /// The step was no longer waiting, or the run no longer running.
    Conflict,
    /// The reservation would take the month past the cap.
    OverCap {
        remaining: Money,
    },
}

/// Filters of the approvals queue.
#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    pub workflow: Option<String>,
    pub step_key: Option<String>,
}

/// How a run ended, as the orchestrator reports it.
#[derive(Debug, Clone)]
pub struct FinishRun {
    pub run_id: RunId,
    pub status: RunStatus,
    pub error: Option<String>,
    pub at: Timestamp,
    pub event: NewEvent,
}

/// A response kept for replay under an `Idempotency-Key` (API.md): a
/// request that repeats an earlier one with the same key gets it again.
#[derive(Debug, Clone, PartialEq)]
pub struct KeptResponse {
    pub workspace_id: WorkspaceId,
    pub member_id: MemberId,
    /// The client's key.
    pub key: String,
    /// The request it answered (method, path and body), hashed: the same
    /// key on a different request is refused, not replayed.
    pub fingerprint: String,
    pub status: u16,
    /// The JSON body.
    pub body: String,
    /// The `Location` header, if the response had one.
    pub location: Option<String>,
    pub created_at: Timestamp,
    /// After this it is as if it was never kept.
    pub expires_at: Timestamp,
}

/// The store: domain operations, each one atomic.
#[async_trait]
pub trait Store: Send + Sync {
    async fn put_workspace(&self, ws: &Workspace) -> StoreResult<()>;
    async fn get_workspace(&self, id: &WorkspaceId) -> StoreResult<Option<Workspace>>;
    /// A number that changes whenever `put_workspace` writes the workspace,
    /// read without its data, so the services can keep its brand data parsed
    /// between calls. `None` if the workspace does not exist, or if the
    /// adapter cannot tell cheaply and surely which write it is at (then it
    /// is read in full each time).
    async fn workspace_revision(&self, _id: &WorkspaceId) -> StoreResult<Option<u64>> {
        Ok(None)
    }
    async fn put_member(&self, member: &Member) -> StoreResult<()>;
    async fn get_member(&self, ws: &WorkspaceId, id: &MemberId) -> StoreResult<Option<Member>>;
    /// Stores a token by its hash only.
    async fn put_token(&self, token_hash: &str, member: &Member, dev_only: bool) -> StoreResult<()>;
    /// Revokes a token; `false` if there was none with that hash.
    async fn delete_token(&self, token_hash: &str) -> StoreResult<bool>;
    /// The member a token hash belongs to, and whether it is a dev-only token.
    async fn member_by_token(&self, token_hash: &str) -> StoreResult<Option<(Member, bool)>>;

    /// Creates a run with its steps; `AlreadyExists` if the id is taken.
    async fn create_run(&self, new: &NewRun) -> StoreResult<()>;
    async fn get_run(&self, id: &RunId) -> StoreResult<Option<RunRecord>>;
    /// The run as [`get_run`](Store::get_run) has it, with every step's
    /// `trail` left empty: for everything but the approval card, which is
    /// all that shows trails (they are most of a run's bytes).
    async fn get_run_without_trails(&self, id: &RunId) -> StoreResult<Option<RunRecord>> {
        self.get_run(id).await
    }
    /// The run without trails, as [`get_run_without_trails`](Store::get_run_without_trails)
    /// has it, but with the outputs of the steps in `keys` only: every other
    /// step's `output` is `None`, whatever it is. What a task reads: the
    /// steps it depends on, not every draft of the run.
    async fn get_run_with_outputs_of(&self, id: &RunId, keys: &[StepKey]) -> StoreResult<Option<RunRecord>> {
        let mut found = self.get_run_without_trails(id).await?;
        for step in found.iter_mut().flat_map(|r| r.steps.iter_mut()) {
            if !keys.contains(&step.key) {
                step.output = None;
            }
        }
        Ok(found)
    }
    /// The run without trails with only the steps in `keys`, outputs and
    /// all, in the run's order (a key the run lacks is left out): what a
    /// task reads once it knows the steps it depends on.
    async fn get_run_with_steps(&self, id: &RunId, keys: &[StepKey]) -> StoreResult<Option<RunRecord>> {
        let mut found = self.get_run_with_outputs_of(id, keys).await?;
        if let Some(r) = found.as_mut() {
            r.steps.retain(|s| keys.contains(&s.key));
        }
        Ok(found)
    }
    /// A workspace's runs, newest first; their steps' trails may be left
    /// empty (lists never show them).
    async fn list_runs(
        &self,
        ws: &WorkspaceId,
        status: Option<RunStatus>,
        page: &PageRequest,
    ) -> StoreResult<Page<RunRecord>>;

    /// Applies a conditional step transition; `false` if its condition failed.
    async fn update_step(&self, update: &StepUpdate) -> StoreResult<bool>;
    async fn open_gate(&self, open: &OpenGate) -> StoreResult<GateOpened>;
    async fn get_approval(&self, step_id: &StepId) -> StoreResult<Option<Approval>>;
    async fn list_pending(
        &self,
        ws: &WorkspaceId,
        filter: &QueueFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Approval>>;
    async fn apply_decision(&self, write: &DecisionWrite) -> StoreResult<DecisionApplied>;
    /// This month's reserved spend of the workspace.
    async fn month_spend(&self, ws: &WorkspaceId, month: &str) -> StoreResult<Money>;

    async fn pending_resumes(&self, limit: usize) -> StoreResult<Vec<PendingResume>>;
    /// Marks a resume delivered (or moot); idempotent.
    async fn resume_done(&self, step_id: &StepId) -> StoreResult<()>;
    async fn resume_failed_attempt(&self, step_id: &StepId) -> StoreResult<()>;

    /// Records an action's effect and the step's success at once; idempotent
    /// on the step id. `false` if the step was not running (nothing written).
    /// `gate` is the approved gate the action is behind: its spend
    /// reservation is consumed (a run that fails releases unconsumed ones).
    async fn complete_action(
        &self,
        item: &OutboxItem,
        update: &StepUpdate,
        gate: &StepId,
    ) -> StoreResult<bool>;
    /// Ends a run: sets its status (if still running) and closes its steps
    /// that never finished. `false` if the run had already ended.
    async fn finish_run(&self, finish: &FinishRun) -> StoreResult<bool>;

    async fn events_after(&self, run: &RunId, after: u64, limit: usize) -> StoreResult<Vec<Event>>;
    async fn list_audit(&self, ws: &WorkspaceId, page: &PageRequest) -> StoreResult<Page<AuditEntry>>;
    async fn list_outbox(&self, ws: &WorkspaceId, page: &PageRequest) -> StoreResult<Page<OutboxItem>>;
    /// Every run that is still running, oldest first (for recovery and tests).
    async fn running_runs(&self) -> StoreResult<Vec<RunId>>;

    /// Adds decisions to a workspace's history (imports: sample data, other
    /// systems); an entry already kept under the same (workflow, gate, at,
    /// step id) is left as it is.
    async fn add_history(&self, ws: &WorkspaceId, entries: &[HistoryEntry]) -> StoreResult<()>;
    /// A gate's decision history, newest first.
    async fn list_history(
        &self,
        ws: &WorkspaceId,
        workflow: &str,
        gate: &str,
        page: &PageRequest,
    ) -> StoreResult<Page<HistoryEntry>>;
    async fn put_approver_settings(&self, ws: &WorkspaceId, settings: &ApproverSettings) -> StoreResult<()>;
    /// The workspace's settings; the defaults (nothing opted in) if never set.
    async fn approver_settings(&self, ws: &WorkspaceId) -> StoreResult<ApproverSettings>;

    /// Keeps `response` unless an unexpired one is kept under the same
    /// (workspace, member, key); answers the one that stands.
    async fn keep_response(&self, response: &KeptResponse, now: Timestamp) -> StoreResult<KeptResponse>;
    /// The unexpired response kept under (workspace, member, key).
    async fn kept_response(
        &self,
        ws: &WorkspaceId,
        member: &MemberId,
        key: &str,
        now: Timestamp,
    ) -> StoreResult<Option<KeptResponse>>;
}

/// Why the orchestrator refused a call.
#[derive(Debug, thiserror::Error)]
pub enum OrchestratorError {
    /// The token names no waiting task: it was completed already, or its
    /// execution moved on (a sibling's rejection closed its branch).
    #[error("the task token is no longer valid")]
    InvalidToken,
    #[error("no execution named {0}")]
    NoExecution(String),
    #[error("orchestrator unavailable: {0}")]
    Unavailable(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionStatus {
    Running,
    Succeeded,
    Failed,
}

/// Starts runs and resumes waiting gates: Step Functions on AWS, the local
/// engine on one machine.
#[async_trait]
pub trait Orchestrator: Send + Sync {
    /// Starts an execution named by the run id; starting the same run twice
    /// is a no-op.
    async fn start(&self, workflow: &str, run_id: &RunId, input: Value) -> Result<(), OrchestratorError>;
    async fn send_task_success(&self, token: &str, output: Value) -> Result<(), OrchestratorError>;
    async fn send_task_failure(&self, token: &str, error: &str, cause: &str)
    -> Result<(), OrchestratorError>;
    async fn execution_status(
        &self,
        workflow: &str,
        run_id: &RunId,
    ) -> Result<ExecutionStatus, OrchestratorError>;
}

/// Runs an agent: the offline model, or one backed by a real LLM.
#[async_trait]
pub trait AgentRunner: Send + Sync {
    async fn run(
        &self,
        input: greenlight_agents::AgentInput<'_>,
    ) -> Result<greenlight_agents::AgentOutput, greenlight_agents::AgentError>;

    /// Whether every answer comes at once (pure functions, no model to
    /// wait on). A step is then written once, started and finished
    /// together, instead of being shown running first.
    fn answers_at_once(&self) -> bool {
        false
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob store unavailable: {0}")]
    Unavailable(String),
}

/// Large files: rendered assets. Files in the data directory locally, S3 on AWS.
#[async_trait]
pub trait BlobStore: Send + Sync {
    async fn put(&self, key: &str, content_type: &str, bytes: Vec<u8>) -> Result<(), BlobError>;
    /// The bytes and content type, or `None`.
    async fn get(&self, key: &str) -> Result<Option<(String, Vec<u8>)>, BlobError>;
}

/// What a proposal editor is asked: rewrite a proposal the approver agent
/// predicts will be rejected, addressing what people wrote about similar ones.
#[derive(Debug, Clone)]
pub struct EditRequest {
    pub workflow_name: String,
    pub gate_label: String,
    /// The gate's `target_output_field`: what the proposal is.
    pub field: String,
    /// The proposal to rewrite (already edited by the rules where they could).
    pub proposal: Value,
    /// Past feedback on similar rejected proposals, newest first.
    pub feedback: Vec<String>,
    /// Why the agent predicts a rejection, and what its rules could not do.
    pub reasons: Vec<String>,
    /// The brand's written rules, in words.
    pub brand_rules: Vec<String>,
}

/// A rewrite, and who made it.
#[derive(Debug, Clone)]
pub struct EditAnswer {
    pub proposal: Value,
    pub model: String,
    pub cost_micros: i64,
}

/// Rewrites proposals for the approver agent's pre-edits: a language model
/// with the past feedback in its prompt. Without one, the agent's rules
/// make the edits they can.
#[async_trait]
pub trait ProposalEditor: Send + Sync {
    async fn edit(&self, req: &EditRequest) -> Result<EditAnswer, String>;
}
