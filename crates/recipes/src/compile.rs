//! The compiler from a validated recipe to Amazon States Language.
//!
//! The shape is DESIGN.md's "The ASL that recipes compile to": tasks pass
//! references (`run_id`, `step_key`) and keep `ResultPath: null`; a gate is a
//! `.waitForTaskToken` task; a blocking rejection fails with `Rejected` and is
//! caught at the top into a `Fail` state; a non-blocking gate catches its own
//! rejection and skips its actions.

use crate::model::*;
use crate::validate::Problem;
use serde_json::{Map, Value, json};

/// Error names the ASL matches on. The functions raise them; a test checks
/// that the committed ASL uses exactly these.
pub mod errors {
    /// A blocking gate was rejected: the run fails.
    pub const REJECTED: &str = "Rejected";
    /// A transient failure of one of our functions: retried.
    pub const RETRYABLE: &str = "Greenlight.Retryable";
    /// Service errors of the Lambda integration: retried.
    pub const LAMBDA_SERVICE_ERRORS: [&str; 4] = [
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
    ];
}

pub const LAMBDA_INVOKE: &str = "arn:aws:states:::lambda:invoke";
pub const LAMBDA_INVOKE_WAIT: &str = "arn:aws:states:::lambda:invoke.waitForTaskToken";
/// The name of the top-level `Fail` state a blocking rejection ends in.
pub const REJECTED_STATE: &str = "Rejected";

/// `listing_optimizer` → `ListingOptimizer`.
pub fn pascal_case(snake: &str) -> String {
    snake
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect::<String>(),
                None => String::new(),
            }
        })
        .collect()
}

/// The function a step invokes, as the placeholder name used in the ASL
/// (`ListingOptimizerFunctionArn`), without `${}`.
pub fn function_placeholder(step: &Step) -> String {
    let base = match step.kind {
        StepKind::Agent => pascal_case(step.agent.as_deref().unwrap_or_default()),
        StepKind::Action => pascal_case(step.action.as_deref().unwrap_or_default()),
        StepKind::ApprovalGate => "ApprovalGate".to_string(),
        StepKind::Synthesis => "Synthesis".to_string(),
    };
    format!("{base}FunctionArn")
}

/// Every function placeholder any recipe may use: one per agent, per action,
/// the approval gate and synthesis.
pub fn all_function_placeholders() -> Vec<String> {
    let mut out: Vec<String> = greenlight_agents::AgentId::ALL
        .iter()
        .map(|a| format!("{}FunctionArn", pascal_case(a.as_str())))
        .collect();
    out.extend(ACTIONS.iter().map(|a| format!("{}FunctionArn", pascal_case(a))));
    out.push("ApprovalGateFunctionArn".into());
    out.sort();
    out.dedup();
    out
}

/// The ASL state name of a step.
pub fn state_name(step: &Step) -> String {
    match step.kind {
        StepKind::ApprovalGate => format!("{} approval", step.label),
        _ => step.label.clone(),
    }
}

fn skip_state_name(step: &Step) -> String {
    format!("{} rejected, actions skipped", step.label)
}

/// A non-blocking gate's rejection skips the actions that follow it in its
/// branch, so only actions may follow it there.
pub(crate) fn check_non_blocking_gates(recipe: &Recipe) -> Result<(), Problem> {
    fn walk(recipe: &Recipe, seq: &[Block]) -> Result<(), Problem> {
        for (i, block) in seq.iter().enumerate() {
            match block {
                Block::Parallel(branches) => {
                    for b in branches {
                        walk(recipe, b)?;
                    }
                }
                Block::Step(key) => {
                    let Some(step) = recipe.step(key) else { continue };
                    if let Some(gate) = &step.gate
                        && !gate.blocking
                    {
                        let followers = &seq[i + 1..];
                        let skipped = skipped_actions(recipe, step, followers);
                        if skipped == 0 {
                            return Err(Problem {
                                line: None,
                                step: Some(key.clone()),
                                message: "a non-blocking gate needs an action right after it, which its rejection skips".into(),
                            });
                        }
                    }
                }
            }
        }
        Ok(())
    }
    walk(recipe, &recipe.plan)
}

/// How many of `followers` are actions of `gate` that its rejection skips.
fn skipped_actions(recipe: &Recipe, gate: &Step, followers: &[Block]) -> usize {
    followers
        .iter()
        .take_while(|b| match b {
            Block::Step(k) => recipe.step(k).is_some_and(|s| {
                s.kind == StepKind::Action && recipe.ancestors(k).iter().any(|a| a.key == gate.key)
            }),
            Block::Parallel(_) => false,
        })
        .count()
}

/// Compiles a recipe to its ASL definition.
pub fn compile(recipe: &Recipe) -> Value {
    let mut states = Map::new();
    let start = compile_seq(recipe, &recipe.plan, None, true, &mut states);
    // Only a recipe with a blocking gate can end in a rejection.
    if recipe.plan.iter().any(|b| contains_blocking_gate(recipe, b)) {
        states.insert(
        REJECTED_STATE.to_string(),
        json!({
            "Type": "Fail",
            "Comment": "A reviewer rejected a blocking approval gate; the run fails and synthesis never runs.",
            "Error": errors::REJECTED,
            "Cause": "A blocking approval gate was rejected."
        }),
        );
    }
    json!({
        "Comment": format!(
            "{}: compiled from state-machines/recipes/{}.yaml by `greenlight recipes compile`. Do not edit by hand.",
            recipe.name, recipe.id
        ),
        "StartAt": start,
        "States": Value::Object(states),
    })
}

/// Compiles a sequence of blocks into `states`; returns the first state's name.
fn compile_seq(
    recipe: &Recipe,
    seq: &[Block],
    next: Option<&str>,
    top: bool,
    states: &mut Map<String, Value>,
) -> String {
    let names: Vec<String> = seq.iter().map(|b| block_name(recipe, b)).collect();
    for (i, block) in seq.iter().enumerate() {
        let after = names.get(i + 1).map(String::as_str).or(next);
        match block {
            Block::Step(key) => {
                let Some(step) = recipe.step(key) else { continue };
                let mut state = task_state(recipe, step);
                if let Some(gate) = &step.gate {
                    if !gate.blocking {
                        let skip = skip_state_name(step);
                        let skip_to = names
                            .get(i + 1 + skipped_actions(recipe, step, &seq[i + 1..]))
                            .map(String::as_str)
                            .or(next);
                        state.insert(
                            "Catch".into(),
                            json!([{"ErrorEquals": [errors::REJECTED], "ResultPath": null, "Next": skip}]),
                        );
                        let mut pass = Map::new();
                        pass.insert("Type".into(), json!("Pass"));
                        pass.insert(
                            "Comment".into(),
                            json!(format!(
                                "{} is non-blocking: its rejection skips its actions and the run goes on.",
                                step.label
                            )),
                        );
                        link(&mut pass, skip_to);
                        states.insert(skip, Value::Object(pass));
                    } else if top {
                        catch_rejection(&mut state);
                    }
                }
                link(&mut state, after);
                states.insert(names[i].clone(), Value::Object(state));
            }
            Block::Parallel(branches) => {
                let branches: Vec<Value> = branches
                    .iter()
                    .map(|b| {
                        let mut inner = Map::new();
                        let start = compile_seq(recipe, b, None, false, &mut inner);
                        json!({"StartAt": start, "States": Value::Object(inner)})
                    })
                    .collect();
                let mut state = Map::new();
                state.insert("Type".into(), json!("Parallel"));
                state.insert("Branches".into(), Value::Array(branches));
                state.insert("ResultPath".into(), Value::Null);
                if top && contains_blocking_gate(recipe, block) {
                    catch_rejection(&mut state);
                }
                link(&mut state, after);
                states.insert(names[i].clone(), Value::Object(state));
            }
        }
    }
    names.first().cloned().unwrap_or_default()
}

fn contains_blocking_gate(recipe: &Recipe, block: &Block) -> bool {
    match block {
        Block::Step(k) => recipe
            .step(k)
            .and_then(|s| s.gate.as_ref())
            .is_some_and(|g| g.blocking),
        Block::Parallel(branches) => branches
            .iter()
            .flatten()
            .any(|b| contains_blocking_gate(recipe, b)),
    }
}

fn catch_rejection(state: &mut Map<String, Value>) {
    state.insert(
        "Catch".into(),
        json!([{"ErrorEquals": [errors::REJECTED], "ResultPath": null, "Next": REJECTED_STATE}]),
    );
}

fn link(state: &mut Map<String, Value>, next: Option<&str>) {
    match next {
        Some(n) => state.insert("Next".into(), json!(n)),
        None => state.insert("End".into(), json!(true)),
    };
}

fn block_name(recipe: &Recipe, block: &Block) -> String {
    match block {
        Block::Step(key) => recipe.step(key).map(state_name).unwrap_or_default(),
        Block::Parallel(branches) => {
            // Named after its first branch's first step, whose label is unique.
            let first = branches
                .first()
                .and_then(|b| b.first())
                .map(|b| block_name(recipe, b))
                .unwrap_or_default();
            let more = branches.len().saturating_sub(1);
            let first: String = first.chars().take(40).collect();
            format!("In parallel: {first} and {more} more")
        }
    }
}

fn task_state(recipe: &Recipe, step: &Step) -> Map<String, Value> {
    let function = format!("${{{}}}", function_placeholder(step));
    let mut state = Map::new();
    state.insert("Type".into(), json!("Task"));
    let lambda_retry = json!({
        "ErrorEquals": errors::LAMBDA_SERVICE_ERRORS,
        "IntervalSeconds": 1,
        "MaxAttempts": 3,
        "BackoffRate": 2.0
    });
    if step.kind == StepKind::ApprovalGate {
        state.insert("Resource".into(), json!(LAMBDA_INVOKE_WAIT));
        state.insert(
            "Parameters".into(),
            json!({
                "FunctionName": function,
                "Payload": {
                    "task_token.$": "$$.Task.Token",
                    "run_id.$": "$.run_id",
                    "step_key": step.key,
                }
            }),
        );
        state.insert("ResultPath".into(), Value::Null);
        state.insert("Retry".into(), json!([lambda_retry]));
    } else {
        state.insert("Resource".into(), json!(LAMBDA_INVOKE));
        state.insert(
            "Parameters".into(),
            json!({
                "FunctionName": function,
                // The workflow, so that a function reads only the steps
                // this one depends on, even for a run it has not seen.
                "Payload": {
                    "run_id.$": "$.run_id",
                    "workflow": recipe.id,
                    "step_key": step.key,
                }
            }),
        );
        state.insert("ResultPath".into(), Value::Null);
        state.insert(
            "Retry".into(),
            json!([
                lambda_retry,
                {
                    "ErrorEquals": [errors::RETRYABLE],
                    "IntervalSeconds": 2,
                    "MaxAttempts": 3,
                    "BackoffRate": 2.0
                }
            ]),
        );
    }
    state
}

/// The ASL file text for a recipe, as committed: pretty JSON and a newline.
pub fn asl_text(recipe: &Recipe) -> String {
    let mut text = serde_json::to_string_pretty(&compile(recipe)).unwrap_or_default();
    text.push('\n');
    text
}
