//! Parsing an ASL definition into the subset this engine runs, refusing
//! everything else with an error naming the state.

use serde_json::{Map, Value};
use serde_json_path::JsonPath;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

pub const LAMBDA_INVOKE: &str = "arn:aws:states:::lambda:invoke";
pub const LAMBDA_INVOKE_WAIT: &str = "arn:aws:states:::lambda:invoke.waitForTaskToken";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionError {
    #[error("state `{state}`: {message}")]
    State { state: String, message: String },
    #[error("{0}")]
    Machine(String),
}

fn state_err(state: &str, message: impl Into<String>) -> DefinitionError {
    DefinitionError::State {
        state: state.to_string(),
        message: message.into(),
    }
}

/// A JSONPath, or `$$.`-prefixed context path, evaluated to one value.
#[derive(Debug, Clone)]
pub struct Path {
    pub text: String,
    pub context: bool,
    path: JsonPath,
}

impl Path {
    pub fn parse(text: &str) -> Result<Path, String> {
        let (context, query) = match text.strip_prefix("$$") {
            Some(rest) => (true, format!("${rest}")),
            None => (false, text.to_string()),
        };
        if !query.starts_with('$') {
            return Err(format!("`{text}` is not a path (it must start with `$`)"));
        }
        let path = JsonPath::parse(&query).map_err(|e| format!("`{text}` is not a valid JSONPath: {e}"))?;
        Ok(Path {
            text: text.to_string(),
            context,
            path,
        })
    }

    /// The single value the path selects.
    pub fn select(&self, input: &Value, context: &Value) -> Result<Value, String> {
        let doc = if self.context { context } else { input };
        let nodes = self.path.query(doc).all();
        match nodes.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(format!("the path `{}` selects nothing", self.text)),
            _ => Err(format!(
                "the path `{}` selects {} values, not one",
                self.text,
                nodes.len()
            )),
        }
    }
}

/// A reference path for `ResultPath`: `$` or `$.a.b`.
#[derive(Debug, Clone, PartialEq)]
pub enum ResultPath {
    Discard,
    Replace,
    Field(Vec<String>),
}

impl ResultPath {
    fn parse(state: &str, v: Option<&Value>) -> Result<ResultPath, DefinitionError> {
        match v {
            None => Ok(ResultPath::Replace),
            Some(Value::Null) => Ok(ResultPath::Discard),
            Some(Value::String(s)) if s == "$" => Ok(ResultPath::Replace),
            Some(Value::String(s)) => {
                let rest = s
                    .strip_prefix("$.")
                    .ok_or_else(|| state_err(state, format!("ResultPath `{s}` must be `$` or `$.field…`")))?;
                let parts: Vec<String> = rest.split('.').map(str::to_string).collect();
                if parts.iter().any(|p| {
                    p.is_empty()
                        || !p
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                }) {
                    return Err(state_err(
                        state,
                        format!("ResultPath `{s}` must use plain dot notation (`$.a.b`)"),
                    ));
                }
                Ok(ResultPath::Field(parts))
            }
            Some(_) => Err(state_err(state, "ResultPath must be a string or null")),
        }
    }

    /// Combines the state's input with its result.
    pub fn apply(&self, input: Value, result: Value) -> Result<Value, String> {
        match self {
            ResultPath::Discard => Ok(input),
            ResultPath::Replace => Ok(result),
            ResultPath::Field(parts) => {
                let mut root = input;
                let mut cur = &mut root;
                for (i, p) in parts.iter().enumerate() {
                    let Value::Object(map) = cur else {
                        return Err(format!(
                            "ResultPath cannot set `{p}` inside a value that is not an object"
                        ));
                    };
                    if i + 1 == parts.len() {
                        map.insert(p.clone(), result);
                        return Ok(root);
                    }
                    cur = map.entry(p.clone()).or_insert_with(|| Value::Object(Map::new()));
                }
                Ok(root)
            }
        }
    }
}

/// `InputPath` / `OutputPath`: absent is `$`, `null` is `{}`.
#[derive(Debug, Clone)]
pub enum Filter {
    All,
    Empty,
    Path(Path),
}

impl Filter {
    fn parse(state: &str, field: &str, v: Option<&Value>) -> Result<Filter, DefinitionError> {
        match v {
            None => Ok(Filter::All),
            Some(Value::Null) => Ok(Filter::Empty),
            Some(Value::String(s)) if s == "$" => Ok(Filter::All),
            Some(Value::String(s)) => Path::parse(s)
                .map(Filter::Path)
                .map_err(|e| state_err(state, format!("{field}: {e}"))),
            Some(_) => Err(state_err(state, format!("{field} must be a string or null"))),
        }
    }

    pub fn apply(&self, v: Value, context: &Value) -> Result<Value, String> {
        match self {
            Filter::All => Ok(v),
            Filter::Empty => Ok(Value::Object(Map::new())),
            Filter::Path(p) => p.select(&v, context),
        }
    }
}

/// A payload template (`Parameters`, `ResultSelector`): keys ending in `.$` take paths.
#[derive(Debug, Clone)]
pub enum Template {
    Literal(Value),
    Object(Vec<(String, Template)>),
    Array(Vec<Template>),
    Path(Path),
}

impl Template {
    fn parse(state: &str, v: &Value) -> Result<Template, DefinitionError> {
        Ok(match v {
            Value::Object(map) => {
                let mut fields = Vec::new();
                for (k, v) in map {
                    if let Some(name) = k.strip_suffix(".$") {
                        let Value::String(p) = v else {
                            return Err(state_err(state, format!("`{k}` must be a path string")));
                        };
                        if p.starts_with("States.") {
                            return Err(state_err(
                                state,
                                format!(
                                    "`{k}` uses the intrinsic function `{p}`, which the local engine does not support"
                                ),
                            ));
                        }
                        let path = Path::parse(p).map_err(|e| state_err(state, format!("`{k}`: {e}")))?;
                        fields.push((name.to_string(), Template::Path(path)));
                    } else {
                        fields.push((k.clone(), Template::parse(state, v)?));
                    }
                }
                Template::Object(fields)
            }
            Value::Array(items) => Template::Array(
                items
                    .iter()
                    .map(|i| Template::parse(state, i))
                    .collect::<Result<_, _>>()?,
            ),
            other => Template::Literal(other.clone()),
        })
    }

    pub fn render(&self, input: &Value, context: &Value) -> Result<Value, String> {
        Ok(match self {
            Template::Literal(v) => v.clone(),
            Template::Path(p) => p.select(input, context)?,
            Template::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|i| i.render(input, context))
                    .collect::<Result<_, _>>()?,
            ),
            Template::Object(fields) => {
                let mut map = Map::new();
                for (k, t) in fields {
                    map.insert(k.clone(), t.render(input, context)?);
                }
                Value::Object(map)
            }
        })
    }

    /// The literal value at `key` of an object template, if it is one.
    pub fn literal_field(&self, key: &str) -> Option<&Value> {
        match self {
            Template::Object(fields) => fields.iter().find(|(k, _)| k == key).and_then(|(_, t)| match t {
                Template::Literal(v) => Some(v),
                _ => None,
            }),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Retrier {
    pub errors: Vec<String>,
    pub interval_seconds: f64,
    pub max_attempts: u32,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct Catcher {
    pub errors: Vec<String>,
    pub result_path: ResultPath,
    pub next: String,
}

/// Whether an error name matches an `ErrorEquals` list.
pub fn matches(errors: &[String], error: &str) -> bool {
    errors
        .iter()
        .any(|e| e == "States.ALL" || e == error || (e == "States.TaskFailed" && error != "States.Timeout"))
}

#[derive(Debug, Clone)]
pub struct Common {
    pub next: Option<String>,
    pub input_path: Filter,
    pub output_path: Filter,
    pub parameters: Option<Template>,
    pub result_selector: Option<Template>,
    pub result_path: ResultPath,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Task { wait_for_token: bool },
    Parallel { branches: Vec<Arc<Machine>> },
    Pass { result: Option<Value> },
    Succeed,
    Fail { error: String, cause: String },
}

#[derive(Debug, Clone)]
pub struct State {
    pub name: String,
    pub kind: Kind,
    pub common: Common,
    /// Whether any of its own fields (a branch's states aside) mentions the
    /// context object (`$$`): only then is one built for it.
    pub uses_context: bool,
}

/// A state machine, or one branch of a `Parallel` state.
#[derive(Debug, Clone)]
pub struct Machine {
    pub start_at: String,
    pub states: HashMap<String, State>,
}

const ALLOWED: &[(&str, &[&str])] = &[
    (
        "Task",
        &[
            "Type",
            "Comment",
            "Resource",
            "Parameters",
            "ResultSelector",
            "ResultPath",
            "InputPath",
            "OutputPath",
            "Retry",
            "Catch",
            "Next",
            "End",
        ],
    ),
    (
        "Parallel",
        &[
            "Type",
            "Comment",
            "Branches",
            "Parameters",
            "ResultSelector",
            "ResultPath",
            "InputPath",
            "OutputPath",
            "Retry",
            "Catch",
            "Next",
            "End",
        ],
    ),
    (
        "Pass",
        &[
            "Type",
            "Comment",
            "Result",
            "Parameters",
            "ResultPath",
            "InputPath",
            "OutputPath",
            "Next",
            "End",
        ],
    ),
    ("Succeed", &["Type", "Comment", "InputPath", "OutputPath"]),
    ("Fail", &["Type", "Comment", "Error", "Cause"]),
];

fn str_list(state: &str, v: &Value, what: &str) -> Result<Vec<String>, DefinitionError> {
    v.as_array()
        .filter(|a| !a.is_empty())
        .and_then(|a| {
            a.iter()
                .map(|e| e.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| state_err(state, format!("{what} must be a non-empty list of strings")))
}

fn parse_state(name: &str, v: &Value, names: &mut BTreeSet<String>) -> Result<State, DefinitionError> {
    if !names.insert(name.to_string()) {
        return Err(state_err(
            name,
            "the state name is used twice in this state machine",
        ));
    }
    if name.chars().count() > 80 {
        return Err(state_err(name, "state names are at most 80 characters"));
    }
    let obj = v
        .as_object()
        .ok_or_else(|| state_err(name, "a state must be an object"))?;
    let ty = obj
        .get("Type")
        .and_then(Value::as_str)
        .ok_or_else(|| state_err(name, "missing `Type`"))?;
    let Some((_, allowed)) = ALLOWED.iter().find(|(t, _)| *t == ty) else {
        return Err(state_err(
            name,
            format!(
                "the local engine does not run `{ty}` states (it runs Task, Parallel, Pass, Succeed and Fail)"
            ),
        ));
    };
    if let Some(field) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(state_err(
            name,
            format!("the local engine does not support `{field}` on a {ty} state"),
        ));
    }
    let next = obj.get("Next").and_then(Value::as_str).map(str::to_string);
    let end = obj.get("End").and_then(Value::as_bool).unwrap_or(false);
    let terminal = matches!(ty, "Succeed" | "Fail");
    if !terminal && next.is_none() != end {
        return Err(state_err(
            name,
            "a state needs exactly one of `Next` or `End: true`",
        ));
    }
    let retry = match obj.get("Retry") {
        None => Vec::new(),
        Some(Value::Array(rs)) => rs
            .iter()
            .map(|r| {
                Ok(Retrier {
                    errors: str_list(
                        name,
                        r.get("ErrorEquals").unwrap_or(&Value::Null),
                        "Retry ErrorEquals",
                    )?,
                    interval_seconds: r.get("IntervalSeconds").and_then(Value::as_f64).unwrap_or(1.0),
                    max_attempts: r.get("MaxAttempts").and_then(Value::as_u64).unwrap_or(3) as u32,
                    backoff_rate: r.get("BackoffRate").and_then(Value::as_f64).unwrap_or(2.0),
                    max_delay_seconds: r.get("MaxDelaySeconds").and_then(Value::as_f64),
                })
            })
            .collect::<Result<_, DefinitionError>>()?,
        Some(_) => return Err(state_err(name, "Retry must be a list")),
    };
    let catch = match obj.get("Catch") {
        None => Vec::new(),
        Some(Value::Array(cs)) => cs
            .iter()
            .map(|c| {
                Ok(Catcher {
                    errors: str_list(
                        name,
                        c.get("ErrorEquals").unwrap_or(&Value::Null),
                        "Catch ErrorEquals",
                    )?,
                    result_path: ResultPath::parse(name, c.get("ResultPath"))?,
                    next: c
                        .get("Next")
                        .and_then(Value::as_str)
                        .ok_or_else(|| state_err(name, "a catcher needs `Next`"))?
                        .to_string(),
                })
            })
            .collect::<Result<_, DefinitionError>>()?,
        Some(_) => return Err(state_err(name, "Catch must be a list")),
    };
    let template = |field: &str| obj.get(field).map(|v| Template::parse(name, v)).transpose();
    let common = Common {
        next,
        input_path: Filter::parse(name, "InputPath", obj.get("InputPath"))?,
        output_path: Filter::parse(name, "OutputPath", obj.get("OutputPath"))?,
        parameters: template("Parameters")?,
        result_selector: template("ResultSelector")?,
        result_path: ResultPath::parse(name, obj.get("ResultPath"))?,
        retry,
        catch,
    };
    let kind = match ty {
        "Task" => {
            let resource = obj.get("Resource").and_then(Value::as_str).unwrap_or_default();
            let wait_for_token = match resource {
                LAMBDA_INVOKE => false,
                LAMBDA_INVOKE_WAIT => true,
                other => {
                    return Err(state_err(
                        name,
                        format!(
                            "the local engine runs only `{LAMBDA_INVOKE}` and `{LAMBDA_INVOKE_WAIT}` tasks, not `{other}`"
                        ),
                    ));
                }
            };
            let params = common.parameters.as_ref().ok_or_else(|| {
                state_err(
                    name,
                    "a lambda:invoke task needs `Parameters` with `FunctionName` and `Payload`",
                )
            })?;
            if params
                .literal_field("FunctionName")
                .and_then(Value::as_str)
                .is_none()
            {
                return Err(state_err(
                    name,
                    "`Parameters.FunctionName` must be a literal string",
                ));
            }
            Kind::Task { wait_for_token }
        }
        "Parallel" => {
            let branches = obj
                .get("Branches")
                .and_then(Value::as_array)
                .filter(|b| !b.is_empty())
                .ok_or_else(|| state_err(name, "a Parallel state needs a non-empty `Branches` list"))?;
            Kind::Parallel {
                branches: branches
                    .iter()
                    .map(|b| parse_machine(b, names).map(Arc::new))
                    .collect::<Result<_, _>>()?,
            }
        }
        "Pass" => Kind::Pass {
            result: obj.get("Result").cloned(),
        },
        "Succeed" => Kind::Succeed,
        "Fail" => Kind::Fail {
            error: obj
                .get("Error")
                .and_then(Value::as_str)
                .unwrap_or("States.Fail")
                .to_string(),
            cause: obj
                .get("Cause")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        },
        _ => unreachable!("checked against ALLOWED above"),
    };
    let uses_context = obj
        .iter()
        .filter(|(field, _)| *field != "Branches")
        .any(|(_, v)| v.to_string().contains("$$"));
    Ok(State {
        name: name.to_string(),
        kind,
        common,
        uses_context,
    })
}

fn parse_machine(v: &Value, names: &mut BTreeSet<String>) -> Result<Machine, DefinitionError> {
    let obj = v
        .as_object()
        .ok_or_else(|| DefinitionError::Machine("a state machine must be an object".into()))?;
    let start_at = obj
        .get("StartAt")
        .and_then(Value::as_str)
        .ok_or_else(|| DefinitionError::Machine("missing `StartAt`".into()))?
        .to_string();
    let raw = obj
        .get("States")
        .and_then(Value::as_object)
        .ok_or_else(|| DefinitionError::Machine("missing `States`".into()))?;
    let mut states = HashMap::new();
    for (name, s) in raw {
        states.insert(name.clone(), parse_state(name, s, names)?);
    }
    let known = |n: &str| states.contains_key(n);
    if !known(&start_at) {
        return Err(DefinitionError::Machine(format!(
            "`StartAt` names `{start_at}`, which is not a state"
        )));
    }
    for s in states.values() {
        for target in s.common.next.iter().chain(s.common.catch.iter().map(|c| &c.next)) {
            if !known(target) {
                return Err(state_err(
                    &s.name,
                    format!("`{target}` is not a state of its branch"),
                ));
            }
        }
    }
    Ok(Machine { start_at, states })
}

/// Substitutes `${Name}` placeholders in every string of the definition.
pub fn substitute(v: &Value, table: &HashMap<String, String>) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) if s.contains("${") => {
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some(start) = rest.find("${") {
                out.push_str(&rest[..start]);
                let after = &rest[start + 2..];
                let end = after
                    .find('}')
                    .ok_or_else(|| format!("unclosed placeholder in `{s}`"))?;
                let name = &after[..end];
                let value = table
                    .get(name)
                    .ok_or_else(|| format!("no value for the placeholder `${{{name}}}`"))?;
                out.push_str(value);
                rest = &after[end + 1..];
            }
            out.push_str(rest);
            Value::String(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| substitute(i, table))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                out.insert(k.clone(), substitute(v, table)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// Parses a whole definition (placeholders already substituted).
pub fn parse_definition(v: &Value) -> Result<Machine, DefinitionError> {
    let obj = v
        .as_object()
        .ok_or_else(|| DefinitionError::Machine("a state machine must be an object".into()))?;
    if let Some(field) = obj
        .keys()
        .find(|k| !["Comment", "StartAt", "States", "Version", "TimeoutSeconds"].contains(&k.as_str()))
    {
        return Err(DefinitionError::Machine(format!(
            "unknown top-level field `{field}`"
        )));
    }
    if obj.contains_key("TimeoutSeconds") {
        return Err(DefinitionError::Machine(
            "the local engine does not support `TimeoutSeconds` (approvals never time out)".into(),
        ));
    }
    parse_machine(v, &mut BTreeSet::new())
}
