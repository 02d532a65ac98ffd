//! Recipe validation: every problem found, each naming its step.

use crate::model::*;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// One problem in a recipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where it is in the recipe's YAML (from 1), when that can be found:
    /// the line of the field or value it names, else of its step.
    pub line: Option<usize>,
    /// The step the problem is about, when there is one.
    pub step: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        match &self.step {
            Some(step) => write!(f, "step `{step}`: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Why a recipe was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecipeError {
    #[error("{source_name}: not a recipe: {message}")]
    Syntax { source_name: String, message: String },
    #[error("{source_name}: {}", join(problems))]
    Invalid {
        source_name: String,
        problems: Vec<Problem>,
    },
}

fn join(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl RecipeError {
    pub fn problems(&self) -> Vec<Problem> {
        match self {
            RecipeError::Syntax { message, .. } => vec![Problem {
                line: None,
                step: None,
                message: message.clone(),
            }],
            RecipeError::Invalid { problems, .. } => problems.clone(),
        }
    }
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_recipe_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Parses and validates a recipe from YAML. `source_name` names the file in errors.
pub fn parse_recipe(source_name: &str, yaml: &str) -> Result<Recipe, RecipeError> {
    let raw: RawRecipe = serde_yaml_ng::from_str(yaml).map_err(|e| RecipeError::Syntax {
        source_name: source_name.to_string(),
        message: e.to_string(),
    })?;
    validate(raw).map_err(|mut problems| {
        for p in &mut problems {
            p.line = locate(yaml, p);
        }
        RecipeError::Invalid {
            source_name: source_name.to_string(),
            problems,
        }
    })
}

/// The line (from 1) of `problem` in the recipe's YAML, found in its text
/// (comments left out): the first line of its step holding a field or a
/// field's value the message names in backquotes, else the line that
/// starts its step. For a problem about no step, such a line at the top
/// level, else a field of that name anywhere (a brief field); else none.
/// A duplicate key is the later one.
fn locate(yaml: &str, problem: &Problem) -> Option<usize> {
    let lines: Vec<&str> = yaml.lines().map(uncommented).collect();
    let named = || problem.message.split('`').skip(1).step_by(2);
    let Some(step) = &problem.step else {
        let top = |i: &usize| indent(lines[*i]) == 0;
        return named()
            .find_map(|name| {
                (0..lines.len())
                    .filter(top)
                    .find(|&i| is_field(lines[i], name))
                    .or_else(|| (0..lines.len()).filter(top).find(|&i| in_value(lines[i], name)))
                    .or_else(|| (0..lines.len()).find(|&i| is_field(lines[i], name)))
            })
            .map(|i| i + 1);
    };
    let mut keyed = (0..lines.len()).filter(|&i| names_step(lines[i], step));
    let at = if problem.message == DUPLICATE_KEY {
        keyed.next_back()?
    } else {
        keyed.next()?
    };
    // The step starts at its list item: this line, or the nearest one
    // above it at a smaller indent.
    let start = (0..=at)
        .rev()
        .find(|&i| is_item(lines[i]) && (i == at || indent(lines[i]) < indent(lines[at])))
        .unwrap_or(at);
    let end = (start + 1..lines.len())
        .find(|&i| !lines[i].trim().is_empty() && indent(lines[i]) <= indent(lines[start]))
        .unwrap_or(lines.len());
    let hit = named().find_map(|name| {
        (start..end)
            .find(|&i| is_field(lines[i], name))
            .or_else(|| (start..end).find(|&i| in_value(lines[i], name)))
    });
    Some(hit.unwrap_or(start) + 1)
}

const DUPLICATE_KEY: &str = "duplicate step key";

/// The line without a comment (` #` onwards, or all of it).
fn uncommented(line: &str) -> &str {
    if line.trim_start().starts_with('#') {
        return "";
    }
    match line.find(" #") {
        Some(i) => &line[..i],
        None => line,
    }
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// Whether the line starts an item of a block list (`- `).
fn is_item(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("- ") || t == "-"
}

/// Whether the line holds `key: <step>` (quoted or not, block or flow style).
fn names_step(line: &str, step: &str) -> bool {
    ["", "\"", "'"].iter().any(|q| {
        let want = format!("key: {q}{step}{q}");
        line.match_indices(&want).any(|(i, m)| {
            let before = line[..i].chars().next_back();
            let after = line[i + m.len()..].chars().next();
            before.is_none_or(|c| c == ' ' || c == '{' || c == ',' || c == '-')
                && after.is_none_or(|c| c == ',' || c == '}' || c == ' ')
        })
    })
}

/// Whether the line sets the field `name` (`name:`, block or flow style).
fn is_field(line: &str, name: &str) -> bool {
    let want = format!("{name}:");
    line.match_indices(&want).any(|(i, _)| {
        line[..i]
            .chars()
            .next_back()
            .is_none_or(|c| c == ' ' || c == '{' || c == ',' || c == '-')
    })
}

/// Whether `word` appears on its own (not inside a longer name) in a
/// field's value on the line: after a `:`, so not in free text such as a
/// checklist item.
fn in_value(line: &str, word: &str) -> bool {
    let part = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    let Some(colon) = line.find(':') else { return false };
    !word.is_empty()
        && line.match_indices(word).any(|(i, m)| {
            i > colon
                && line[..i].chars().next_back().is_none_or(|c| !part(c))
                && line[i + m.len()..].chars().next().is_none_or(|c| !part(c))
        })
}

/// Validates a parsed recipe, reporting every problem found.
pub fn validate(raw: RawRecipe) -> Result<Recipe, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut problem = |step: Option<&str>, message: String| {
        problems.push(Problem {
            line: None,
            step: step.map(str::to_string),
            message,
        })
    };

    if !is_recipe_id(&raw.id) {
        problem(
            None,
            format!(
                "recipe id `{}` must be kebab-case ASCII (a-z, 0-9, -), at most 64 characters",
                raw.id
            ),
        );
    }
    if raw.name.trim().is_empty() {
        problem(None, "the recipe needs a `name`".into());
    }
    if raw.steps.is_empty() {
        problem(None, "the recipe has no steps".into());
    }
    for (name, field) in &raw.brief {
        if !is_identifier(name) {
            problem(None, format!("brief field `{name}` must be snake_case ASCII"));
        }
        if field.ty == BriefType::RunId && field.workflow.is_none() {
            problem(
                None,
                format!("brief field `{name}` of type run_id must name its `workflow`"),
            );
        }
    }
    if !raw.brief.contains_key("title") {
        problem(
            None,
            "the brief schema needs a `title` field (runs are listed by it)".into(),
        );
    }

    // Keys: well-formed and unique.
    let mut keys = BTreeSet::new();
    for s in &raw.steps {
        if !is_identifier(&s.key) {
            problem(
                Some(&s.key),
                "a step key must be snake_case ASCII (a-z, 0-9, _), at most 64 characters".into(),
            );
        }
        if !keys.insert(s.key.as_str()) {
            problem(Some(&s.key), DUPLICATE_KEY.into());
        }
    }
    let by_key: BTreeMap<&str, &RawStep> = raw.steps.iter().map(|s| (s.key.as_str(), s)).collect();

    // Per-kind fields and direct references.
    let agents = greenlight_agents::catalog();
    let mut labels: BTreeMap<String, &str> = BTreeMap::new();
    for s in &raw.steps {
        let key = Some(s.key.as_str());
        for a in &s.after {
            if !by_key.contains_key(a.as_str()) {
                problem(
                    key,
                    format!("`after` names `{a}`, which is not a step of this recipe"),
                );
            } else if a == &s.key {
                problem(key, "a step cannot come after itself".into());
            }
        }
        let label = s.label.clone().unwrap_or_else(|| default_label(&s.key));
        if label.trim().is_empty() || label.chars().count() > 60 {
            problem(key, "`label` must be 1 to 60 characters".into());
        }
        if let Some(other) = labels.insert(label.clone(), &s.key) {
            problem(
                key,
                format!("label `{label}` is also the label of step `{other}`"),
            );
        }
        let gate_only = [
            ("target_output_field", s.target_output_field.is_some()),
            ("policy", s.policy.is_some()),
            ("blocking", s.blocking.is_some()),
            ("checklist", !s.checklist.is_empty()),
        ];
        match s.kind {
            StepKind::Agent => match &s.agent {
                None => problem(key, "an agent step needs `agent`".into()),
                Some(a) if a == "synthesis" => problem(
                    key,
                    "`synthesis` is not an agent step's agent; use `kind: synthesis`".into(),
                ),
                Some(a) if !agents.iter().any(|i| i.id == a) => problem(
                    key,
                    format!(
                        "unknown agent `{a}` (known: {})",
                        agents
                            .iter()
                            .filter(|i| i.id != "synthesis")
                            .map(|i| i.id)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
                Some(_) => {}
            },
            StepKind::Action => match &s.action {
                None => problem(key, "an action step needs `action`".into()),
                Some(a) if !ACTIONS.contains(&a.as_str()) => problem(
                    key,
                    format!("unknown action `{a}` (known: {})", ACTIONS.join(", ")),
                ),
                Some(_) => {}
            },
            StepKind::ApprovalGate => {
                match &s.target_output_field {
                    None => problem(key, "an approval gate needs `target_output_field`".into()),
                    Some(f) if f.trim().is_empty() => problem(key, "`target_output_field` is empty".into()),
                    Some(_) => {}
                }
                if let Some(p) = &s.policy {
                    if !is_role(&p.required_role) {
                        problem(
                            key,
                            format!("policy role `{}` must be kebab-case", p.required_role),
                        );
                    }
                    if matches!(p.when_spend_over_usd, Some(x) if !(x.is_finite() && x >= 0.0)) {
                        problem(key, "policy `when_spend_over_usd` must be a number ≥ 0".into());
                    }
                }
                if s.checklist.iter().any(|c| c.trim().is_empty()) {
                    problem(key, "a checklist item is empty".into());
                }
            }
            StepKind::Synthesis => {}
        }
        if s.kind != StepKind::Agent && s.agent.is_some() {
            problem(
                key,
                format!("`agent` is only for agent steps, not {}", s.kind.as_str()),
            );
        }
        if s.kind != StepKind::Action && s.action.is_some() {
            problem(
                key,
                format!("`action` is only for action steps, not {}", s.kind.as_str()),
            );
        }
        if s.kind != StepKind::ApprovalGate {
            for (field, present) in gate_only {
                if present {
                    problem(key, format!("`{field}` is only for approval gates"));
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }

    // Cycles.
    let order = match topological_order(&raw.steps) {
        Ok(order) => order,
        Err(cycle) => {
            return Err(vec![Problem {
                line: None,
                step: Some(cycle[0].clone()),
                message: format!("the steps form a cycle: {}", cycle.join(" → ")),
            }]);
        }
    };
    let ancestors = ancestor_sets(&raw.steps, &order);

    // Gates, actions, synthesis.
    let mut problems = Vec::new();
    let mut steps = Vec::new();
    for s in &raw.steps {
        let key = Some(s.key.clone());
        let mut gate = None;
        match s.kind {
            StepKind::ApprovalGate => {
                let upstream: Vec<&RawStep> = s
                    .after
                    .iter()
                    .filter_map(|a| by_key.get(a.as_str()).copied())
                    .collect();
                match upstream.as_slice() {
                    [one] if one.kind == StepKind::Agent => {
                        let field = s.target_output_field.clone().unwrap_or_default();
                        let agent = one.agent.as_deref().unwrap_or_default();
                        if let Some(info) = agents.iter().find(|i| i.id == agent)
                            && !info.outputs.contains(&field.as_str())
                        {
                            problems.push(Problem {
                                line: None,
                                step: key.clone(),
                                message: format!(
                                    "`target_output_field` `{field}` is not an output of agent `{agent}` (it outputs: {})",
                                    info.outputs.join(", ")
                                ),
                            });
                        }
                        gate = Some(Gate {
                            target_output_field: field,
                            upstream_step_key: one.key.clone(),
                            blocking: s.blocking.unwrap_or(true),
                            policy: s.policy.clone(),
                            checklist: s.checklist.clone(),
                        });
                    }
                    [one] => problems.push(Problem {
                        line: None,
                        step: key.clone(),
                        message: format!(
                            "an approval gate must come right after an agent, and `{}` is {}",
                            one.key,
                            article(one.kind)
                        ),
                    }),
                    [] => problems.push(Problem {
                        line: None,
                        step: key.clone(),
                        message: "an approval gate must come after exactly one agent step, and this one has no `after`".into(),
                    }),
                    many => problems.push(Problem {
                        line: None,
                        step: key.clone(),
                        message: format!(
                            "an approval gate must come after exactly one agent step, not {} ({})",
                            many.len(),
                            many.iter().map(|m| m.key.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    }),
                }
            }
            StepKind::Action => {
                let has_gate = ancestors[&s.key]
                    .iter()
                    .any(|a| by_key[a.as_str()].kind == StepKind::ApprovalGate);
                if !has_gate {
                    problems.push(Problem {
                        line: None,
                        step: key.clone(),
                        message: "an action must be downstream of an approval gate".into(),
                    });
                }
            }
            StepKind::Synthesis => {
                let downstream: Vec<&str> = raw
                    .steps
                    .iter()
                    .filter(|o| ancestors[&o.key].contains(&s.key))
                    .map(|o| o.key.as_str())
                    .collect();
                if !downstream.is_empty() {
                    problems.push(Problem {
                        line: None,
                        step: key.clone(),
                        message: format!(
                            "synthesis must be the last step, but {} come after it",
                            downstream.join(", ")
                        ),
                    });
                }
            }
            StepKind::Agent => {}
        }
        steps.push(Step {
            key: s.key.clone(),
            label: s.label.clone().unwrap_or_else(|| default_label(&s.key)),
            kind: s.kind,
            agent: s.agent.clone(),
            action: s.action.clone(),
            after: s.after.clone(),
            gate,
        });
    }
    let synthesis_count = raw.steps.iter().filter(|s| s.kind == StepKind::Synthesis).count();
    if synthesis_count > 1 {
        problems.push(Problem {
            line: None,
            step: None,
            message: format!("a recipe has at most one synthesis step, this one has {synthesis_count}"),
        });
    }
    if !problems.is_empty() {
        return Err(problems);
    }

    // Series-parallel shape.
    let all: Vec<String> = order.clone();
    let plan = decompose(&all, &ancestors).map_err(|msg| vec![msg])?;
    let recipe = Recipe {
        id: raw.id,
        name: raw.name,
        description: raw.description,
        brief: raw.brief,
        steps,
        plan,
    };
    crate::compile::check_non_blocking_gates(&recipe).map_err(|p| vec![p])?;
    Ok(recipe)
}

fn article(kind: StepKind) -> &'static str {
    match kind {
        StepKind::Agent => "an agent",
        StepKind::ApprovalGate => "an approval gate",
        StepKind::Action => "an action",
        StepKind::Synthesis => "the synthesis",
    }
}

/// A role's name as gate policies name it: kebab-case (`ops-lead`).
pub fn is_role(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// `listing_optimizer` → `Listing optimizer`.
fn default_label(key: &str) -> String {
    let words = key.replace('_', " ");
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Kahn's algorithm, stable in recipe order. On a cycle, returns its steps.
fn topological_order(steps: &[RawStep]) -> Result<Vec<String>, Vec<String>> {
    let mut done: Vec<String> = Vec::new();
    let mut remaining: Vec<&RawStep> = steps.iter().collect();
    while !remaining.is_empty() {
        let ready = remaining
            .iter()
            .position(|s| s.after.iter().all(|a| done.contains(a)));
        match ready {
            Some(i) => done.push(remaining.remove(i).key.clone()),
            None => {
                // Walk back along `after` from any remaining step until a step repeats.
                let mut path: Vec<String> = vec![remaining[0].key.clone()];
                loop {
                    let last = path.last().cloned().unwrap_or_default();
                    let step = remaining.iter().find(|s| s.key == last);
                    let next =
                        step.and_then(|s| s.after.iter().find(|a| remaining.iter().any(|r| &r.key == *a)));
                    match next {
                        Some(n) if path.contains(n) => {
                            let start = path.iter().position(|p| p == n).unwrap_or(0);
                            let mut cycle: Vec<String> = path[start..].to_vec();
                            cycle.reverse();
                            cycle.push(cycle[0].clone());
                            return Err(cycle);
                        }
                        Some(n) => path.push(n.clone()),
                        None => return Err(path),
                    }
                }
            }
        }
    }
    Ok(done)
}

type Ancestors = BTreeMap<String, BTreeSet<String>>;

fn ancestor_sets(steps: &[RawStep], order: &[String]) -> Ancestors {
    let mut out: Ancestors = BTreeMap::new();
    for key in order {
        let mut set = BTreeSet::new();
        if let Some(step) = steps.iter().find(|s| &s.key == key) {
            for a in &step.after {
                set.insert(a.clone());
                if let Some(more) = out.get(a) {
                    set.extend(more.iter().cloned());
                }
            }
        }
        out.insert(key.clone(), set);
    }
    out
}

/// Splits a set of steps (in topological order) into the sequence of blocks
/// that Step Functions can express: series splits where every step of the
/// first part comes before every step of the second, parallel splits into
/// independent components. A set that has neither is not series-parallel.
fn decompose(set: &[String], anc: &Ancestors) -> Result<Vec<Block>, Problem> {
    if set.len() == 1 {
        return Ok(vec![Block::Step(set[0].clone())]);
    }
    let related = |a: &String, b: &String| anc[a].contains(b) || anc[b].contains(a);

    // Independent components → Parallel.
    let components = components(set, &related);
    if components.len() > 1 {
        let branches = components
            .iter()
            .map(|c| decompose(c, anc))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(vec![Block::Parallel(branches)]);
    }

    // A series split: X = the strict ancestors (within the set) of some step,
    // with every step of X before every step outside it.
    for y in set {
        let x: Vec<String> = set.iter().filter(|s| anc[y].contains(*s)).cloned().collect();
        if x.is_empty() {
            continue;
        }
        let rest: Vec<String> = set.iter().filter(|s| !x.contains(s)).cloned().collect();
        if rest.iter().all(|r| x.iter().all(|a| anc[r].contains(a))) {
            let mut seq = decompose(&x, anc)?;
            seq.extend(decompose(&rest, anc)?);
            return Ok(seq);
        }
    }
    Err(Problem {
        line: None,
        step: set.first().cloned(),
        message: format!(
            "the steps {} do not form a series-parallel graph (each group of steps must run either one after the other or side by side); add or remove `after` entries so that every fork joins before the next fork that mixes its branches",
            set.join(", ")
        ),
    })
}

fn components(set: &[String], related: &dyn Fn(&String, &String) -> bool) -> Vec<Vec<String>> {
    let mut comps: Vec<Vec<String>> = Vec::new();
    for s in set {
        let touching: Vec<usize> = comps
            .iter()
            .enumerate()
            .filter(|(_, c)| c.iter().any(|o| related(s, o)))
            .map(|(i, _)| i)
            .collect();
        let mut merged = vec![s.clone()];
        for i in touching.iter().rev() {
            let c = comps.remove(*i);
            merged.extend(c);
        }
        comps.push(merged);
    }
    // Keep each component in topological (set) order and components in order of first step.
    for c in &mut comps {
        c.sort_by_key(|k| set.iter().position(|s| s == k));
    }
    comps.sort_by_key(|c| set.iter().position(|s| s == &c[0]));
    comps
}
