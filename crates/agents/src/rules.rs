//! The brand rules every agent obeys, as one checker/fixer.
//!
//! [`BrandRules`] answers "does this text break a rule?" ([`BrandRules::violations`])
//! and "make it comply" ([`BrandRules::clean`]). Agents run every piece of
//! copy through `clean` with the claims the products it talks about can
//! prove; Compliance and the Profile Auditor use `violations` to report.

use crate::text::{
    PhraseSet, contains_phrase, count_emoji, limit_emoji, remove_phrase, sentence_segments, tidy,
};
use crate::types::{BrandProfile, EmojiPolicy, Product};
use std::sync::{Arc, LazyLock};

/// Phrases that count as discount language.
pub const DISCOUNT_TERMS: &[&str] = &[
    "% off",
    "percent off",
    "sale",
    "discount",
    "discounts",
    "discounted",
    "deal",
    "deals",
    "coupon",
    "coupons",
    "promo code",
    "promo codes",
    "promo",
    "save $",
    "clearance",
    "bogo",
];

/// Pushy urgency phrases (a brand-voice rule Compliance applies).
pub const PRESSURE_PHRASES: &[&str] = &[
    "don't wait",
    "dont wait",
    "hurry",
    "last chance",
    "act now",
    "before it's gone",
    "before they're gone",
    "won't last",
    "limited time",
    "selling fast",
    "while supplies last",
];

/// Platform rules for a social caption.
pub const CAPTION_MAX_CHARS: usize = 2200;
pub const PLATFORM_MAX_HASHTAGS: usize = 30;

/// The most emoji a text may carry under a policy (expressive: "a few").
pub fn emoji_budget(policy: EmojiPolicy) -> usize {
    match policy {
        EmojiPolicy::None => 0,
        EmojiPolicy::Sparing => 1,
        EmojiPolicy::Expressive => 5,
    }
}

/// [`DISCOUNT_TERMS`], to look for in one pass.
pub static DISCOUNT_SET: LazyLock<PhraseSet> =
    LazyLock::new(|| PhraseSet::new(DISCOUNT_TERMS.iter().copied()));
/// [`PRESSURE_PHRASES`], to look for in one pass.
pub static PRESSURE_SET: LazyLock<PhraseSet> =
    LazyLock::new(|| PhraseSet::new(PRESSURE_PHRASES.iter().copied()));

pub fn has_discount_language(text: &str) -> bool {
    DISCOUNT_SET.any_in(text)
}

pub fn has_pressure_language(text: &str) -> bool {
    PRESSURE_SET.any_in(text)
}

/// Whether brief notes ask for no discount language ("No discounts, please",
/// "avoid % off", "full price only").
pub fn notes_forbid_discounts(notes: &str) -> bool {
    let lower = notes.to_lowercase();
    if lower.contains("full price") || lower.contains("full-price") {
        return true;
    }
    for seg in lower.split(['.', '!', '?', ';', '\n']) {
        let mentions = has_discount_language(seg)
            || seg.contains("discount")
            || seg.contains("price cut")
            || seg.contains("markdown")
            || seg.contains("% off");
        let words: Vec<String> = seg
            .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '\u{2019}'))
            .filter(|w| !w.is_empty())
            .map(|w| w.replace('\u{2019}', "'"))
            .collect();
        let negated = words.iter().any(|w| {
            matches!(
                w.as_str(),
                "no" | "not"
                    | "never"
                    | "avoid"
                    | "avoiding"
                    | "don't"
                    | "dont"
                    | "without"
                    | "skip"
                    | "zero"
                    | "nothing"
                    | "none"
            )
        }) || seg.contains("stay away")
            || seg.contains("free of");
        if mentions && negated {
            return true;
        }
    }
    false
}

/// One broken rule found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    BannedWord(String),
    TooManyEmoji { found: usize, allowed: usize },
    DiscountLanguage,
    UnprovenClaim(String),
}

/// The rules of one brand for one brief.
#[derive(Debug, Clone)]
pub struct BrandRules {
    banned_words: Vec<String>,
    pub emoji_policy: EmojiPolicy,
    /// False when the brand forbids it or the brief's notes ask for none.
    pub discount_allowed: bool,
    claims_requiring_proof: Vec<String>,
    /// The banned words and the claims, to look for in one pass.
    watched: Arc<PhraseSet>,
}

impl BrandRules {
    pub fn new(brand: &BrandProfile, brief_notes: Option<&str>) -> BrandRules {
        let notes_forbid = brief_notes.is_some_and(notes_forbid_discounts);
        BrandRules::from_parts(
            brand.banned_words.clone(),
            if brief_notes.is_some_and(|n| crate::words::mentions_negated(n, &["emoji"])) {
                EmojiPolicy::None
            } else {
                brand.emoji_policy
            },
            brand.discount_language_allowed && !notes_forbid,
            brand.claims_requiring_proof.clone(),
        )
    }

    /// Rules as given (blank words and claims dropped).
    pub fn from_parts(
        banned_words: Vec<String>,
        emoji_policy: EmojiPolicy,
        discount_allowed: bool,
        claims_requiring_proof: Vec<String>,
    ) -> BrandRules {
        let tidy = |v: Vec<String>| -> Vec<String> {
            v.iter()
                .map(|w| w.trim().to_string())
                .filter(|w| !w.is_empty())
                .collect()
        };
        let (banned_words, claims_requiring_proof) = (tidy(banned_words), tidy(claims_requiring_proof));
        let watched = PhraseSet::shared(
            banned_words
                .iter()
                .chain(&claims_requiring_proof)
                .cloned()
                .collect(),
        );
        BrandRules {
            banned_words,
            emoji_policy,
            discount_allowed,
            claims_requiring_proof,
            watched,
        }
    }

    pub fn banned_words(&self) -> &[String] {
        &self.banned_words
    }

    pub fn claims_requiring_proof(&self) -> &[String] {
        &self.claims_requiring_proof
    }

    /// The claims from `claims_requiring_proof` that at least one of these
    /// products has a `proof` entry for.
    pub fn proven_claims(&self, products: &[&Product]) -> Vec<String> {
        self.claims_requiring_proof
            .iter()
            .filter(|claim| products.iter().any(|p| product_proves(p, claim)))
            .cloned()
            .collect()
    }

    pub fn banned_in(&self, text: &str) -> Vec<String> {
        self.banned_words
            .iter()
            .filter(|w| contains_phrase(text, w))
            .cloned()
            .collect()
    }

    pub fn unproven_claims_in(&self, text: &str, proven: &[String]) -> Vec<String> {
        self.claims_requiring_proof
            .iter()
            .filter(|c| !proven.iter().any(|p| p.eq_ignore_ascii_case(c)))
            .filter(|c| contains_phrase(text, c))
            .cloned()
            .collect()
    }

    pub fn violations(&self, text: &str, proven: &[String]) -> Vec<Violation> {
        let mut out: Vec<Violation> = self
            .banned_in(text)
            .into_iter()
            .map(Violation::BannedWord)
            .collect();
        let allowed = emoji_budget(self.emoji_policy);
        let found = count_emoji(text);
        if found > allowed {
            out.push(Violation::TooManyEmoji { found, allowed });
        }
        if !self.discount_allowed && has_discount_language(text) {
            out.push(Violation::DiscountLanguage);
        }
        out.extend(
            self.unproven_claims_in(text, proven)
                .into_iter()
                .map(Violation::UnprovenClaim),
        );
        out
    }

    /// Removes banned words, unproven claims and (when not allowed) discount
    /// language, and applies the emoji policy.
    pub fn clean(&self, text: &str, proven: &[String]) -> String {
        self.clean_with_emoji(text, proven, emoji_budget(self.emoji_policy))
    }

    /// As [`clean`](Self::clean), with no emoji at all (listing copy, ad
    /// headlines, reports).
    pub fn clean_plain(&self, text: &str, proven: &[String]) -> String {
        self.clean_with_emoji(text, proven, 0)
    }

    fn clean_with_emoji(&self, text: &str, proven: &[String], max_emoji: usize) -> String {
        self.clean_shortlisted(text, proven, max_emoji, true)
    }

    /// With `shortlist`, each pass first asks the phrase set which banned
    /// words and claims are in the text, and tries only those until one is
    /// removed; without it, every word and claim is tried on every pass
    /// (what the set must agree with: a test compares the two).
    fn clean_shortlisted(&self, text: &str, proven: &[String], max_emoji: usize, shortlist: bool) -> String {
        let mut t = text.to_string();
        if !self.discount_allowed && has_discount_language(&t) {
            t = drop_sentences(&t, has_discount_language);
        }
        // A removal can, rarely, join words into a new match: repeat a little.
        for _ in 0..3 {
            // Mostly there is nothing to remove: one pass tells which words
            // and claims are there. Once something is removed, the text is
            // new: every word is looked for again.
            let found = shortlist.then(|| self.watched.found_in(&t));
            if found.as_ref().is_some_and(Vec::is_empty) {
                break;
            }
            let listed = |p: &str| found.as_ref().is_none_or(|f| f.contains(&p));
            let mut changed = false;
            for w in &self.banned_words {
                if (changed || listed(w)) && contains_phrase(&t, w) {
                    t = remove_phrase(&t, w);
                    changed = true;
                }
            }
            let unproven = match &found {
                Some(found) if !changed => self
                    .claims_requiring_proof
                    .iter()
                    .filter(|c| found.contains(&c.as_str()))
                    .filter(|c| !proven.iter().any(|p| p.eq_ignore_ascii_case(c)))
                    .cloned()
                    .collect(),
                _ => self.unproven_claims_in(&t, proven),
            };
            for c in unproven {
                t = remove_claim(&t, &c);
                changed = true;
            }
            if !changed {
                break;
            }
        }
        if count_emoji(&t) > max_emoji {
            t = limit_emoji(&t, max_emoji);
        }
        crate::text::polish(&t)
    }

    /// For report text that talks *about* the copy (notes, findings,
    /// issue details): masks banned words instead of dropping them, drops
    /// sentences with discount language where it is not allowed, and uses
    /// no emoji. Claims are left alone: naming a claim is not making it.
    pub fn clean_meta(&self, text: &str) -> String {
        let mut t = text.to_string();
        if !self.discount_allowed && has_discount_language(&t) {
            t = drop_sentences(&t, has_discount_language);
        }
        for w in &self.banned_words {
            let ranges = crate::text::find_phrase(&t, w);
            for (s, e) in ranges.into_iter().rev() {
                let masked = crate::text::mask_word(t.get(s..e).unwrap_or(""));
                t.replace_range(s..e, &masked);
            }
        }
        if count_emoji(&t) > 0 {
            t = limit_emoji(&t, 0);
        }
        t
    }

    /// Whether a hashtag may be used: no banned word, no unproven claim, no
    /// discount language where it is not allowed.
    pub fn hashtag_ok(&self, tag: &str, proven: &[String]) -> bool {
        let discount_ok = self.discount_allowed || !hashtag_has_discount(tag);
        discount_ok && !self.hashtag_has_banned(tag) && !self.hashtag_has_unproven_claim(tag, proven)
    }

    /// Hashtags are written without spaces: a banned word counts when it is
    /// the whole tag, a word of it, or (four letters or more) inside it.
    pub fn hashtag_has_banned(&self, tag: &str) -> bool {
        let words = tag.trim().trim_start_matches('#');
        let lower = words.to_lowercase();
        self.banned_words.iter().any(|w| {
            let w2 = squash(w);
            lower == w2 || contains_phrase(words, w) || (w2.chars().count() >= 4 && lower.contains(&w2))
        })
    }

    pub fn hashtag_has_unproven_claim(&self, tag: &str, proven: &[String]) -> bool {
        let lower = tag.trim().trim_start_matches('#').to_lowercase();
        self.claims_requiring_proof
            .iter()
            .filter(|c| !proven.iter().any(|p| p.eq_ignore_ascii_case(c)))
            .any(|c| {
                let c2 = squash(c);
                !c2.is_empty() && lower.contains(&c2)
            })
    }
}

fn squash(s: &str) -> String {
    s.to_lowercase().replace([' ', '-', '_'], "")
}

/// Whether a hashtag carries discount language (#sale, #20percentoff).
pub fn hashtag_has_discount(tag: &str) -> bool {
    let words = tag.trim().trim_start_matches('#');
    let lower = words.to_lowercase();
    has_discount_language(words)
        || DISCOUNT_TERMS
            .iter()
            .map(|d| squash(d).replace(['%', '$'], ""))
            .filter(|d| d.len() >= 4)
            .any(|d| lower.contains(&d))
        || lower.contains("percentoff")
        || lower.ends_with("off") && lower.chars().any(|c| c.is_ascii_digit())
}

/// Whether `product` has a proof entry for `claim` (case-insensitive; a
/// key such as "OEKO-TEX Standard 100" proves the claim "OEKO-TEX").
pub fn product_proves(product: &Product, claim: &str) -> bool {
    let claim = claim.trim().to_lowercase();
    if claim.is_empty() {
        return false;
    }
    product.proof.iter().any(|(k, v)| {
        let k = k.trim().to_lowercase();
        let has_evidence = match v {
            serde_json::Value::Null => false,
            serde_json::Value::String(s) => !s.trim().is_empty(),
            serde_json::Value::Bool(b) => *b,
            _ => true,
        };
        has_evidence && (k == claim || k.contains(&claim) || claim.contains(&k))
    })
}

/// Material nouns a multi-word claim may end in: "European Flax" leaves
/// "flax", "organic cotton" leaves "cotton".
const MATERIAL_NOUNS: &[&str] = &[
    "flax",
    "linen",
    "cotton",
    "wool",
    "merino",
    "nylon",
    "polyester",
    "silk",
    "hemp",
    "bamboo",
    "leather",
    "down",
    "coffee",
    "beans",
    "tea",
    "cocoa",
    "rubber",
    "steel",
];

/// Removes a claim; a multi-word claim that ends in a material noun
/// leaves the noun ("stonewashed European flax" → "stonewashed flax").
pub fn remove_claim(text: &str, claim: &str) -> String {
    let words: Vec<&str> = claim.split_whitespace().collect();
    if words.len() >= 2
        && let Some(last) = words.last()
        && MATERIAL_NOUNS.contains(&last.to_lowercase().as_str())
    {
        let ranges = crate::text::find_phrase(text, claim);
        let mut out = text.to_string();
        for (s, e) in ranges.into_iter().rev() {
            let keep = out
                .get(s..e)
                .and_then(|m| m.split_whitespace().last())
                .unwrap_or("")
                .to_lowercase();
            out.replace_range(s..e, &keep);
        }
        return tidy(&out);
    }
    remove_phrase(text, claim)
}

/// Drops the sentences for which `bad` holds.
pub fn drop_sentences(text: &str, bad: impl Fn(&str) -> bool) -> String {
    let kept: String = sentence_segments(text).into_iter().filter(|s| !bad(s)).collect();
    tidy(&kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> BrandRules {
        BrandRules::from_parts(
            vec!["cheap".into(), "game-changer".into()],
            EmojiPolicy::Sparing,
            false,
            vec!["organic".into(), "OEKO-TEX".into()],
        )
    }

    #[test]
    fn cleaning_acts_on_what_a_removal_leaves_as_trying_every_word_did() {
        // Removing one word can join two others into a banned phrase or a
        // claim, in the same pass or a later one.
        let r = BrandRules::from_parts(
            vec![
                "very good".into(),
                "bad".into(),
                "Cheap".into(),
                "best".into(),
                "".into(),
            ],
            EmojiPolicy::Sparing,
            true,
            vec!["organic cotton".into(), "100% linen".into(), "bad".into()],
        );
        let proven = vec!["100% LINEN".to_string()];
        for text in [
            "very bad good, and very good",
            "organic bad cotton throw",
            "organic best bad cotton, 100% linen",
            "best-selling cheap cheap organic  cotton ✨✨✨",
            "Nothing to remove here.",
            "very very bad bad good good",
            "",
        ] {
            assert_eq!(
                r.clean_shortlisted(text, &proven, 1, true),
                r.clean_shortlisted(text, &proven, 1, false),
                "{text:?}"
            );
        }
    }

    #[test]
    fn clean_removes_everything_that_breaks_a_rule() {
        let r = rules();
        let t = "A cheap organic throw 🌿✨. Get 20% off today! A real game-changer.";
        let cleaned = r.clean(t, &[]);
        assert!(r.violations(&cleaned, &[]).is_empty(), "{cleaned}");
        assert!(cleaned.contains("throw"));
        let kept = r.clean("An organic throw.", &["organic".to_string()]);
        assert_eq!(kept, "An organic throw.");
    }

    #[test]
    fn claims_leave_their_material() {
        assert_eq!(
            remove_claim(
                "The same stonewashed European flax as our sheets.",
                "European Flax"
            ),
            "The same stonewashed flax as our sheets."
        );
        assert_eq!(
            remove_claim("100% European flax linen", "European Flax"),
            "100% flax linen"
        );
        assert_eq!(remove_claim("An organic throw.", "organic"), "A throw.");
    }

    #[test]
    fn notes_that_forbid_discounts() {
        assert!(notes_forbid_discounts("Full price launch. No discount language."));
        assert!(notes_forbid_discounts("Please avoid any % off messaging"));
        assert!(notes_forbid_discounts("Don't mention the sale"));
        assert!(!notes_forbid_discounts("Lead with the 15% off sale"));
        assert!(!notes_forbid_discounts("Warm tone, focus on gifting."));
    }

    #[test]
    fn hashtags_are_filtered() {
        let r = rules();
        assert!(!r.hashtag_ok("#CheapChic", &[]));
        assert!(!r.hashtag_ok("#cheap", &[]));
        assert!(!r.hashtag_ok("#sale", &[]));
        assert!(!r.hashtag_ok("#OrganicCotton", &[]));
        assert!(r.hashtag_ok("#OrganicCotton", &["organic".to_string()]));
        assert!(r.hashtag_ok("#slowliving", &[]));
    }
}
