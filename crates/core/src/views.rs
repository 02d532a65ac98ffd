//! The shapes the services answer with, as API.md names their fields.

use crate::model::*;
use crate::money::Money;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

fn usd(m: Money) -> f64 {
    m.usd()
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApprovalItem {
    pub step_id: String,
    pub run_id: String,
    pub workflow: String,
    pub workflow_name: String,
    pub step_key: String,
    pub step_label: String,
    pub target_output_field: String,
    pub created_at: Timestamp,
    pub summary: String,
    pub proposed_spend_usd: Option<f64>,
    pub proposed_daily_usd: Option<f64>,
    pub required_role: Option<String>,
    /// The run's title, to tell runs apart.
    pub run_title: Option<String>,
}

impl From<&Approval> for ApprovalItem {
    fn from(a: &Approval) -> Self {
        ApprovalItem {
            step_id: a.step_id.to_string(),
            run_id: a.run_id.to_string(),
            workflow: a.workflow.clone(),
            workflow_name: a.workflow_name.clone(),
            step_key: a.step_key.to_string(),
            step_label: a.step_label.clone(),
            target_output_field: a.target_output_field.clone(),
            created_at: a.created_at,
            summary: a.summary.clone(),
            proposed_spend_usd: a.proposed_spend.map(usd),
            proposed_daily_usd: a.proposed_daily.map(usd),
            required_role: a.required_role.clone(),
            run_title: a.run_title.clone(),
        }
    }
}

/// The Review card.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Card {
    pub step_id: String,
    pub run_id: String,
    pub workflow: String,
    pub workflow_name: String,
    pub step_key: String,
    pub step_label: String,
    pub status: StepStatus,
    pub target_output_field: String,
    pub proposal: Value,
    pub proposal_html: String,
    pub upstream_step_key: String,
    pub reasoning_trail: Vec<Value>,
    pub checklist: Vec<String>,
    pub summary: String,
    pub proposed_spend_usd: Option<f64>,
    pub proposed_daily_usd: Option<f64>,
    pub spend_cap_remaining_usd: f64,
    pub run_cost_so_far_usd: f64,
    pub required_role: Option<String>,
    pub blocking: bool,
    pub brief: Value,
    pub created_at: Timestamp,
    pub proposal_digest: String,
    pub decision: Option<Decision>,
    /// The approver agent's view, when it has one.
    pub suggestion: Option<Suggestion>,
    /// Approved with an edit: what was approved (and sent) instead of the proposal.
    pub approved_edit: Option<Value>,
}

/// The approver agent's view of a card (API.md): its predicted verdict
/// with the confidence and the reasons and, for a predicted rejection, the
/// proposal edited where its rules could, with what they could not do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Suggestion {
    /// `approve` or `reject`.
    pub predicted_verdict: String,
    /// The probability of the predicted verdict, 0.5–1.0.
    pub confidence: f64,
    /// The proposal with the pre-edits, for a predicted rejection the rules could address.
    pub edited_proposal: Option<Value>,
    /// The edit's own digest.
    pub edited_proposal_digest: Option<String>,
    /// Why, in words: the features that weighed most, and past feedback of
    /// similar rejected proposals, quoted.
    pub reasons: Vec<String>,
    /// The edits made.
    #[serde(default)]
    pub edits: Vec<String>,
    /// What the learnt reasons ask for that no rule could do.
    #[serde(default)]
    pub could_not: Vec<String>,
    /// The feedback of the most similar rejected proposals.
    #[serde(default)]
    pub similar_feedback: Vec<PastFeedbackView>,
    /// The brand's written rules the proposal breaks: such a card is never auto-approved.
    #[serde(default)]
    pub rule_breaks: Vec<String>,
    /// Decisions at this gate the model learnt from.
    pub learnt_from: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PastFeedbackView {
    pub feedback: String,
    pub at: String,
}

/// Per gate: what the approver agent learnt from and how well it agreed
/// with people (`GET /api/approver/stats`).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GateStats {
    pub workflow: String,
    pub gate: String,
    pub gate_label: String,
    /// Decisions kept for this gate (the training data), and how many were rejections.
    pub decisions: usize,
    pub rejected: usize,
    /// Decisions the current model learnt from (0: too few to learn yet).
    pub learnt_from: usize,
    /// Decisions made while a prediction was on the card (shadow mode).
    pub predicted: usize,
    /// Of those, the share where the prediction matched the decision.
    pub agreement: Option<f64>,
    /// Of the predicted rejections, the share people rejected.
    pub precision: Option<f64>,
    /// Of people's rejections, the share predicted.
    pub recall: Option<f64>,
    /// Decisions the agent made itself.
    pub auto_approved: usize,
    /// The gate's auto-approve setting: `null` when off.
    pub auto_approve: Option<crate::model::AutoApprove>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DecideResponse {
    pub step_id: String,
    pub run_id: String,
    pub status: StepStatus,
    pub decision: Decision,
    /// On a rejection: `failed` when the gate blocks (the run ends), else
    /// `running` (the run goes on without the gate's action). Absent on an
    /// approval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_status: Option<RunStatus>,
    /// On a rejection: why the run failed, `null` when it goes on. Absent on
    /// an approval.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, nullable = true))]
    pub run_error: Option<Option<String>>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rejection {
    pub step_label: String,
    pub feedback: String,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepView {
    pub step_id: String,
    pub step_key: String,
    pub label: String,
    pub kind: String,
    pub status: StepStatus,
    pub after: Vec<String>,
    pub output: Option<Value>,
    pub cost_usd: f64,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub decision: Option<Decision>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunView {
    pub run_id: String,
    pub workflow: String,
    pub workflow_name: String,
    pub status: RunStatus,
    pub error: Option<String>,
    pub rejections: Vec<Rejection>,
    pub brief: Value,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub cost_usd: f64,
    pub created_by: Actor,
    pub rerun_of: Option<String>,
    pub steps: Vec<StepView>,
}

pub fn rejections(record: &RunRecord) -> Vec<Rejection> {
    record
        .steps
        .iter()
        .filter_map(|s| {
            let d = s.decision.as_ref()?;
            (d.verdict == Verdict::Rejected).then(|| Rejection {
                step_label: s.label.clone(),
                feedback: d.feedback.clone().unwrap_or_default(),
            })
        })
        .collect()
}

impl From<&RunRecord> for RunView {
    fn from(r: &RunRecord) -> Self {
        RunView {
            run_id: r.run.id.to_string(),
            workflow: r.run.workflow.clone(),
            workflow_name: r.run.workflow_name.clone(),
            status: r.run.status,
            error: r.run.error.clone(),
            rejections: rejections(r),
            brief: r.run.brief.clone(),
            created_at: r.run.created_at,
            finished_at: r.run.finished_at,
            cost_usd: usd(r.cost()),
            created_by: r.run.created_by.clone(),
            rerun_of: r.run.rerun_of.as_ref().map(ToString::to_string),
            steps: r
                .steps
                .iter()
                .map(|s| StepView {
                    step_id: s.step_id().to_string(),
                    step_key: s.key.to_string(),
                    label: s.label.clone(),
                    kind: s.kind.clone(),
                    status: s.status,
                    after: s.after.clone(),
                    output: s.output.as_deref().cloned(),
                    cost_usd: usd(s.cost),
                    started_at: s.started_at,
                    finished_at: s.finished_at,
                    decision: s.decision.clone(),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunSummary {
    pub run_id: String,
    pub workflow: String,
    pub workflow_name: String,
    pub title: Option<String>,
    pub status: RunStatus,
    pub error: Option<String>,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub cost_usd: f64,
    pub pending_approvals: usize,
}

impl From<&RunRecord> for RunSummary {
    fn from(r: &RunRecord) -> Self {
        RunSummary {
            run_id: r.run.id.to_string(),
            workflow: r.run.workflow.clone(),
            workflow_name: r.run.workflow_name.clone(),
            title: r
                .run
                .brief
                .get("title")
                .and_then(Value::as_str)
                .map(str::to_string),
            status: r.run.status,
            error: r.run.error.clone(),
            created_at: r.run.created_at,
            finished_at: r.run.finished_at,
            cost_usd: usd(r.cost()),
            pending_approvals: r
                .steps
                .iter()
                .filter(|s| s.status == StepStatus::WaitingForApproval)
                .count(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventView {
    pub seq: u64,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub at: Timestamp,
    pub run_id: String,
    pub data: Value,
}

impl From<&Event> for EventView {
    fn from(e: &Event) -> Self {
        EventView {
            seq: e.seq,
            kind: e.kind,
            at: e.at,
            run_id: e.run_id.to_string(),
            data: e.data.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutboxView {
    pub step_id: String,
    pub run_id: String,
    pub step_key: String,
    pub action: String,
    pub payload: Value,
    pub sent_at: Timestamp,
}

impl From<&OutboxItem> for OutboxView {
    fn from(o: &OutboxItem) -> Self {
        OutboxView {
            step_id: o.step_id.to_string(),
            run_id: o.run_id.to_string(),
            step_key: o.step_key.to_string(),
            action: o.action.clone(),
            payload: o.payload.clone(),
            sent_at: o.sent_at,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditView {
    pub id: String,
    pub at: Timestamp,
    pub actor: Actor,
    pub action: String,
    pub run_id: String,
    pub step_id: String,
    pub text: Option<String>,
}

impl From<&AuditEntry> for AuditView {
    fn from(a: &AuditEntry) -> Self {
        AuditView {
            id: a.id.clone(),
            at: a.at,
            actor: a.actor.clone(),
            action: a.action.clone(),
            run_id: a.run_id.to_string(),
            step_id: a.step_id.to_string(),
            text: a.text.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GateView {
    pub step_key: String,
    pub label: String,
    pub target_output_field: String,
    pub upstream_step_key: String,
    pub blocking: bool,
    /// `{"required_role": "…", "when_spend_over_usd": …}`: who may decide.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub policy: Option<greenlight_recipes::GatePolicy>,
    pub checklist: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkflowView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub brief_schema: Value,
    pub gates: Vec<GateView>,
    /// The recipe's steps: `key`, `kind`, `label`, `after`, and per kind
    /// `agent`, `gate` or `action`.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub graph: Vec<greenlight_recipes::Step>,
}
