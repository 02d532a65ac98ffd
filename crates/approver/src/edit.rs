//! Pre-edits: when the model predicts a rejection, the edits its rules can
//! make to what it learnt people reject (strip emoji, remove discount and
//! urgency language, calm exclamation marks, trim hashtags, scale spend),
//! and what it could not do.

use crate::features::{NOT_COPY, Observed, Signal};
use crate::model::{Model, Prediction, Verdict, usd};
use greenlight_agents::rules::{DISCOUNT_TERMS, PRESSURE_PHRASES, drop_sentences, emoji_budget};
use greenlight_agents::text::{contains_phrase, limit_emoji, remove_phrase, tidy};
use serde::Serialize;
use serde_json::{Value, json};

/// An edited proposal and what was done to it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PreEdit {
    /// The edited proposal; `None` when no rule could change anything.
    pub proposal: Option<Value>,
    /// Each edit made, in words.
    pub edits: Vec<String>,
    /// What the learnt reasons ask for that no rule can do.
    pub could_not: Vec<String>,
    /// The model's view of the edited proposal.
    pub after: Option<Prediction>,
}

/// The edits for a predicted rejection, and what no rule could do; `None`
/// for a predicted approval.
/// The edits address the signals the model learnt to reject that this
/// proposal shows; `o` is the proposal as [`observe`] read it for the
/// prediction.
pub fn pre_edit(model: &Model, proposal: &Value, o: &Observed, prediction: &Prediction) -> Option<PreEdit> {
    if prediction.verdict != Verdict::Reject {
        return None;
    }
    let brand = model.brand();
    let context = o.context;
    let learnt = |s: Signal| model.weight_of(s) > 0.0 && o.signal(s) > 0.0;
    let mut edited = proposal.clone();
    let mut edits = Vec::new();
    let mut could_not = Vec::new();

    if learnt(Signal::Emoji) || learnt(Signal::EmojiOverPolicy) {
        // Emoji rejected as such go entirely; otherwise down to the policy.
        let keep = if learnt(Signal::Emoji) {
            0
        } else {
            emoji_budget(brand.emoji_policy)
        };
        let n = o.signal(Signal::Emoji) as usize;
        map_copy(&mut edited, &|t| limit_emoji(t, keep));
        edits.push(if keep == 0 {
            format!("removed {n} emoji")
        } else {
            format!("kept at most {keep} emoji per text (there were {n})")
        });
    }
    if learnt(Signal::Discount) {
        map_copy(&mut edited, &|t| without(t, DISCOUNT_TERMS));
        filter_tags(&mut edited, &|tag| {
            !greenlight_agents::rules::hashtag_has_discount(tag)
        });
        edits.push(format!(
            "removed the discount language ({})",
            o.discount_hits.join(", ")
        ));
    }
    if learnt(Signal::Urgency) {
        map_copy(&mut edited, &|t| without(t, PRESSURE_PHRASES));
        edits.push(format!(
            "removed the urgency language ({})",
            o.urgency_hits.join(", ")
        ));
    }
    if learnt(Signal::Exclamations) {
        map_copy(&mut edited, &|t| calm(t));
        edits.push("replaced exclamation marks with full stops".into());
    }
    if learnt(Signal::Hashtags) || learnt(Signal::HashtagsOverLimit) {
        // The brand's limit, or fewer if that is what people approve.
        let limit = model
            .approved_hashtags
            .map_or(o.hashtag_limit, |n| n.min(o.hashtag_limit))
            .max(1);
        if o.max_hashtags > limit {
            trim_tags(&mut edited, limit, &brand.hashtags.signature);
            edits.push(format!(
                "trimmed the hashtags from {} to {limit}{}, keeping the signature ones",
                o.max_hashtags,
                if limit < o.hashtag_limit {
                    " (the most approved posts had)"
                } else {
                    " (the brand's limit)"
                }
            ));
        }
    }
    if (learnt(Signal::SpendOverBrief) || learnt(Signal::SpendOfCap))
        && let Some(spend) = o.spend_usd
    {
        let target = [context.brief_budget_usd, context.cap_remaining_usd]
            .into_iter()
            .flatten()
            .fold(f64::INFINITY, f64::min);
        if target.is_finite() && target > 0.0 && spend > target {
            let scaled = scale_spend(&mut edited, target / spend);
            edits.push(format!(
                "scaled the daily budgets down: spend {} → {} (the {} is {})",
                usd(spend),
                usd(scaled),
                if context.brief_budget_usd == Some(target) {
                    "brief's budget"
                } else {
                    "cap's remainder"
                },
                usd(target)
            ));
        }
    }
    if learnt(Signal::BannedWords) {
        could_not.push(format!(
            "reword the brand's banned words ({}): that needs a writer",
            o.banned_hits.join(", ")
        ));
    }
    if learnt(Signal::Length) && o.signal(Signal::Length) > 0.0 {
        let w = prediction
            .weighed
            .iter()
            .any(|w| w.feature == Signal::Length.name());
        if w {
            could_not.push("shorten the copy: that needs a writer".into());
        }
    }
    let words: Vec<String> = prediction
        .weighed
        .iter()
        .filter_map(|w| w.feature.strip_prefix("phrase:").filter(|_| w.weight > 0.0))
        .filter(|term| contains_text(&edited, term))
        .map(|term| format!("“{term}”"))
        .collect();
    if !words.is_empty() {
        could_not.push(format!(
            "change what {} stand for in past rejections (their feedback says what): that needs a person",
            words.join(", ")
        ));
    }
    if edited == *proposal {
        return Some(PreEdit {
            proposal: None,
            edits,
            could_not,
            after: None,
        });
    }
    let after = model.predict(&edited, context);
    Some(PreEdit {
        proposal: Some(edited),
        edits,
        could_not,
        after: Some(after),
    })
}

/// Drops the sentences carrying any of the phrases; a text that would be
/// left empty (a title) loses just the phrases.
fn without(text: &str, phrases: &[&str]) -> String {
    let has = |s: &str| phrases.iter().any(|p| contains_phrase(s, p));
    if !has(text) {
        return text.to_string();
    }
    let dropped = drop_sentences(text, has);
    if !dropped.trim().is_empty() {
        return dropped;
    }
    let mut t = text.to_string();
    for p in phrases {
        t = remove_phrase(&t, p);
    }
    tidy(&t)
}

/// Exclamation marks become full stops ("!!" too).
fn calm(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last_bang = false;
    for c in text.chars() {
        if c == '!' {
            if !last_bang {
                out.push('.');
            }
            last_bang = true;
        } else {
            out.push(c);
            last_bang = false;
        }
    }
    out
}

fn map_copy(v: &mut Value, f: &dyn Fn(&str) -> String) {
    map_copy_under(v, None, f)
}

fn map_copy_under(v: &mut Value, key: Option<&str>, f: &dyn Fn(&str) -> String) {
    if key.is_some_and(|k| k == "hashtags" || NOT_COPY.contains(&k)) {
        return;
    }
    match v {
        Value::String(s) => *s = f(s),
        Value::Array(items) => items.iter_mut().for_each(|i| map_copy_under(i, key, f)),
        Value::Object(map) => map
            .iter_mut()
            .for_each(|(k, v)| map_copy_under(v, Some(k.as_str()), f)),
        _ => {}
    }
}

/// Every `hashtags` list in the proposal.
fn for_tags(v: &mut Value, f: &mut dyn FnMut(&mut Vec<Value>)) {
    match v {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                match v {
                    Value::Array(tags) if k == "hashtags" => f(tags),
                    other => for_tags(other, f),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| for_tags(i, f)),
        _ => {}
    }
}

fn filter_tags(v: &mut Value, keep: &dyn Fn(&str) -> bool) {
    for_tags(v, &mut |tags| tags.retain(|t| t.as_str().is_none_or(keep)));
}

fn trim_tags(v: &mut Value, limit: usize, signature: &[String]) {
    for_tags(v, &mut |tags| {
        if tags.len() <= limit {
            return;
        }
        let is_sig = |t: &Value| {
            t.as_str()
                .is_some_and(|s| signature.iter().any(|g| g.eq_ignore_ascii_case(s)))
        };
        let mut kept: Vec<Value> = tags.iter().filter(|t| is_sig(t)).cloned().collect();
        kept.extend(tags.iter().filter(|t| !is_sig(t)).cloned());
        kept.truncate(limit);
        *tags = kept;
    });
}

/// Scales each item's daily budget by `factor` (whole dollars, rounded
/// down) and recomputes its total; answers the new total.
fn scale_spend(v: &mut Value, factor: f64) -> f64 {
    let mut total = 0.0;
    if let Value::Array(items) = v {
        for item in items {
            let daily = item.get("daily_budget_usd").and_then(Value::as_f64);
            let days = item.get("days").and_then(Value::as_f64);
            let Value::Object(m) = item else { continue };
            match (daily, days) {
                (Some(daily), Some(days)) => {
                    // Whole dollars, down; never above what it was.
                    let mut new_daily = (daily * factor).floor();
                    if new_daily < 1.0 {
                        new_daily = daily.min(1.0);
                    }
                    let new_total = new_daily * days;
                    total += new_total;
                    m.insert("daily_budget_usd".into(), money_value(new_daily));
                    if m.contains_key("total_usd") {
                        m.insert("total_usd".into(), money_value(new_total));
                    }
                }
                _ => {
                    if let Some(t) = m.get("total_usd").and_then(Value::as_f64) {
                        let new_total = (t * factor).floor();
                        total += new_total;
                        m.insert("total_usd".into(), money_value(new_total));
                    }
                }
            }
        }
    }
    total
}

/// Whole dollars as an integer, like the agents write them; cents as a decimal.
fn money_value(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

fn contains_text(v: &Value, term: &str) -> bool {
    match v {
        Value::String(s) => contains_phrase(s, term),
        Value::Array(items) => items.iter().any(|i| contains_text(i, term)),
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| !NOT_COPY.contains(&k.as_str()) && contains_text(v, term)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calm_collapses_runs() {
        assert_eq!(calm("Hi!! Yes!"), "Hi. Yes.");
    }

    #[test]
    fn without_drops_the_sentence_or_just_the_phrase() {
        assert_eq!(
            without("Soft linen. Get 20% off today. Made in Portugal.", DISCOUNT_TERMS),
            "Soft linen. Made in Portugal."
        );
        assert_eq!(
            without("Linen napkins on sale", DISCOUNT_TERMS),
            "Linen napkins on"
        );
    }

    #[test]
    fn spend_scales_to_whole_dollars() {
        let mut v = json!([{"daily_budget_usd": 100, "days": 10, "total_usd": 1000},
                           {"daily_budget_usd": 50, "days": 10, "total_usd": 500}]);
        let t = scale_spend(&mut v, 0.5);
        assert_eq!(t, 750.0);
        assert_eq!(v[0]["daily_budget_usd"], 50);
        assert_eq!(v[1]["total_usd"], 250);
    }
}
