//! What the approver agent sees in a proposal: the signals a marketer would
//! name (emoji, hashtags, discount and urgency language, banned words,
//! length, spend against the brief and the cap) and its words and phrases.

use greenlight_agents::BrandProfile;
use greenlight_agents::rules::{DISCOUNT_SET, DISCOUNT_TERMS, PRESSURE_PHRASES, emoji_budget};
use greenlight_agents::text::PhraseSet;
use greenlight_agents::text::count_emoji;
use serde_json::Value;
use std::hash::BuildHasher;
use std::sync::{Arc, LazyLock};

/// What a proposal is judged against besides itself.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SpendContext {
    /// The brief's budget for the whole campaign (`budget_usd_per_day` ×
    /// `campaign_days`), when it has one.
    pub brief_budget_usd: Option<f64>,
    /// What was left of the month's spend cap when the card was shown.
    pub cap_remaining_usd: Option<f64>,
}

/// Keys whose strings are identifiers, links or the agent's own notes to the
/// reviewer, not copy that goes out.
pub const NOT_COPY: &[&str] = &[
    "product_id",
    "product_name",
    "name",
    "creator_id",
    "asset_url",
    "handle",
    "platform",
    "placement",
    "why",
    "rationale",
    "angle",
    "audience_interests",
    "past_collaboration",
];

/// The numeric signals, in the model's column order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Signal {
    /// All the emoji in the copy.
    Emoji,
    /// The most emoji one text has beyond the brand's policy.
    EmojiOverPolicy,
    Hashtags,
    HashtagsOverLimit,
    Discount,
    Urgency,
    BannedWords,
    Exclamations,
    Length,
    SpendOverBrief,
    SpendOfCap,
}

impl Signal {
    pub const ALL: [Signal; 11] = [
        Signal::Emoji,
        Signal::EmojiOverPolicy,
        Signal::Hashtags,
        Signal::HashtagsOverLimit,
        Signal::Discount,
        Signal::Urgency,
        Signal::BannedWords,
        Signal::Exclamations,
        Signal::Length,
        Signal::SpendOverBrief,
        Signal::SpendOfCap,
    ];

    /// The name in reports and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Emoji => "emoji",
            Signal::EmojiOverPolicy => "emoji_over_policy",
            Signal::Hashtags => "hashtags",
            Signal::HashtagsOverLimit => "hashtags_over_limit",
            Signal::Discount => "discount_language",
            Signal::Urgency => "urgency_language",
            Signal::BannedWords => "banned_words",
            Signal::Exclamations => "exclamation_marks",
            Signal::Length => "length",
            Signal::SpendOverBrief => "spend_over_brief",
            Signal::SpendOfCap => "spend_of_cap",
        }
    }
}

/// A proposal as the model sees it.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The signals' raw values, by [`Signal::ALL`] order.
    pub signals: [f64; 11],
    /// Lower-case words and two-word phrases of its copy, as fingerprints.
    pub terms: Terms,
    /// Discount and urgency phrases and banned words found, as written.
    pub discount_hits: Vec<String>,
    pub urgency_hits: Vec<String>,
    pub banned_hits: Vec<String>,
    /// The most hashtags on one post, and the brand's limit.
    pub max_hashtags: usize,
    pub hashtag_limit: usize,
    /// Total committed spend, when the proposal commits any.
    pub spend_usd: Option<f64>,
    pub context: SpendContext,
}

impl Observed {
    pub fn signal(&self, s: Signal) -> f64 {
        self.signals[s as usize]
    }

    /// The brand's written rules this proposal breaks, in words: whatever
    /// the model predicts, such a proposal is never approved on its own.
    pub fn rule_breaks(&self, brand: &BrandProfile) -> Vec<String> {
        let mut out = Vec::new();
        if self.signal(Signal::EmojiOverPolicy) > 0.0 {
            out.push(format!(
                "more emoji than the brand's policy ({}) allows",
                format!("{:?}", brand.emoji_policy).to_lowercase()
            ));
        }
        if self.max_hashtags > self.hashtag_limit {
            out.push(format!(
                "{} hashtags, over the brand's {}",
                self.max_hashtags, self.hashtag_limit
            ));
        }
        if !self.banned_hits.is_empty() {
            out.push(format!("banned words ({})", self.banned_hits.join(", ")));
        }
        if !brand.discount_language_allowed && !self.discount_hits.is_empty() {
            out.push(format!("discount language ({})", self.discount_hits.join(", ")));
        }
        if self.signal(Signal::SpendOverBrief) > 0.0 {
            out.push("spend over the brief's budget".into());
        }
        if self.signal(Signal::SpendOfCap) > 1.0 {
            out.push("spend over what is left of the monthly cap".into());
        }
        out
    }
}

/// The brand's written rules, in words (for a language model's prompt).
pub fn brand_rules(brand: &BrandProfile) -> Vec<String> {
    let mut out = vec![
        match brand.emoji_policy {
            greenlight_agents::EmojiPolicy::None => "No emoji at all.".to_string(),
            greenlight_agents::EmojiPolicy::Sparing => "At most one emoji per text.".to_string(),
            greenlight_agents::EmojiPolicy::Expressive => "Emoji are welcome, a few per text.".to_string(),
        },
        format!(
            "At most {} hashtags per post; the signature ones ({}) first.",
            brand.hashtags.max_per_post,
            brand.hashtags.signature.join(", ")
        ),
    ];
    if !brand.banned_words.is_empty() {
        out.push(format!(
            "Never use these words: {}.",
            brand.banned_words.join(", ")
        ));
    }
    if !brand.discount_language_allowed {
        out.push("No discount, sale or promo-code language.".into());
    }
    out.extend(brand.voice.donts.iter().cloned());
    out
}

/// Reads a proposal (the gate's `target_output_field` value) for the brand.
pub fn observe(proposal: &Value, brand: &BrandProfile, context: SpendContext) -> Observed {
    let (mut o, lowers) = observe_copy(proposal, brand, context);
    o.terms = terms_of(&lowers);
    o
}

/// [`observe`], with the texts of the proposal's terms ([`term_texts`]):
/// what a model is trained on.
pub fn observe_with_texts(
    proposal: &Value,
    brand: &BrandProfile,
    context: SpendContext,
) -> (Observed, hashbrown::HashSet<String>) {
    let (mut o, lowers) = observe_copy(proposal, brand, context);
    let texts = term_texts(&lowers);
    // Each text fingerprinted once, however often it occurs.
    o.terms = Terms(texts.iter().map(|t| fingerprint(t)).collect());
    (o, texts)
}

/// [`observe`] but for its terms, with the proposal's copy in lowercase.
fn observe_copy(proposal: &Value, brand: &BrandProfile, context: SpendContext) -> (Observed, Vec<String>) {
    let mut texts = Vec::new();
    let mut tag_lists: Vec<Vec<String>> = Vec::new();
    collect(proposal, None, &mut texts, &mut tag_lists);
    let mut o = Observed {
        context,
        hashtag_limit: brand.hashtags.max_per_post,
        ..Observed::default()
    };
    let budget = emoji_budget(brand.emoji_policy);
    let mut emoji = 0usize;
    let mut over = 0usize;
    let mut chars = 0usize;
    let mut exclamations = 0usize;
    let mut inline_tags_max = 0usize;
    let watched = Watched::of(brand);
    let mut lowers = Vec::with_capacity(texts.len());
    for t in &texts {
        let n = count_emoji(t);
        emoji += n;
        over = over.max(n.saturating_sub(budget));
        chars += t.chars().count();
        exclamations += t.matches('!').count();
        let inline = t
            .split_whitespace()
            .filter(|w| w.starts_with('#') && w.len() > 1)
            .count();
        inline_tags_max = inline_tags_max.max(inline);
        let lower = t.to_lowercase();
        watched.hits(&lower, &mut o);
        lowers.push(lower);
    }
    for tags in &tag_lists {
        for tag in tags {
            let lower = tag.trim_start_matches('#').to_lowercase();
            set_hits(&lower, &DISCOUNT_SET, &mut o.discount_hits);
        }
    }
    o.max_hashtags = tag_lists
        .iter()
        .map(Vec::len)
        .max()
        .unwrap_or(0)
        .max(inline_tags_max);
    o.spend_usd = spend_of(proposal);
    let spend = o.spend_usd.unwrap_or(0.0);
    let over_brief = match context.brief_budget_usd {
        Some(b) if b > 0.0 => (spend / b - 1.0).max(0.0),
        _ => 0.0,
    };
    let of_cap = match context.cap_remaining_usd {
        Some(r) if r > 0.0 => (spend / r).min(10.0),
        Some(_) if spend > 0.0 => 10.0,
        _ => 0.0,
    };
    o.signals = [
        emoji as f64,
        over as f64,
        o.max_hashtags as f64,
        o.max_hashtags.saturating_sub(o.hashtag_limit) as f64,
        o.discount_hits.len() as f64,
        o.urgency_hits.len() as f64,
        o.banned_hits.len() as f64,
        exclamations as f64,
        chars as f64 / 1000.0,
        over_brief,
        of_cap,
    ];
    (o, lowers)
}

/// Each phrase of a (lowercase) set found in `lower`, once.
fn set_hits(lower: &str, set: &PhraseSet, out: &mut Vec<String>) {
    for p in set.found_in(lower) {
        keep_hit(p, out);
    }
}

fn keep_hit(p: &str, out: &mut Vec<String>) {
    if !out.iter().any(|o| o == p) {
        out.push(p.to_string());
    }
}

/// Discount terms, pressure phrases and the brand's banned words (in
/// lowercase) in one set, so that one search of a text finds all three.
struct Watched {
    set: Arc<PhraseSet>,
    /// Where the pressure phrases start in the set, and the banned words.
    pressure: usize,
    banned: usize,
}

impl Watched {
    fn of(brand: &BrandProfile) -> Watched {
        let mut phrases: Vec<String> = DISCOUNT_TERMS.iter().map(|p| p.to_string()).collect();
        let pressure = phrases.len();
        phrases.extend(PRESSURE_PHRASES.iter().map(|p| p.to_string()));
        let banned = phrases.len();
        phrases.extend(lowercase_phrases(&brand.banned_words));
        Watched {
            set: PhraseSet::shared(phrases),
            pressure,
            banned,
        }
    }

    /// Adds what `lower` holds of each kind to the proposal's hits.
    fn hits(&self, lower: &str, o: &mut Observed) {
        for i in self.set.found_at(lower) {
            let Some(p) = self.set.phrase(i) else { continue };
            let hits = if i < self.pressure {
                &mut o.discount_hits
            } else if i < self.banned {
                &mut o.urgency_hits
            } else {
                &mut o.banned_hits
            };
            keep_hit(p, hits);
        }
    }
}

/// Phrases trimmed and lowercased, blanks dropped, to look for in lowercase text.
fn lowercase_phrases(phrases: &[String]) -> Vec<String> {
    phrases
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The copy of a proposal: every string not under a [`NOT_COPY`] key, and
/// each `hashtags` list apart.
fn collect(v: &Value, key: Option<&str>, texts: &mut Vec<String>, tags: &mut Vec<Vec<String>>) {
    if key.is_some_and(|k| NOT_COPY.contains(&k)) {
        return;
    }
    match v {
        Value::String(s) => texts.push(s.clone()),
        Value::Array(items) if key == Some("hashtags") => {
            tags.push(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect(),
            );
        }
        Value::Array(items) => items.iter().for_each(|i| collect(i, key, texts, tags)),
        Value::Object(map) => map
            .iter()
            .for_each(|(k, v)| collect(v, Some(k.as_str()), texts, tags)),
        _ => {}
    }
}

/// A text's terms (see [`terms_of`]), each kept as a 64-bit fingerprint
/// of its text ([`fingerprint`]): thousands are found in every card, and
/// none is needed as text again (a model keeps its vocabulary's texts
/// itself), so none is copied. Two texts share a fingerprint about once in
/// 2^64 / n² for n terms. Fingerprints come from one hasher per process
/// (foldhash, seeded at random when the process starts, and never stored),
/// so which texts share one differs from process to process; foldhash is
/// fast, not built to resist a determined attacker, and the worst a shared
/// fingerprint does is show a card's model a word the card does not have.
#[derive(Debug, Clone, Default)]
pub struct Terms(hashbrown::HashSet<u64>);

impl Terms {
    /// Whether a (lowercase) word or two-word phrase is among the terms.
    pub fn contains(&self, term: &str) -> bool {
        self.0.contains(&fingerprint(term))
    }

    /// Whether the term with this [`fingerprint`] is among them.
    pub fn contains_print(&self, print: u64) -> bool {
        self.0.contains(&print)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many terms the two have in common.
    pub fn shared_with(&self, other: &Terms) -> usize {
        let (small, large) = if self.len() <= other.len() {
            (self, other)
        } else {
            (other, self)
        };
        small.0.iter().filter(|p| large.0.contains(*p)).count()
    }
}

/// The hasher every fingerprint in this process comes from.
static PRINTS: LazyLock<hashbrown::DefaultHashBuilder> = LazyLock::new(Default::default);

/// A term's fingerprint, as [`Terms`] keeps it (this process only).
pub fn fingerprint(term: &str) -> u64 {
    PRINTS.hash_one(term)
}

/// Words of two or more letters or digits, and each pair of neighbours
/// (within one text), of lowercase texts, each as [`fingerprint`] gives it.
pub fn terms_of(lowers: &[String]) -> Terms {
    // About as many terms as a sixth of the bytes (a word and a pair per
    // word of five letters and a space): sized once, not grown step by step.
    let mut out = hashbrown::HashSet::with_capacity(lowers.iter().map(String::len).sum::<usize>() / 6);
    each_term(lowers, |t| {
        out.insert(fingerprint(t));
    });
    Terms(out)
}

/// The texts of [`terms_of`], each once: what a model's vocabulary is
/// chosen from. A text is copied only the first time it is seen: copy
/// repeats itself across variants.
pub fn term_texts(lowers: &[String]) -> hashbrown::HashSet<String> {
    let mut out = hashbrown::HashSet::with_capacity(lowers.iter().map(String::len).sum::<usize>() / 6);
    each_term(lowers, |t| {
        out.get_or_insert_with(t, str::to_string);
    });
    out
}

/// Calls `f` with each term of lowercase texts (see [`terms_of`]), repeats
/// included.
fn each_term(lowers: &[String], mut f: impl FnMut(&str)) {
    let mut pair = String::new();
    for lower in lowers {
        let mut prev: Option<&str> = None;
        for w in lower
            .split(|c: char| !(c.is_alphanumeric() || c == '%' || c == '\'' || c == '\u{2019}'))
            .map(|w| w.trim_matches(|c: char| c == '\'' || c == '\u{2019}'))
            .filter(|w| w.chars().nth(1).is_some())
        {
            f(w);
            if let Some(p) = prev {
                pair.clear();
                pair.push_str(p);
                pair.push(' ');
                pair.push_str(w);
                f(&pair);
            }
            prev = Some(w);
        }
    }
}

/// The committed spend of a proposal: its items' `total_usd` (or daily
/// budget × days), summed; `None` if it commits none.
pub fn spend_of(proposal: &Value) -> Option<f64> {
    let items = proposal.as_array()?;
    let mut total = 0.0;
    let mut any = false;
    for item in items {
        let t = item
            .get("total_usd")
            .and_then(Value::as_f64)
            .or_else(|| Some(item.get("daily_budget_usd")?.as_f64()? * item.get("days")?.as_f64()?));
        if let Some(t) = t {
            total += t;
            any = true;
        }
    }
    any.then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn brand() -> BrandProfile {
        serde_json::from_value(json!({
            "brand_name": "Linen & Loom", "tagline": "", "description": "",
            "voice": {"tone": [], "do": [], "dont": [], "sample_phrases": []},
            "banned_words": ["cheap", "game-changer"],
            "emoji_policy": "none",
            "hashtags": {"signature": ["#LinenAndLoom"], "pool": [], "max_per_post": 3},
            "discount_language_allowed": false,
            "claims_requiring_proof": [],
            "colors": {"primary": "", "secondary": "", "accent": "", "text": ""},
            "audiences": [], "ad_placements": [], "creator_offer": "",
            "shop": {"platform": "Shopify", "title_max_chars": 140, "bullet_max_chars": 180,
                     "bullets_per_listing": 5, "description_max_chars": 1500}
        }))
        .expect("a valid brand")
    }

    /// Whether `hits` holds `phrase`, as `expected`.
    fn assert_hit(hits: &[String], phrase: &str, expected: bool) {
        assert_eq!(
            hits.iter().any(|h| h == phrase),
            expected,
            "{phrase:?} in {hits:?}"
        );
    }

    #[test]
    fn a_caption_shows_its_rule_breaks() {
        let p = json!({"text": "A cheap throw 🌿✨! Get 20% off, last chance!",
                       "hashtags": ["#LinenAndLoom", "#a", "#b", "#c", "#sale"]});
        let o = observe(&p, &brand(), SpendContext::default());
        assert_eq!(o.signal(Signal::Emoji), 2.0);
        assert_eq!(o.signal(Signal::EmojiOverPolicy), 2.0);
        assert_eq!(o.signal(Signal::Hashtags), 5.0);
        assert_eq!(o.signal(Signal::HashtagsOverLimit), 2.0);
        assert_eq!(o.banned_hits, vec!["cheap"]);
        assert_hit(&o.discount_hits, "% off", true);
        assert_hit(&o.discount_hits, "sale", true);
        assert_eq!(o.urgency_hits, vec!["last chance"]);
        assert_eq!(o.signal(Signal::Exclamations), 2.0);
        assert!(o.terms.contains("last chance"));
    }

    #[test]
    fn terms_are_words_and_neighbouring_pairs_within_one_text() {
        let lowers = vec!["linen throw, linen napkins".to_string(), "a throw".to_string()];
        let t = terms_of(&lowers);
        for term in [
            "linen",
            "throw",
            "napkins",
            "linen throw",
            "throw linen",
            "linen napkins",
        ] {
            assert!(t.contains(term), "{term}");
        }
        // One letter is no word; pairs do not cross texts.
        assert!(!t.contains("a") && !t.contains("a throw") && !t.contains("napkins a"));
        assert_eq!(t.len(), 6);
        let texts = term_texts(&lowers);
        assert_eq!(texts.len(), 6);
        assert!(texts.iter().all(|x| t.contains(x)), "{texts:?}");
        let other = terms_of(&["linen sheets".to_string()]);
        assert_eq!((t.shared_with(&other), other.shared_with(&t)), (1, 1));
        assert_eq!(t.shared_with(&Terms::default()), 0);
        // Training reads the same terms, with their texts.
        let p = json!({"text": "Linen throw, linen napkins!", "hashtags": ["#slowlinen"]});
        let seen = observe(&p, &brand(), SpendContext::default());
        let (trained, texts) = observe_with_texts(&p, &brand(), SpendContext::default());
        assert_eq!((seen.terms.len(), trained.terms.len()), (6, 6));
        assert_eq!(trained.terms.shared_with(&seen.terms), 6);
        assert!(texts.contains("linen napkins") && trained.terms.contains("linen napkins"));
    }

    #[test]
    fn banned_words_are_found_whatever_their_case_once_each() {
        let mut b = brand();
        b.banned_words = vec![" Game-Changer ".into(), "cheap".into(), "".into(), "CHEAP".into()];
        let p = json!({"text": "A GAME-CHANGER of a throw. Cheap? Not cheap.", "hashtags": []});
        let o = observe(&p, &b, SpendContext::default());
        assert_eq!(o.banned_hits, vec!["game-changer", "cheap"]);
        let clean = observe(
            &json!({"text": "A changer of games."}),
            &b,
            SpendContext::default(),
        );
        assert!(clean.banned_hits.is_empty(), "{:?}", clean.banned_hits);
    }

    /// One search finds all three kinds: a banned word that is also a
    /// discount term or a pressure phrase counts as both.
    #[test]
    fn a_banned_word_that_is_also_a_discount_or_pressure_phrase_counts_as_both() {
        let mut b = brand();
        b.banned_words = vec!["% Off".into(), "Last chance".into(), "cheap".into()];
        let p = json!({"text": "A cheap throw, 20% off. Last chance!"});
        let o = observe(&p, &b, SpendContext::default());
        assert_eq!(o.banned_hits, vec!["% off", "last chance", "cheap"]);
        assert_hit(&o.discount_hits, "% off", true);
        assert_hit(&o.urgency_hits, "last chance", true);
        assert_hit(&o.discount_hits, "cheap", false);
    }

    #[test]
    fn spend_is_measured_against_the_brief_and_the_cap() {
        let p = json!([{"daily_budget_usd": 100, "days": 10, "total_usd": 1000, "rationale": "on sale"},
                       {"daily_budget_usd": 50, "days": 10}]);
        let o = observe(
            &p,
            &brand(),
            SpendContext {
                brief_budget_usd: Some(1000.0),
                cap_remaining_usd: Some(3000.0),
            },
        );
        assert_eq!(o.spend_usd, Some(1500.0));
        assert!((o.signal(Signal::SpendOverBrief) - 0.5).abs() < 1e-9);
        assert!((o.signal(Signal::SpendOfCap) - 0.5).abs() < 1e-9);
        // The rationale is the agent's note, not copy.
        assert!(o.discount_hits.is_empty());
    }
}
