//! Facts about products and the shop, read from the brand data, for copy.
//! Nothing here invents a fact: each helper returns what the data says or
//! nothing.

use serde_json::Value;

use crate::offline::attr;
use crate::text::value_text;
use crate::types::{BrandProfile, Product, ShopProfile};

pub fn material(p: &Product) -> Option<String> {
    attr(
        p,
        &[
            "material",
            "materials",
            "fabric",
            "composition",
            "fibre",
            "fiber",
            "fill",
            "origin_material",
        ],
    )
}

pub fn colors(p: &Product) -> Option<String> {
    attr(
        p,
        &[
            "colors", "colours", "color", "colour", "finishes", "finish", "shades", "flavors", "flavours",
        ],
    )
}

pub fn sizes(p: &Product) -> Option<String> {
    attr(
        p,
        &["sizes", "size", "dimensions", "capacity", "volume", "weight"],
    )
}

pub fn care(p: &Product) -> Option<String> {
    attr(p, &["care", "care_instructions", "washing", "cleaning"])
}

/// Attribute keys the helpers above already cover.
pub const COVERED_KEYS: &[&str] = &[
    "material",
    "materials",
    "fabric",
    "composition",
    "fibre",
    "fiber",
    "fill",
    "origin_material",
    "colors",
    "colours",
    "color",
    "colour",
    "finishes",
    "finish",
    "shades",
    "flavors",
    "flavours",
    "sizes",
    "size",
    "dimensions",
    "capacity",
    "volume",
    "weight",
    "care",
    "care_instructions",
    "washing",
    "cleaning",
];

/// The other attributes, as (human key, text) pairs, in catalog order; a
/// unit in the key moves to the value (`pocket_depth_cm: 40` → ("Pocket
/// depth", "40 cm")), and `false` reads "no".
pub fn other_attributes(p: &Product) -> Vec<(String, String)> {
    p.attributes
        .iter()
        .filter(|(k, _)| !COVERED_KEYS.iter().any(|c| c.eq_ignore_ascii_case(k)))
        .filter_map(|(k, v)| attribute_line(k, v))
        .collect()
}

/// One attribute as (human key, text).
pub fn attribute_line(k: &str, v: &Value) -> Option<(String, String)> {
    let (key, unit) = if matches!(v, Value::Number(_)) {
        split_unit(k)
    } else {
        (k.to_string(), None)
    };
    let text = match v {
        Value::Bool(true) => Some("yes".to_string()),
        Value::Bool(false) => Some("no".to_string()),
        Value::Number(n) => Some(format_number(n)),
        other => value_text(other),
    }?;
    let text = match unit {
        Some(u) => format!("{text} {u}"),
        None => text,
    };
    Some((crate::text::humanize_key(&key), text))
}

const UNITS: &[(&str, &str)] = &[
    ("_g_m2_24h", "g/m²/24h"),
    ("_cm", "cm"),
    ("_mm", "mm"),
    ("_m", "m"),
    ("_km", "km"),
    ("_kg", "kg"),
    ("_g", "g"),
    ("_gsm", "gsm"),
    ("_l", "L"),
    ("_ml", "ml"),
    ("_oz", "oz"),
    ("_lb", "lb"),
    ("_in", "in"),
    ("_c", "°C"),
];

fn split_unit(key: &str) -> (String, Option<&'static str>) {
    let lower = key.to_lowercase();
    for (suffix, unit) in UNITS {
        if let Some(stripped) = lower.strip_suffix(suffix)
            && !stripped.is_empty()
        {
            return (key.get(..stripped.len()).unwrap_or(key).to_string(), Some(unit));
        }
    }
    (key.to_string(), None)
}

/// `20000` → `20,000`, `1.0` → `1`, `18.5` → `18.5`.
pub fn format_number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        let digits = i.abs().to_string();
        let mut out = String::new();
        for (idx, ch) in digits.chars().enumerate() {
            if idx > 0 && (digits.len() - idx).is_multiple_of(3) && digits.len() > 4 {
                out.push(',');
            }
            out.push(ch);
        }
        return if i < 0 { format!("-{out}") } else { out };
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
        Some(f) => format!("{f}"),
        None => n.to_string(),
    }
}

/// "Colours" or "Colors", following the brand's own spelling.
pub fn colour_word(brand: &BrandProfile) -> &'static str {
    let text = format!(
        "{} {} {} {} {}",
        brand.description,
        brand.tagline,
        brand.voice.sample_phrases.join(" "),
        brand.voice.dos.join(" "),
        brand.voice.donts.join(" ")
    )
    .to_lowercase();
    if text.contains("colour") {
        "Colours"
    } else {
        "Colors"
    }
}

pub fn policy(shop: &ShopProfile, key: &str) -> Option<String> {
    shop.policies
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .and_then(|(_, v)| value_text(v))
}

/// (average, count) of the shop's reviews when the data has them.
pub fn reviews(shop: &ShopProfile) -> Option<(f64, u64)> {
    let avg = shop.reviews.get("average").and_then(Value::as_f64)?;
    let count = shop.reviews.get("count").and_then(Value::as_u64)?;
    (count > 0 && (0.0..=5.0).contains(&avg)).then_some((avg, count))
}

pub fn review_themes(shop: &ShopProfile) -> Vec<String> {
    shop.reviews
        .get("recent_themes")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// A short lower-case noun for the product ("duvet cover"): the category's
/// last segment, singular-ish.
pub fn category_noun(p: &Product) -> String {
    let last = p
        .category
        .rsplit(['/', '>', '|'])
        .next()
        .unwrap_or(&p.category)
        .trim()
        .to_lowercase();
    if last.is_empty() { "piece".into() } else { last }
}

/// The sentence of the product's description that shares the most
/// significant words with `words` (the first sentence on a tie or when none
/// shares any).
pub fn best_sentence(p: &Product, words: &[String]) -> String {
    Sentences::of(p).best(words)
}

/// A product description's sentences, each beside its significant words:
/// read once for choosing among them many times.
pub struct Sentences(Vec<(String, Vec<String>)>);

impl Sentences {
    pub fn of(p: &Product) -> Sentences {
        Sentences(
            crate::text::sentence_segments(&p.description)
                .into_iter()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| (s.to_string(), crate::words::significant(s)))
                .collect(),
        )
    }

    /// See [`best_sentence`].
    pub fn best(&self, words: &[String]) -> String {
        let mut best: Option<(usize, &String)> = None;
        for (s, own) in &self.0 {
            let score = crate::words::overlap(own, words);
            if best.is_none_or(|(b, _)| score > b) {
                best = Some((score, s));
            }
        }
        best.map(|(_, s)| s.clone()).unwrap_or_default()
    }
}

/// What the product is not for, as the data says it: a description
/// sentence or attribute with a negation ("not suitable for induction",
/// "not rated for immersion"), or a `false` attribute.
pub fn limitation(p: &Product) -> Option<String> {
    let limiting = |s: &str| {
        let l = format!(" {} ", s.to_lowercase().replace('\u{2019}', "'"));
        LIMITS.iter().any(|n| l.contains(n))
    };
    if let Some(s) = crate::text::sentence_segments(&p.description)
        .into_iter()
        .map(str::trim)
        .find(|s| limiting(s))
    {
        return Some(s.to_string());
    }
    for (k, v) in &p.attributes {
        if let Some(t) = value_text(v)
            && limiting(&t)
        {
            return Some(format!("{}: {t}.", crate::text::humanize_key(k)));
        }
        if v == &Value::Bool(false) {
            return Some(format!(
                "Not suitable for {}.",
                crate::text::humanize_key(k).to_lowercase()
            ));
        }
    }
    None
}

/// Phrases that state what a product is not for.
const LIMITS: &[&str] = &[
    " not suitable",
    " not rated",
    " not designed",
    " not for ",
    " isn't for ",
    " not recommended",
    " doesn't work",
    " does not work",
    " not compatible",
    " not safe",
    " not intended",
    " not meant",
    " not waterproof",
];
