//! Reading a model's answer: the JSON in it (a ```json fence tolerated), and
//! its structure checked against the offline model's output for the same
//! step, which serves as the schema.
//!
//! The schema a reference output implies: the same object keys (every key
//! the reference always has is required; keys the model adds are dropped),
//! the same JSON types, arrays whose elements all fit the union of the
//! reference's elements, and strings (and arrays) non-empty where every
//! reference instance is. A reference array that is empty says nothing of
//! its elements: any scalars, or objects of scalars, are accepted there.

use serde_json::{Map, Value};

/// The JSON value in a model's answer: the whole text, or the inside of a
/// Markdown code fence, or (failing those) the outermost `{…}` of the text.
pub fn parse_json_answer(text: &str) -> Result<Value, String> {
    let t = text.trim().trim_start_matches('\u{feff}');
    let first = match serde_json::from_str::<Value>(t) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    if let Some(inner) = fenced(t)
        && let Ok(v) = serde_json::from_str::<Value>(inner)
    {
        return Ok(v);
    }
    if let (Some(start), Some(end)) = (t.find('{'), t.rfind('}'))
        && start < end
        && let Some(inner) = t.get(start..=end)
        && let Ok(v) = serde_json::from_str::<Value>(inner)
    {
        return Ok(v);
    }
    if t.is_empty() {
        return Err("the answer was empty".into());
    }
    Err(first.to_string())
}

/// The inside of a ```…``` fence (with or without a language tag).
fn fenced(t: &str) -> Option<&str> {
    let start = t.find("```")?;
    let after = t.get(start + 3..)?;
    // Skip the info string ("json") up to the end of the line.
    let body_start = after.find('\n').map(|i| i + 1).unwrap_or(0);
    let body = after.get(body_start..)?;
    let end = body.rfind("```").unwrap_or(body.len());
    body.get(..end).map(str::trim)
}

/// A structural mismatch, naming the field (`campaigns[1].daily_budget_usd`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeError {
    pub path: String,
    pub problem: String,
}

impl std::fmt::Display for ShapeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "the answer {}", self.problem)
        } else {
            write!(f, "`{}` {}", self.path, self.problem)
        }
    }
}

/// What a reference value allows.
#[derive(Debug, Clone, Default)]
struct Shape {
    null: bool,
    boolean: bool,
    number: bool,
    /// `Some(non_empty)` when strings are allowed.
    string: Option<bool>,
    /// `Some((element, non_empty))` when arrays are allowed; the element is
    /// `None` when every reference array was empty.
    array: Option<(Option<Box<Shape>>, bool)>,
    /// `Some(keys)` when objects are allowed: each key with its shape and
    /// whether every reference object had it.
    object: Option<Vec<(String, Shape, bool)>>,
}

impl Shape {
    fn of(v: &Value) -> Shape {
        let mut s = Shape::default();
        match v {
            Value::Null => s.null = true,
            Value::Bool(_) => s.boolean = true,
            Value::Number(_) => s.number = true,
            Value::String(t) => s.string = Some(!t.trim().is_empty()),
            Value::Array(items) => {
                let element = items.iter().map(Shape::of).reduce(Shape::merge).map(Box::new);
                s.array = Some((element, !items.is_empty()));
            }
            Value::Object(map) => {
                s.object = Some(map.iter().map(|(k, v)| (k.clone(), Shape::of(v), true)).collect());
            }
        }
        s
    }

    fn merge(self, other: Shape) -> Shape {
        Shape {
            null: self.null || other.null,
            boolean: self.boolean || other.boolean,
            number: self.number || other.number,
            string: match (self.string, other.string) {
                (Some(a), Some(b)) => Some(a && b),
                (a, b) => a.or(b),
            },
            array: match (self.array, other.array) {
                (Some((ea, na)), Some((eb, nb))) => {
                    let element = match (ea, eb) {
                        (Some(a), Some(b)) => Some(Box::new(a.merge(*b))),
                        (a, b) => a.or(b),
                    };
                    Some((element, na && nb))
                }
                (a, b) => a.or(b),
            },
            object: match (self.object, other.object) {
                (Some(a), Some(b)) => {
                    let mut keys: Vec<(String, Shape, bool)> = Vec::new();
                    for (k, sa, ra) in &a {
                        match b.iter().find(|(kb, _, _)| kb == k) {
                            Some((_, sb, rb)) => {
                                keys.push((k.clone(), sa.clone().merge(sb.clone()), *ra && *rb))
                            }
                            None => keys.push((k.clone(), sa.clone(), false)),
                        }
                    }
                    for (k, sb, _) in &b {
                        if !a.iter().any(|(ka, _, _)| ka == k) {
                            keys.push((k.clone(), sb.clone(), false));
                        }
                    }
                    Some(keys)
                }
                (a, b) => a.or(b),
            },
        }
    }

    fn expected(&self) -> String {
        let mut kinds: Vec<&str> = Vec::new();
        if self.object.is_some() {
            kinds.push("an object");
        }
        if self.array.is_some() {
            kinds.push("a list");
        }
        if self.string.is_some() {
            kinds.push("a string");
        }
        if self.number {
            kinds.push("a number");
        }
        if self.boolean {
            kinds.push("true or false");
        }
        if self.null {
            kinds.push("null");
        }
        kinds.join(" or ")
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Checks `answer` against the shape of `reference` and returns it with
/// only the reference's keys, in the reference's order.
pub fn conform(reference: &Value, answer: &Value) -> Result<Value, ShapeError> {
    conform_to(&Shape::of(reference), answer, "")
}

fn conform_to(shape: &Shape, v: &Value, path: &str) -> Result<Value, ShapeError> {
    let mismatch = || ShapeError {
        path: path.to_string(),
        problem: format!("should be {}, not {}", shape.expected(), kind_of(v)),
    };
    match v {
        Value::Null if shape.null => Ok(Value::Null),
        Value::Bool(_) if shape.boolean => Ok(v.clone()),
        Value::Number(_) if shape.number => Ok(v.clone()),
        Value::String(s) => match shape.string {
            Some(true) if s.trim().is_empty() => Err(ShapeError {
                path: path.to_string(),
                problem: "is empty".into(),
            }),
            Some(_) => Ok(v.clone()),
            None => Err(mismatch()),
        },
        Value::Array(items) => {
            let Some((element, non_empty)) = &shape.array else {
                return Err(mismatch());
            };
            if *non_empty && items.is_empty() {
                return Err(ShapeError {
                    path: path.to_string(),
                    problem: "is empty".into(),
                });
            }
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let p = format!("{path}[{i}]");
                out.push(match element {
                    Some(e) => conform_to(e, item, &p)?,
                    None => loose(item, &p, 0)?,
                });
            }
            Ok(Value::Array(out))
        }
        Value::Object(map) => {
            let Some(keys) = &shape.object else {
                return Err(mismatch());
            };
            let mut out = Map::new();
            for (k, s, required) in keys {
                match map.get(k) {
                    Some(child) => {
                        out.insert(k.clone(), conform_to(s, child, &join(path, k))?);
                    }
                    None if *required => {
                        return Err(ShapeError {
                            path: join(path, k),
                            problem: "is missing".into(),
                        });
                    }
                    None => {}
                }
            }
            Ok(Value::Object(out))
        }
        _ => Err(mismatch()),
    }
}

/// Elements of a list the reference left empty: scalars, or objects of
/// scalars (one level), nothing deeper.
fn loose(v: &Value, path: &str, depth: usize) -> Result<Value, ShapeError> {
    match v {
        Value::Object(map) if depth == 0 => {
            for (k, child) in map {
                loose(child, &join(path, k), depth + 1)?;
            }
            Ok(v.clone())
        }
        Value::Array(_) | Value::Object(_) => Err(ShapeError {
            path: path.to_string(),
            problem: "is nested deeper than this field allows".into(),
        }),
        _ => Ok(v.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fences_and_prose_are_tolerated() {
        assert_eq!(parse_json_answer(r#"{"a": 1}"#).unwrap(), json!({"a": 1}));
        assert_eq!(
            parse_json_answer("```json\n{\"a\": 1}\n```").unwrap(),
            json!({"a": 1})
        );
        assert_eq!(
            parse_json_answer("```\n{\"a\": 1}\n```\n").unwrap(),
            json!({"a": 1})
        );
        assert_eq!(
            parse_json_answer("Here it is:\n```json\n{\"a\": [1, 2]}\n```\nEnjoy.").unwrap(),
            json!({"a": [1, 2]})
        );
        assert_eq!(
            parse_json_answer("Sure: {\"a\": 2} done").unwrap(),
            json!({"a": 2})
        );
        assert!(parse_json_answer("I cannot help with that.").is_err());
        assert!(parse_json_answer("").is_err());
        assert!(parse_json_answer("```json\n{\"a\": \n```").is_err());
        assert!(parse_json_answer("{\"a\": 1").is_err());
    }

    fn reference() -> Value {
        json!({
            "items": [
                {"id": "a", "text": "hello", "reply": null, "flags": [], "n": 1},
                {"id": "b", "text": "world", "reply": "hi", "flags": ["x"], "n": 2.5, "extra": true}
            ],
            "summary": "s",
            "notes": "",
            "tags": [],
        })
    }

    #[test]
    fn a_matching_answer_keeps_only_known_keys() {
        let answer = json!({
            "approved_budget_usd": 10000,
            "items": [{"id": "a", "text": "t", "reply": "r", "flags": ["y"], "n": 3, "sneaky": 1}],
            "summary": "sum",
            "notes": "",
            "tags": ["#a", {"k": "v"}],
        });
        let out = conform(&reference(), &answer).unwrap();
        assert_eq!(
            out,
            json!({
                "items": [{"id": "a", "text": "t", "reply": "r", "flags": ["y"], "n": 3}],
                "summary": "sum",
                "notes": "",
                "tags": ["#a", {"k": "v"}],
            })
        );
        assert!(out.get("approved_budget_usd").is_none());
    }

    #[test]
    fn mismatches_name_the_field() {
        let cases = [
            (
                json!({"items": [], "summary": "s", "notes": "", "tags": []}),
                "`items` is empty",
            ),
            (
                json!({"items": [{"id": "a"}], "summary": "s", "notes": "", "tags": []}),
                "`items[0].text` is missing",
            ),
            (
                json!({"items": [{"id": "a", "text": "t", "reply": 3, "flags": [], "n": 1}], "summary": "s", "notes": "", "tags": []}),
                "`items[0].reply` should be a string or null, not a number",
            ),
            (
                json!({"items": [{"id": "a", "text": " ", "reply": null, "flags": [], "n": 1}], "summary": "s", "notes": "", "tags": []}),
                "`items[0].text` is empty",
            ),
            (
                json!({"items": [{"id": "a", "text": "t", "reply": null, "flags": [], "n": "1"}], "summary": "s", "notes": "", "tags": []}),
                "`items[0].n` should be a number, not a string",
            ),
            (
                json!({"items": [{"id": "a", "text": "t", "reply": null, "flags": [], "n": 1}], "notes": "", "tags": []}),
                "`summary` is missing",
            ),
            (
                json!({"items": [{"id": "a", "text": "t", "reply": null, "flags": [], "n": 1}], "summary": "s", "notes": "", "tags": [[1]]}),
                "`tags[0]` is nested deeper than this field allows",
            ),
            (
                json!(["not", "an", "object"]),
                "the answer should be an object, not a list",
            ),
        ];
        for (answer, want) in cases {
            let e = conform(&reference(), &answer).unwrap_err().to_string();
            assert_eq!(e, want);
        }
        // An empty string is fine where the reference's was empty too.
        let ok = json!({"items": [{"id": "a", "text": "t", "reply": null, "flags": [], "n": 1}], "summary": "s", "notes": "", "tags": []});
        assert!(conform(&reference(), &ok).is_ok());
    }
}
