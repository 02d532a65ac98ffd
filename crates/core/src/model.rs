//! Domain records: what the store keeps and the services reason about.

use crate::ids::*;
use crate::money::Money;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    /// Monthly cap on external spend (ad budgets).
    pub spend_cap: Money,
    /// The brand data agents work from (`greenlight_agents::WorkspaceData` as JSON).
    pub data: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub workspace_id: WorkspaceId,
    pub id: MemberId,
    pub name: String,
    /// Always includes `member`.
    pub roles: Vec<String>,
}

impl Member {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    pub fn actor(&self) -> Actor {
        Actor {
            member_id: self.id.to_string(),
            name: self.name.clone(),
        }
    }
}

/// Who did something, as API.md shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Actor {
    pub member_id: String,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<RunStatus> {
        [RunStatus::Running, RunStatus::Succeeded, RunStatus::Failed]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum StepStatus {
    Pending,
    Running,
    WaitingForApproval,
    Succeeded,
    Failed,
    Cancelled,
    Skipped,
}

impl StepStatus {
    pub const ALL: [StepStatus; 7] = [
        StepStatus::Pending,
        StepStatus::Running,
        StepStatus::WaitingForApproval,
        StepStatus::Succeeded,
        StepStatus::Failed,
        StepStatus::Cancelled,
        StepStatus::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::Running => "running",
            StepStatus::WaitingForApproval => "waiting_for_approval",
            StepStatus::Succeeded => "succeeded",
            StepStatus::Failed => "failed",
            StepStatus::Cancelled => "cancelled",
            StepStatus::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<StepStatus> {
        StepStatus::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            StepStatus::Succeeded | StepStatus::Failed | StepStatus::Cancelled | StepStatus::Skipped
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Verdict {
    Approved,
    Rejected,
}

/// A person's (or the approver agent's) decision on a gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Decision {
    pub verdict: Verdict,
    pub actor: Actor,
    pub at: Timestamp,
    pub comment: Option<String>,
    pub feedback: Option<String>,
}

/// A run: one execution of a recipe.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    pub id: RunId,
    pub workspace_id: WorkspaceId,
    pub workflow: String,
    pub workflow_name: String,
    pub brief: Value,
    pub status: RunStatus,
    pub error: Option<String>,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub created_by: Actor,
    pub rerun_of: Option<RunId>,
}

/// A step of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepRecord {
    pub run_id: RunId,
    pub key: StepKey,
    pub label: String,
    /// `agent`, `approval_gate`, `action` or `synthesis`.
    pub kind: String,
    pub status: StepStatus,
    pub after: Vec<String>,
    /// Shared: the store may hand the same output to every step that reads it.
    pub output: Option<Arc<Value>>,
    pub trail: Vec<Value>,
    pub cost: Money,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub decision: Option<Decision>,
}

impl StepRecord {
    pub fn step_id(&self) -> StepId {
        StepId::new(&self.run_id, &self.key)
    }
}

#[derive(Debug, Clone)]
pub struct RunRecord {
    pub run: Run,
    /// In recipe order.
    pub steps: Vec<StepRecord>,
}

impl RunRecord {
    pub fn step(&self, key: &str) -> Option<&StepRecord> {
        self.steps.iter().find(|s| s.key.as_str() == key)
    }

    pub fn cost(&self) -> Money {
        self.steps.iter().map(|s| s.cost).sum()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    Pending,
    Decided,
    Cancelled,
}

/// What a gate shows in the queue, fixed when the gate opens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Approval {
    pub step_id: StepId,
    pub workspace_id: WorkspaceId,
    pub run_id: RunId,
    pub step_key: StepKey,
    pub step_label: String,
    pub workflow: String,
    pub workflow_name: String,
    pub target_output_field: String,
    pub upstream_step_key: String,
    pub created_at: Timestamp,
    pub status: ApprovalStatus,
    pub summary: String,
    pub proposed_spend: Option<Money>,
    pub proposed_daily: Option<Money>,
    pub required_role: Option<String>,
    pub proposal_digest: String,
    /// The run's title (its brief's `title`), to tell runs apart in the queue.
    #[serde(default)]
    pub run_title: Option<String>,
    /// The approver agent's view, fixed when the gate opened.
    #[serde(default)]
    pub suggestion: Option<crate::views::Suggestion>,
}

/// A step's output once it ran.
#[derive(Debug, Clone)]
pub struct StepResult {
    /// Shared with the store, which may keep it for the steps that read it next.
    pub output: Arc<Value>,
    pub trail: Vec<Value>,
    pub cost: Money,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EventType {
    #[serde(rename = "workflow_run.started")]
    RunStarted,
    #[serde(rename = "workflow_run.succeeded")]
    RunSucceeded,
    #[serde(rename = "workflow_run.failed")]
    RunFailed,
    #[serde(rename = "step.started")]
    StepStarted,
    #[serde(rename = "step.succeeded")]
    StepSucceeded,
    #[serde(rename = "step.failed")]
    StepFailed,
    #[serde(rename = "approval.requested")]
    ApprovalRequested,
    #[serde(rename = "approval.approved")]
    ApprovalApproved,
    #[serde(rename = "approval.rejected")]
    ApprovalRejected,
    #[serde(rename = "approval.cancelled")]
    ApprovalCancelled,
}

impl EventType {
    pub const ALL: [EventType; 10] = [
        EventType::RunStarted,
        EventType::RunSucceeded,
        EventType::RunFailed,
        EventType::StepStarted,
        EventType::StepSucceeded,
        EventType::StepFailed,
        EventType::ApprovalRequested,
        EventType::ApprovalApproved,
        EventType::ApprovalRejected,
        EventType::ApprovalCancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::RunStarted => "workflow_run.started",
            EventType::RunSucceeded => "workflow_run.succeeded",
            EventType::RunFailed => "workflow_run.failed",
            EventType::StepStarted => "step.started",
            EventType::StepSucceeded => "step.succeeded",
            EventType::StepFailed => "step.failed",
            EventType::ApprovalRequested => "approval.requested",
            EventType::ApprovalApproved => "approval.approved",
            EventType::ApprovalRejected => "approval.rejected",
            EventType::ApprovalCancelled => "approval.cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// An event to append to a run's stream; the store numbers it.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub kind: EventType,
    pub data: Value,
}

/// An event of a run's live stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    pub run_id: RunId,
    pub seq: u64,
    pub kind: EventType,
    pub at: Timestamp,
    pub data: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: String,
    pub workspace_id: WorkspaceId,
    pub at: Timestamp,
    pub actor: Actor,
    pub action: String,
    pub run_id: RunId,
    pub step_id: StepId,
    pub text: Option<String>,
}

/// What an action sent, once its gate was approved.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboxItem {
    pub step_id: StepId,
    pub workspace_id: WorkspaceId,
    pub run_id: RunId,
    pub step_key: StepKey,
    pub action: String,
    pub payload: Value,
    pub sent_at: Timestamp,
}

/// How a waiting gate task is to be resumed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ResumeAction {
    Success { output: Value },
    Failure { error: String, cause: String },
}

/// A resume that the decision committed and the resumer still has to deliver.
#[derive(Debug, Clone)]
pub struct PendingResume {
    pub step_id: StepId,
    pub task_token: String,
    pub action: ResumeAction,
    pub attempts: u32,
}

/// A page of a list, newest first.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// What page to read: `limit` is already within bounds.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub limit: usize,
    pub cursor: Option<String>,
}

/// One decision as the approver agent learns from it: DESIGN.md's decision
/// history, kept per (workspace, workflow, gate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HistoryEntry {
    pub workflow: String,
    /// The gate's step key.
    pub gate: String,
    pub step_id: String,
    pub at: Timestamp,
    /// The proposal as shown, and its digest.
    pub proposal: Value,
    pub proposal_digest: String,
    pub verdict: Verdict,
    pub feedback: Option<String>,
    pub comment: Option<String>,
    /// What the approver sent instead, with its own digest.
    #[serde(default)]
    pub edited_proposal: Option<Value>,
    #[serde(default)]
    pub edited_proposal_digest: Option<String>,
    pub actor: Actor,
    /// The brief's whole budget (`budget_usd_per_day` × `campaign_days`), if it had one.
    #[serde(default)]
    pub brief_budget_usd: Option<f64>,
    /// What was left of the month's spend cap, for a proposal that commits spend.
    #[serde(default)]
    pub spend_cap_remaining_usd: Option<f64>,
    /// The approver agent's prediction for the card, if it had one (shadow mode).
    #[serde(default)]
    pub prediction: Option<ShadowPrediction>,
    /// Invented sample data, not a person's decision.
    #[serde(default)]
    pub synthetic: bool,
}

/// What the approver agent predicted for a card, kept with the decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShadowPrediction {
    /// `approve` or `reject`.
    pub predicted_verdict: String,
    pub confidence: f64,
}

/// A workspace's approver agent settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ApproverSettings {
    /// The gates opted in to auto-approve; none by default.
    #[serde(default)]
    pub auto_approve: Vec<AutoApprove>,
}

/// One gate opted in to auto-approve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AutoApprove {
    pub workflow: String,
    pub gate: String,
    /// The least confidence in an approval at which the agent approves, 0.5–1.0.
    pub threshold: f64,
    /// A gate whose proposal commits spend needs this too.
    #[serde(default)]
    pub spend: bool,
}

impl ApproverSettings {
    pub fn for_gate(&self, workflow: &str, gate: &str) -> Option<&AutoApprove> {
        self.auto_approve
            .iter()
            .find(|a| a.workflow == workflow && a.gate == gate)
    }
}
