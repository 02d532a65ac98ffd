//! Brief schemas: checking a submitted brief against its recipe's fields.

use crate::model::{BriefField, BriefType};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A brief that does not fit its schema; `field` is the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("brief.{field}: {message}")]
pub struct BriefError {
    pub field: String,
    pub message: String,
}

fn err(field: &str, message: impl Into<String>) -> BriefError {
    BriefError {
        field: field.to_string(),
        message: message.into(),
    }
}

/// The most characters any string field of a brief may hold, unless its
/// schema says fewer.
pub const MAX_STRING_CHARS: usize = 4000;

/// The most bytes a brief may take as JSON, whatever its schema allows
/// field by field: every agent's prompt and trail carries it, and a run's
/// record keeps it whole (an item of DynamoDB holds at most 400 KB).
pub const MAX_BRIEF_BYTES: usize = 64 * 1024;

/// Checks types and bounds. Product ids and run ids are checked against the
/// workspace by the caller; see [`BriefType::ProductIds`] and [`BriefType::RunId`].
pub fn check_brief(
    schema: &BTreeMap<String, BriefField>,
    brief: &Value,
) -> Result<Map<String, Value>, BriefError> {
    let Value::Object(map) = brief else {
        return Err(err("", "the brief must be a JSON object"));
    };
    if let Some(unknown) = map.keys().find(|k| !schema.contains_key(*k)) {
        return Err(err(
            unknown,
            format!(
                "unknown field (this workflow's brief has: {})",
                schema.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    let mut map = map.clone();
    for (name, field) in schema {
        match map.get_mut(name) {
            None | Some(Value::Null) if field.required => {
                return Err(err(name, "is required"));
            }
            None | Some(Value::Null) => {}
            Some(v) => check_field(name, field, v)?,
        }
    }
    let bytes = serde_json::to_vec(&map).map_or(usize::MAX, |b| b.len());
    if bytes > MAX_BRIEF_BYTES {
        return Err(err(
            "",
            format!("is {bytes} bytes as JSON; a brief may take at most {MAX_BRIEF_BYTES} bytes (64 KiB)"),
        ));
    }
    Ok(map)
}

/// Checks one field's value; a whole number written with a fraction of
/// zero (`5.0`, as some clients write every number) becomes `5`.
fn check_field(name: &str, f: &BriefField, v: &mut Value) -> Result<(), BriefError> {
    match f.ty {
        BriefType::String | BriefType::RunId => {
            let Some(s) = v.as_str() else {
                return Err(err(name, "must be a string"));
            };
            if f.required && s.trim().is_empty() {
                return Err(err(name, "must not be blank"));
            }
            let max = f.max_length.unwrap_or(MAX_STRING_CHARS);
            let n = s.chars().count();
            if n > max {
                return Err(err(name, format!("is {n} characters long; at most {max}")));
            }
        }
        BriefType::Number | BriefType::Integer => {
            let Some(x) = v.as_f64() else {
                return Err(err(name, "must be a number"));
            };
            if f.ty == BriefType::Integer && !(v.is_i64() || v.is_u64()) {
                // Below 2^52 a fraction of zero is what was written.
                if x.fract() != 0.0 || x.abs() >= 4_503_599_627_370_496.0 {
                    return Err(err(name, "must be a whole number"));
                }
                *v = Value::from(x as i64);
            }
            if let Some(min) = f.minimum
                && x < min
            {
                return Err(err(name, format!("must be at least {min}")));
            }
            if let Some(min) = f.exclusive_minimum
                && x <= min
            {
                return Err(err(name, format!("must be greater than {min}")));
            }
            if let Some(max) = f.maximum
                && x > max
            {
                return Err(err(name, format!("must be at most {max}")));
            }
        }
        BriefType::ProductIds => {
            let Some(items) = v.as_array() else {
                return Err(err(name, "must be a list of product ids"));
            };
            if let Some(min) = f.min_items
                && items.len() < min
            {
                return Err(err(name, format!("must list at least {min} product(s)")));
            }
            if let Some(max) = f.max_items
                && items.len() > max
            {
                return Err(err(name, format!("must list at most {max} products")));
            }
            for (i, item) in items.iter().enumerate() {
                let Some(id) = item.as_str() else {
                    return Err(err(&format!("{name}[{i}]"), "must be a product id string"));
                };
                if items[..i].iter().any(|o| o.as_str() == Some(id)) {
                    return Err(err(&format!("{name}[{i}]"), format!("lists `{id}` twice")));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text_field(max_length: usize) -> BriefField {
        serde_json::from_value(json!({"type": "string", "max_length": max_length})).unwrap()
    }

    /// A schema may allow long fields; the brief as a whole stays bounded.
    #[test]
    fn a_brief_over_its_byte_limit_is_refused_whatever_its_fields_allow() {
        let schema = BTreeMap::from([
            ("title".to_string(), text_field(200)),
            ("story".to_string(), text_field(1_000_000)),
        ]);
        let at_limit = "x".repeat(MAX_BRIEF_BYTES - r#"{"story":"","title":"t"}"#.len());
        let fits = json!({"title": "t", "story": at_limit});
        assert_eq!(serde_json::to_vec(&fits).unwrap().len(), MAX_BRIEF_BYTES);
        assert!(check_brief(&schema, &fits).is_ok());
        let over = json!({"title": "t", "story": format!("{at_limit}x")});
        let e = check_brief(&schema, &over).expect_err("one byte over");
        assert_eq!(e.field, "");
        assert!(e.message.contains(&format!("{}", MAX_BRIEF_BYTES + 1)), "{e}");
    }

    #[test]
    fn a_whole_number_with_a_zero_fraction_is_taken_as_that_number() {
        let days: BriefField =
            serde_json::from_value(json!({"type": "integer", "minimum": 1, "maximum": 90})).unwrap();
        let schema = BTreeMap::from([("days".to_string(), days)]);
        let taken = check_brief(&schema, &json!({"days": 5.0})).unwrap();
        assert_eq!(serde_json::to_string(&taken).unwrap(), r#"{"days":5}"#);
        let e = check_brief(&schema, &json!({"days": 5.5})).unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.message.as_str()),
            ("days", "must be a whole number")
        );
        let e = check_brief(&schema, &json!({"days": -0.0})).unwrap_err();
        assert_eq!(e.message, "must be at least 1");
        let e = check_brief(&schema, &json!({"days": 1e300})).unwrap_err();
        assert_eq!(e.message, "must be a whole number");
    }
}
