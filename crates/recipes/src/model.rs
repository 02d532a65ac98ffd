//! The recipe format: what a YAML file in `state-machines/recipes/` says.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A recipe as written in YAML, before validation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecipe {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The brief schema: field name → field spec.
    #[serde(default)]
    pub brief: BTreeMap<String, BriefField>,
    pub steps: Vec<RawStep>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub key: String,
    pub kind: StepKind,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub agent: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub after: Vec<String>,
    #[serde(default)]
    pub target_output_field: Option<String>,
    #[serde(default)]
    pub policy: Option<GatePolicy>,
    #[serde(default)]
    pub blocking: Option<bool>,
    #[serde(default)]
    pub checklist: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    Agent,
    ApprovalGate,
    Action,
    Synthesis,
}

impl StepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Agent => "agent",
            StepKind::ApprovalGate => "approval_gate",
            StepKind::Action => "action",
            StepKind::Synthesis => "synthesis",
        }
    }

    pub fn parse(s: &str) -> Option<StepKind> {
        [
            StepKind::Agent,
            StepKind::ApprovalGate,
            StepKind::Action,
            StepKind::Synthesis,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// Who may decide a gate: `required_role`, always or only when the
/// proposal's committed spend is over `when_spend_over_usd`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatePolicy {
    pub required_role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when_spend_over_usd: Option<f64>,
}

/// One field of a recipe's brief schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BriefField {
    #[serde(rename = "type")]
    pub ty: BriefType,
    #[serde(default)]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclusive_minimum: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_items: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_items: Option<usize>,
    /// For `run_id` fields: the workflow the referenced run must be of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BriefType {
    String,
    Number,
    Integer,
    /// A list of product ids of the workspace's catalog.
    ProductIds,
    /// The id of a succeeded run of the workspace.
    RunId,
}

/// The actions a recipe may name; each is an outbound effect behind a gate.
pub const ACTIONS: [&str; 4] = ["publish_listings", "post", "launch_ads", "send_dms"];

/// A validated step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub key: String,
    pub label: String,
    pub kind: StepKind,
    /// The agent id for agent steps, the action id for action steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    pub after: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<Gate>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gate {
    pub target_output_field: String,
    /// The agent step whose output holds `target_output_field`.
    pub upstream_step_key: String,
    pub blocking: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<GatePolicy>,
    pub checklist: Vec<String>,
}

/// The series-parallel shape of a recipe: what the ASL is made of.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Block {
    Step(String),
    Parallel(Vec<Vec<Block>>),
}

/// A recipe that passed validation.
#[derive(Debug, Clone, Serialize)]
pub struct Recipe {
    pub id: String,
    pub name: String,
    pub description: String,
    pub brief: BTreeMap<String, BriefField>,
    pub steps: Vec<Step>,
    #[serde(skip)]
    pub plan: Vec<Block>,
}

impl Recipe {
    pub fn step(&self, key: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.key == key)
    }

    /// Every step the given one depends on, directly or not, in recipe order.
    pub fn ancestors(&self, key: &str) -> Vec<&Step> {
        let mut seen: Vec<&str> = Vec::new();
        let mut stack: Vec<&str> = vec![key];
        while let Some(k) = stack.pop() {
            if let Some(step) = self.step(k) {
                for a in &step.after {
                    if !seen.contains(&a.as_str()) {
                        seen.push(a);
                        stack.push(a);
                    }
                }
            }
        }
        self.steps
            .iter()
            .filter(|s| seen.contains(&s.key.as_str()))
            .collect()
    }

    /// The gates of the recipe, in recipe order.
    pub fn gates(&self) -> impl Iterator<Item = (&Step, &Gate)> {
        self.steps.iter().filter_map(|s| s.gate.as_ref().map(|g| (s, g)))
    }
}
