//! Small helpers to read and write DynamoDB items.

use aws_sdk_dynamodb::types::AttributeValue;
use greenlight_core::ports::StoreError;
use greenlight_core::time::Timestamp;
use serde::de::DeserializeOwned;
use std::collections::HashMap;

pub type Item = HashMap<String, AttributeValue>;

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

pub fn opt_s<'a>(item: &'a Item, key: &str) -> Option<&'a str> {
    item.get(key).and_then(|v| v.as_s().ok()).map(String::as_str)
}

pub fn get_s<'a>(item: &'a Item, key: &str) -> Result<&'a str, StoreError> {
    opt_s(item, key).ok_or_else(|| corrupt(format!("item has no string `{key}`")))
}

pub fn opt_n(item: &Item, key: &str) -> Result<Option<i64>, StoreError> {
    match item.get(key) {
        None => Ok(None),
        Some(v) => {
            let text = v
                .as_n()
                .map_err(|_| corrupt(format!("`{key}` is not a number")))?;
            text.parse()
                .map(Some)
                .map_err(|_| corrupt(format!("`{key}` is not an integer")))
        }
    }
}

pub fn get_n(item: &Item, key: &str) -> Result<i64, StoreError> {
    opt_n(item, key)?.ok_or_else(|| corrupt(format!("item has no number `{key}`")))
}

pub fn json_of<T: DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(corrupt)
}

pub fn ts(text: &str) -> Result<Timestamp, StoreError> {
    Timestamp::parse(text).ok_or_else(|| corrupt(format!("not a time: {text}")))
}

pub fn now() -> Timestamp {
    use greenlight_core::time::Clock;
    greenlight_core::time::SystemClock.now()
}

/// An update expression under construction: `SET`, `ADD`, `REMOVE` and a condition.
#[derive(Default)]
pub struct Upd {
    sets: Vec<(String, AttributeValue)>,
    adds: Vec<(String, AttributeValue)>,
    removes: Vec<String>,
    pub condition: Option<String>,
    values: HashMap<String, AttributeValue>,
    names: HashMap<String, String>,
}

impl Upd {
    pub fn new() -> Upd {
        Upd::default()
    }

    /// `SET attr = value`; setting the same attribute again replaces the value.
    pub fn set(mut self, attr: &str, v: AttributeValue) -> Upd {
        self.sets.retain(|(a, _)| a != attr);
        self.sets.push((attr.to_string(), v));
        self
    }

    pub fn add(mut self, attr: &str, v: AttributeValue) -> Upd {
        self.adds.push((attr.to_string(), v));
        self
    }

    pub fn remove(mut self, attr: &str) -> Upd {
        self.removes.push(attr.to_string());
        self
    }

    /// The condition; it names values `:x` and names `#x` given with `value`/`name`.
    pub fn when(mut self, condition: &str) -> Upd {
        self.condition = Some(condition.to_string());
        self
    }

    pub fn value(mut self, placeholder: &str, v: AttributeValue) -> Upd {
        self.values.insert(placeholder.to_string(), v);
        self
    }

    pub fn name(mut self, placeholder: &str, attr: &str) -> Upd {
        self.names.insert(placeholder.to_string(), attr.to_string());
        self
    }

    pub fn expression(&self) -> String {
        let mut parts = Vec::new();
        if !self.sets.is_empty() {
            let s: Vec<String> = (0..self.sets.len()).map(|i| format!("#s{i} = :s{i}")).collect();
            parts.push(format!("SET {}", s.join(", ")));
        }
        if !self.adds.is_empty() {
            let a: Vec<String> = (0..self.adds.len()).map(|i| format!("#a{i} :a{i}")).collect();
            parts.push(format!("ADD {}", a.join(", ")));
        }
        if !self.removes.is_empty() {
            let r: Vec<String> = (0..self.removes.len()).map(|i| format!("#r{i}")).collect();
            parts.push(format!("REMOVE {}", r.join(", ")));
        }
        parts.join(" ")
    }

    pub fn names(&self) -> Option<HashMap<String, String>> {
        let mut names = self.names.clone();
        for (i, (a, _)) in self.sets.iter().enumerate() {
            names.insert(format!("#s{i}"), a.clone());
        }
        for (i, (a, _)) in self.adds.iter().enumerate() {
            names.insert(format!("#a{i}"), a.clone());
        }
        for (i, a) in self.removes.iter().enumerate() {
            names.insert(format!("#r{i}"), a.clone());
        }
        Some(names)
    }

    pub fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        let mut values = self.values.clone();
        for (i, (_, v)) in self.sets.iter().enumerate() {
            values.insert(format!(":s{i}"), v.clone());
        }
        for (i, (_, v)) in self.adds.iter().enumerate() {
            values.insert(format!(":a{i}"), v.clone());
        }
        (!values.is_empty()).then_some(values)
    }
}
