//! What a gate shows: the proposal's digest, its committed spend, a one-line
//! summary and a readable rendering.

use crate::money::Money;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt::Write;

/// The review checklist every card starts with (the seed's generic four).
pub const GENERIC_CHECKLIST: [&str; 4] = [
    "Does the proposal match the brief?",
    "Is the cost reasonable?",
    "Does it sound like your brand?",
    "Would you be embarrassed if this went out as-is?",
];

/// `sha256:<hex>` of the proposal's canonical JSON (object keys sorted, no
/// whitespace), so the same content always has the same digest.
pub fn digest(proposal: &Value) -> String {
    let mut canonical = Vec::with_capacity(1024);
    write_canonical(proposal, &mut canonical);
    format!("sha256:{}", hex::encode(Sha256::digest(&canonical)))
}

/// Keys and scalars as serde_json writes them compactly (what `Value`'s
/// `Display` wrote here before), straight into `out`.
fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_scalar(k, out);
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        other => write_scalar(other, out),
    }
}

fn write_scalar<T: serde::Serialize + ?Sized>(v: &T, out: &mut Vec<u8>) {
    // Writing a string, number, bool or null into a Vec cannot fail.
    let written = serde_json::to_writer(&mut *out, v);
    debug_assert!(written.is_ok(), "{written:?}");
}

/// A proposal's committed external spend: the sum of its items' totals
/// (daily budget × days), and the sum of their daily budgets. `None` when
/// the proposal commits no spend.
pub fn spend(proposal: &Value) -> Option<(Money, Option<Money>)> {
    let items = proposal.as_array()?;
    let mut total = Money::ZERO;
    let mut daily = Money::ZERO;
    let mut any = false;
    let mut all_daily = true;
    for item in items {
        let t = item
            .get("total_usd")
            .and_then(Value::as_f64)
            .and_then(Money::from_usd);
        let d = item
            .get("daily_budget_usd")
            .and_then(Value::as_f64)
            .and_then(Money::from_usd);
        let days = item.get("days").and_then(Value::as_i64);
        let committed = t.or_else(|| Some(Money::from_micros(d?.micros().checked_mul(days?)?)));
        if let Some(c) = committed {
            total = total + c;
            any = true;
        }
        match d {
            Some(d) => daily = daily + d,
            None => all_daily = false,
        }
    }
    any.then_some((total, all_daily.then_some(daily)))
}

fn days_of(proposal: &Value) -> Option<i64> {
    let days: Vec<i64> = proposal
        .as_array()?
        .iter()
        .filter_map(|i| i.get("days").and_then(Value::as_i64))
        .collect();
    let first = *days.first()?;
    days.iter().all(|d| *d == first).then_some(first)
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn text_of<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| v.get(*k).and_then(Value::as_str))
}

fn clip(s: &str, n: usize) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() <= n {
        s
    } else {
        format!("{}…", s.chars().take(n).collect::<String>().trim_end())
    }
}

/// A one-line summary for the queue, e.g. `3 campaigns, $48.00/day for 5 days`.
pub fn summary(field: &str, proposal: &Value) -> String {
    if let Some((total, daily)) = spend(proposal) {
        let n = proposal.as_array().map_or(0, Vec::len);
        return match (daily, days_of(proposal)) {
            (Some(d), Some(days)) => format!(
                "{}, {d}/day for {}",
                plural(n, "campaign", "campaigns"),
                plural(days as usize, "day", "days")
            ),
            _ => format!("{}, {total} in total", plural(n, "item", "items")),
        };
    }
    match (field, proposal) {
        ("variants", Value::Array(products)) => {
            let options: usize = products
                .iter()
                .map(|p| p.get("options").and_then(Value::as_array).map_or(1, Vec::len))
                .sum();
            let names: Vec<&str> = products
                .iter()
                .filter_map(|p| text_of(p, &["product_name", "name"]))
                .collect();
            format!(
                "{} for {}: {}",
                plural(options, "listing variant", "listing variants"),
                plural(products.len(), "product", "products"),
                clip(&names.join(", "), 80)
            )
        }
        ("drafts", Value::Array(drafts)) => {
            let handles: Vec<&str> = drafts
                .iter()
                .filter_map(|d| text_of(d, &["handle", "name"]))
                .collect();
            format!(
                "{} to {}",
                plural(drafts.len(), "creator DM", "creator DMs"),
                clip(&handles.join(", "), 80)
            )
        }
        (_, Value::Object(map)) if map.contains_key("text") => {
            let text = map.get("text").and_then(Value::as_str).unwrap_or_default();
            let tags = map.get("hashtags").and_then(Value::as_array).map_or(0, Vec::len);
            format!(
                "“{}” with {}",
                clip(text, 90),
                plural(tags, "hashtag", "hashtags")
            )
        }
        (_, Value::String(s)) => clip(s, 120),
        (_, Value::Array(items)) => plural(items.len(), "item", "items"),
        (_, Value::Object(map)) => plural(map.len(), "field", "fields"),
        (_, other) => clip(&other.to_string(), 120),
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn humanize(key: &str) -> String {
    let s = key.trim_end_matches("_usd").replace('_', " ");
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => s,
    }
}

/// A readable HTML rendering of any proposal: lists as lists, objects as
/// definition lists, text escaped. No script, no styles, no raw JSON.
pub fn render_html(proposal: &Value) -> String {
    let mut out = String::new();
    render_value(proposal, None, &mut out, 0);
    out
}

fn render_value(v: &Value, key: Option<&str>, out: &mut String, depth: usize) {
    if depth > 8 {
        out.push('…');
        return;
    }
    match v {
        Value::Null => out.push('—'),
        Value::Bool(b) => out.push_str(if *b { "yes" } else { "no" }),
        Value::Number(n) => {
            if key.is_some_and(|k| k.ends_with("_usd"))
                && let Some(m) = n.as_f64().and_then(Money::from_usd)
            {
                out.push_str(&m.to_string());
            } else {
                out.push_str(&n.to_string());
            }
        }
        Value::String(s) => out.push_str(&escape_html(s)),
        Value::Array(items) => {
            if items.iter().all(|i| i.is_string()) && key == Some("hashtags") {
                let tags: Vec<String> = items.iter().filter_map(Value::as_str).map(escape_html).collect();
                let _ = write!(out, "<p class=\"hashtags\">{}</p>", tags.join(" "));
                return;
            }
            out.push_str("<ol>");
            for item in items {
                out.push_str("<li>");
                render_value(item, None, out, depth + 1);
                out.push_str("</li>");
            }
            out.push_str("</ol>");
        }
        Value::Object(map) => {
            out.push_str("<dl>");
            for (k, v) in map {
                let _ = write!(out, "<dt>{}</dt><dd>", escape_html(&humanize(k)));
                render_value(v, Some(k), out, depth + 1);
                out.push_str("</dd>");
            }
            out.push_str("</dl>");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn digest_ignores_key_order_but_not_content() {
        let a = json!({"b": 1, "a": [1, {"y": 2, "x": 1}]});
        let b = json!({"a": [1, {"x": 1, "y": 2}], "b": 1});
        let c = json!({"a": [1, {"x": 1, "y": 3}], "b": 1});
        assert_eq!(digest(&a), digest(&b));
        assert_ne!(digest(&a), digest(&c));
        assert!(digest(&a).starts_with("sha256:"));
    }

    /// Digests are stored with approvals and sent back with decisions: the
    /// canonical form must not change (escapes, numbers, unicode, nesting).
    #[test]
    fn digest_of_a_proposal_is_what_it_has_always_been() {
        let p = json!([{"title": "Linen “Sheet” Set – 100% \"flax\"\n✨", "n": 3, "x": -1.5, "big": 1e300,
                        "none": null, "ok": true, "z": {"é": [], "a\u{1}": {}}}]);
        assert_eq!(
            digest(&p),
            "sha256:d85c13235312246b90ca50601463aad7363bb57dc8fdc1141d386d6aee719e6a"
        );
    }

    #[test]
    fn campaigns_spend_and_summary() {
        let p = json!([
            {"name": "A", "daily_budget_usd": 30.0, "days": 5, "total_usd": 150.0},
            {"name": "B", "daily_budget_usd": 18.0, "days": 5, "total_usd": 90.0},
        ]);
        let (total, daily) = spend(&p).unwrap();
        assert_eq!(total, Money::from_usd(240.0).unwrap());
        assert_eq!(daily, Some(Money::from_usd(48.0).unwrap()));
        assert_eq!(summary("campaigns", &p), "2 campaigns, $48.00/day for 5 days");
        assert_eq!(spend(&json!([{"title": "x"}])), None);
    }

    #[test]
    fn html_is_escaped() {
        let html = render_html(&json!({"text": "<script>alert(1)</script>", "hashtags": ["#a&b"]}));
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("#a&amp;b"));
    }
}

/// Fields an edit may not change: who and what the proposal is about, and
/// where it goes.
pub const FIXED_IN_EDITS: [&str; 11] = [
    "product_id",
    "product_name",
    "creator_id",
    "handle",
    "name",
    "platform",
    "placement",
    "asset_url",
    "audience",
    "audience_interests",
    "past_collaboration",
];

/// Checks an approver's edit against the proposal it edits (the gate's
/// output schema is the proposal's shape): the same JSON types and object
/// keys (none added, none missing), lists no longer, each element shaped
/// like the original's, text non-blank where the original's was, the
/// [`FIXED_IN_EDITS`] fields unchanged, no number higher than it was, each
/// campaign's `total_usd` its daily budget × days, whole numbers whole and
/// amounts in whole cents where the original's were, and not more than
/// twice the original's size (or 1 KiB more, for a short one). The error names the field: `post_caption.hashtags[2]`.
pub fn check_edit(field: &str, original: &Value, edited: &Value) -> Result<(), String> {
    let size = |v: &Value| serde_json::to_string(v).map(|s| s.len()).unwrap_or(usize::MAX);
    let (was, is) = (size(original), size(edited));
    // Twice the size, or 1 KiB more where that is more (a short caption
    // may be reworded at greater length).
    let most = was.saturating_mul(2).max(was.saturating_add(1024));
    if is > most {
        return Err(format!(
            "{field} is {is} bytes, against the proposal's {was} (at most {most}): an edit trims and rewords, it does not grow"
        ));
    }
    if let (Value::Array(o), Value::Array(e)) = (original, edited)
        && !o.is_empty()
        && e.is_empty()
    {
        return Err(format!(
            "{field} has no items left: an edit keeps at least one (to send none, reject)"
        ));
    }
    check_shape(field, original, edited)
}

/// An approved edit as it is kept and sent: a whole number written with a
/// zero fraction (`7.0`) where the original had a whole number is written
/// as one (`7`), so that what reads it as a count finds one.
pub fn keep_whole(original: &Value, edited: &mut Value) {
    match (original, edited) {
        (Value::Object(o), Value::Object(e)) => {
            // Amounts of money are kept as written.
            for (k, ev) in e.iter_mut().filter(|(k, _)| !k.ends_with("_usd")) {
                if let Some(ov) = o.get(k) {
                    keep_whole(ov, ev);
                }
            }
        }
        (Value::Array(o), Value::Array(e)) => {
            for (i, ev) in e.iter_mut().enumerate() {
                if let Some(ov) = o.get(i).or_else(|| o.first()) {
                    keep_whole(ov, ev);
                }
            }
        }
        (Value::Number(o), e @ Value::Number(_)) if o.is_i64() || o.is_u64() => {
            if let Some(x) = e.as_f64()
                && x.fract() == 0.0
                && x.abs() < 9_007_199_254_740_992.0
                && !(e.is_i64() || e.is_u64())
            {
                *e = Value::from(x as i64);
            }
        }
        _ => {}
    }
}

/// A whole number (`days`, …) stays whole if it was.
fn check_whole(path: &str, original: &Value, edited: &Value) -> Result<(), String> {
    match (original, edited.as_f64()) {
        (Value::Number(o), Some(x)) if (o.is_i64() || o.is_u64()) && x.fract() != 0.0 => {
            Err(format!("{path} must be a whole number, as it was, not {x}"))
        }
        _ => Ok(()),
    }
}

/// An amount of money stays in whole cents if it was.
fn check_cents(path: &str, original: &Value, edited: &Value) -> Result<(), String> {
    // Exactly a number of cents: 19.99 is, 24.0000004 is not.
    let cents = |x: f64| Money::from_usd(x).is_some_and(|m| m.micros() % 10_000 == 0 && m.usd() == x);
    match (original.as_f64(), edited.as_f64()) {
        (Some(was), Some(x)) if cents(was) && !cents(x) => {
            Err(format!("{path} must be in whole cents, not {x}"))
        }
        _ => Ok(()),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn check_shape(path: &str, original: &Value, edited: &Value) -> Result<(), String> {
    match (original, edited) {
        (Value::Object(o), Value::Object(e)) => {
            if let Some(k) = e.keys().find(|k| !o.contains_key(*k)) {
                return Err(format!("{path}.{k} is not a field of this proposal"));
            }
            if let Some(k) = o.keys().find(|k| !e.contains_key(*k)) {
                return Err(format!("{path}.{k} is missing"));
            }
            for (k, ov) in o {
                if FIXED_IN_EDITS.contains(&k.as_str()) && e[k] != *ov {
                    return Err(format!(
                        "{path}.{k} may not change in an edit: it says who or what the proposal is about"
                    ));
                }
                check_shape(&format!("{path}.{k}"), ov, &e[k])?;
                if k.ends_with("_usd") {
                    check_cents(&format!("{path}.{k}"), ov, &e[k])?;
                } else {
                    check_whole(&format!("{path}.{k}"), ov, &e[k])?;
                }
            }
            let num = |k: &str| e.get(k).and_then(Value::as_f64);
            if let (Some(daily), Some(days), Some(total)) =
                (num("daily_budget_usd"), num("days"), num("total_usd"))
                && (daily * days - total).abs() > 0.005
            {
                return Err(format!(
                    "{path}.total_usd must be daily_budget_usd × days ({})",
                    daily * days
                ));
            }
            Ok(())
        }
        (Value::Array(o), Value::Array(e)) => {
            if e.len() > o.len() {
                return Err(format!(
                    "{path} has {} items; an edit may remove items, not add them ({} proposed)",
                    e.len(),
                    o.len()
                ));
            }
            for (i, ev) in e.iter().enumerate() {
                let ov = o.get(i).or_else(|| o.first()).unwrap_or(&Value::Null);
                if !o.is_empty() {
                    check_shape(&format!("{path}[{i}]"), ov, ev)?;
                }
            }
            Ok(())
        }
        (Value::String(o), Value::String(e)) => {
            if !o.trim().is_empty() && e.trim().is_empty() {
                return Err(format!("{path} must not be blank"));
            }
            Ok(())
        }
        (Value::Number(o), Value::Number(e)) => match (o.as_f64(), e.as_f64()) {
            (Some(was), Some(x)) if x.is_finite() && x >= 0.0 && x <= was => Ok(()),
            (Some(was), Some(x)) if x.is_finite() && x > was => Err(format!(
                "{path} may only go down in an edit: it was {was}, not {x}"
            )),
            _ => Err(format!("{path} must be a number of zero or more")),
        },
        (Value::Null, Value::Null) => Ok(()),
        (Value::Null, e) => Err(format!("{path} must stay null, not {}", kind(e))),
        (o, e) if kind(o) == kind(e) => Ok(()),
        (o, e) => Err(format!("{path} must be {}, not {}", kind(o), kind(e))),
    }
}

#[cfg(test)]
mod edit_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_edit_keeps_the_proposal_shape() {
        let o = json!({"text": "Hi", "hashtags": ["#a", "#b"]});
        assert!(check_edit("post_caption", &o, &json!({"text": "Hello", "hashtags": ["#a"]})).is_ok());
        assert_eq!(
            check_edit(
                "post_caption",
                &o,
                &json!({"text": "Hi", "hashtags": ["#a"], "x": 1})
            ),
            Err("post_caption.x is not a field of this proposal".into())
        );
        assert_eq!(
            check_edit("post_caption", &o, &json!({"text": " ", "hashtags": []})),
            Err("post_caption.text must not be blank".into())
        );
        assert_eq!(
            check_edit("post_caption", &o, &json!({"text": "Hi", "hashtags": [1]})),
            Err("post_caption.hashtags[0] must be text, not a number".into())
        );
        assert_eq!(
            check_edit(
                "post_caption",
                &o,
                &json!({"text": "Hi", "hashtags": ["#a", "#b", "#c"]})
            ),
            Err(
                "post_caption.hashtags has 3 items; an edit may remove items, not add them (2 proposed)"
                    .into()
            )
        );
        assert!(
            check_edit(
                "c",
                &json!([{"daily_budget_usd": 10}]),
                &json!([{"daily_budget_usd": -1}])
            )
            .is_err()
        );
    }

    #[test]
    fn an_edit_cannot_raise_spend_retarget_or_grow() {
        let o = json!([{"name": "Spring", "placement": "pinterest", "daily_budget_usd": 55, "days": 7,
                        "total_usd": 385, "creative": {"headline": "Linen", "asset_url": "/api/runs/r/assets/a.svg"}}]);
        let ok = json!([{"name": "Spring", "placement": "pinterest", "daily_budget_usd": 40, "days": 7,
                         "total_usd": 280, "creative": {"headline": "Soft linen", "asset_url": "/api/runs/r/assets/a.svg"}}]);
        assert_eq!(check_edit("campaigns", &o, &ok), Ok(()));
        let mut raised = ok.clone();
        raised[0]["daily_budget_usd"] = json!(5000);
        assert_eq!(
            check_edit("campaigns", &o, &raised),
            Err("campaigns[0].daily_budget_usd may only go down in an edit: it was 55, not 5000".into())
        );
        let mut total = ok.clone();
        total[0]["total_usd"] = json!(100);
        assert_eq!(
            check_edit("campaigns", &o, &total),
            Err("campaigns[0].total_usd must be daily_budget_usd × days (280)".into())
        );
        let mut moved = ok.clone();
        moved[0]["creative"]["asset_url"] = json!("https://elsewhere.example/x.png");
        assert!(
            check_edit("campaigns", &o, &moved)
                .unwrap_err()
                .contains("asset_url may not change")
        );
        let mut placed = ok.clone();
        placed[0]["placement"] = json!("tiktok");
        assert!(
            check_edit("campaigns", &o, &placed)
                .unwrap_err()
                .contains("placement may not change")
        );
        assert!(
            check_edit("x", &json!({"a": null}), &json!({"a": "now"}))
                .unwrap_err()
                .contains("must stay null")
        );
        let big = json!([{"name": "Spring", "placement": "pinterest", "daily_budget_usd": 40, "days": 7,
                          "total_usd": 280, "creative": {"headline": "x".repeat(10_000), "asset_url": "/api/runs/r/assets/a.svg"}}]);
        assert!(
            check_edit("campaigns", &o, &big)
                .unwrap_err()
                .contains("does not grow")
        );
    }

    #[test]
    fn an_edit_keeps_counts_whole_and_money_in_cents() {
        let o = json!([{"name": "Spring", "daily_budget_usd": 55, "days": 7, "total_usd": 385}]);
        // Money may go to any cent, though the original was a whole dollar.
        let cents = json!([{"name": "Spring", "daily_budget_usd": 40.5, "days": 7, "total_usd": 283.5}]);
        assert_eq!(check_edit("campaigns", &o, &cents), Ok(()));
        let half_day = json!([{"name": "Spring", "daily_budget_usd": 24, "days": 1.5, "total_usd": 36}]);
        assert_eq!(
            check_edit("campaigns", &o, &half_day),
            Err("campaigns[0].days must be a whole number, as it was, not 1.5".into())
        );
        let mut whole = json!([{"name": "Spring", "daily_budget_usd": 24.0, "days": 2.0, "total_usd": 48}]);
        assert_eq!(check_edit("campaigns", &o, &whole), Ok(()));
        // Kept and sent as the whole number it is; money as written.
        keep_whole(&o, &mut whole);
        assert_eq!(
            serde_json::to_string(&whole).unwrap(),
            r#"[{"name":"Spring","daily_budget_usd":24.0,"days":2,"total_usd":48}]"#
        );
        assert_eq!(days_of(&whole), Some(2));
        // No campaign left is a rejection, not an edit.
        assert_eq!(
            check_edit("campaigns", &o, &json!([])),
            Err("campaigns has no items left: an edit keeps at least one (to send none, reject)".into())
        );
        assert!(check_edit("x", &json!({"total_usd": 30}), &json!({"total_usd": 24.0000004})).is_err());
        for fine in [19.99, 0.3, 1234567.89] {
            let o = json!({"total_usd": 2e6});
            assert_eq!(check_edit("x", &o, &json!({"total_usd": fine})), Ok(()), "{fine}");
        }
        let tenth_cent =
            json!([{"name": "Spring", "daily_budget_usd": 1.001, "days": 3, "total_usd": 3.003}]);
        assert_eq!(
            check_edit("campaigns", &o, &tenth_cent),
            Err("campaigns[0].daily_budget_usd must be in whole cents, not 1.001".into())
        );
    }

    #[test]
    fn an_edit_grows_to_twice_the_size_or_1_kib_more_and_no_further() {
        let o = json!({"text": "x".repeat(600)});
        let was = serde_json::to_string(&o).unwrap().len();
        let sized = |n: usize| json!({"text": "y".repeat(n - (was - 600))});
        // 1 KiB more is more than twice here.
        assert_eq!(check_edit("c", &o, &sized(was + 1024)), Ok(()));
        let over = check_edit("c", &o, &sized(was + 1025)).unwrap_err();
        assert!(over.contains(&format!("(at most {})", was + 1024)), "{over}");
        let o = json!({"text": "x".repeat(5000)});
        let was = serde_json::to_string(&o).unwrap().len();
        let sized = |n: usize| json!({"text": "y".repeat(n - (was - 5000))});
        assert_eq!(check_edit("c", &o, &sized(2 * was)), Ok(()));
        assert!(check_edit("c", &o, &sized(2 * was + 1)).is_err());
    }
}
