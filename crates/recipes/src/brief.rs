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
    for (name, field) in schema {
        match map.get(name) {
            None | Some(Value::Null) if field.required => {
                return Err(err(name, "is required"));
            }
            None | Some(Value::Null) => {}
            Some(v) => check_field(name, field, v)?,
        }
    }
    Ok(map.clone())
}

fn check_field(name: &str, f: &BriefField, v: &Value) -> Result<(), BriefError> {
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
                return Err(err(name, "must be a whole number"));
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
