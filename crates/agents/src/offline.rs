//! The offline model's machinery shared by every agent: the seed, the brief
//! accessors, the brand/rules prompt blocks, and the trail and cost ledger.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::cost::{STUDIO_RENDER_MICROS, estimate_tokens, llm_cost_micros, micros_to_usd};
use crate::rules::{BrandRules, emoji_budget, product_proves};
use crate::text::{char_len, value_text};
use crate::types::{
    AgentError, AgentInput, AgentOutput, Asset, BrandProfile, EmojiPolicy, Product, WorkspaceData,
};
use crate::words::{Clauses, mentions_negated, significant};

// ---------------------------------------------------------------- seed

/// A small deterministic generator (SplitMix64) seeded from a SHA-256 digest.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn from_digest(digest: &[u8]) -> Rng {
        let mut bytes = [0u8; 8];
        for (i, b) in digest.iter().take(8).enumerate() {
            if let Some(slot) = bytes.get_mut(i) {
                *slot = *b;
            }
        }
        Rng {
            state: u64::from_le_bytes(bytes),
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }

    pub fn pick<'t, T>(&mut self, items: &'t [T]) -> Option<&'t T> {
        if items.is_empty() {
            return None;
        }
        let i = self.below(items.len());
        items.get(i)
    }

    pub fn chance(&mut self, numerator: u64, denominator: u64) -> bool {
        denominator > 0 && self.next_u64() % denominator < numerator
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// The seed of a step: SHA-256 over the run id, the step key and the brief.
pub fn seed_digest(run_id: &str, step_key: &str, brief: &Value) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(run_id.as_bytes());
    h.update([0u8]);
    h.update(step_key.as_bytes());
    h.update([0u8]);
    h.update(brief.to_string().as_bytes());
    h.finalize().to_vec()
}

// ---------------------------------------------------------------- brief

/// What a brief's free text is about, used to steer the copy.
#[derive(Debug, Clone, Copy, Default)]
pub struct Themes {
    /// "autumn", "winter", "spring", "summer", "the holidays".
    pub season: Option<&'static str>,
    pub gift: bool,
    pub launch: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct Brief<'a> {
    pub value: &'a Value,
}

impl<'a> Brief<'a> {
    /// A non-blank string field.
    pub fn str(&self, key: &str) -> Option<&'a str> {
        self.value
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    pub fn title(&self) -> &'a str {
        self.str("title").unwrap_or("Untitled brief")
    }

    pub fn goal(&self) -> Option<&'a str> {
        self.str("goal")
    }

    pub fn notes(&self) -> Option<&'a str> {
        self.str("notes")
    }

    /// The brief's `products`, resolved against the catalog, in brief order,
    /// without repeats.
    pub fn products(&self, ws: &'a WorkspaceData) -> Result<Vec<&'a Product>, AgentError> {
        let items = match self.value.get("products") {
            None | Some(Value::Null) => return Err(AgentError::MissingBriefField("products")),
            Some(Value::Array(items)) => items,
            Some(_) => {
                return Err(AgentError::Invalid(
                    "the brief's `products` must be a list of product ids".into(),
                ));
            }
        };
        let mut out: Vec<&Product> = Vec::new();
        for item in items {
            let id = match item {
                Value::String(s) => s.trim(),
                Value::Object(o) => o
                    .get("product_id")
                    .or_else(|| o.get("id"))
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .ok_or_else(|| {
                        AgentError::Invalid("the brief's `products` must be a list of product ids".into())
                    })?,
                _ => {
                    return Err(AgentError::Invalid(
                        "the brief's `products` must be a list of product ids".into(),
                    ));
                }
            };
            let product = ws
                .products
                .iter()
                .find(|p| p.id == id)
                .ok_or_else(|| AgentError::UnknownProduct(id.to_string()))?;
            if !out.iter().any(|p| p.id == product.id) {
                out.push(product);
            }
        }
        if out.is_empty() {
            return Err(AgentError::MissingBriefField("products"));
        }
        Ok(out)
    }

    /// `budget_usd_per_day` in integer cents.
    pub fn budget_cents_per_day(&self) -> Result<i64, AgentError> {
        let v = match self.value.get("budget_usd_per_day") {
            None | Some(Value::Null) => return Err(AgentError::MissingBriefField("budget_usd_per_day")),
            Some(v) => v,
        };
        let dollars = v
            .as_f64()
            .ok_or_else(|| AgentError::Invalid("the brief's `budget_usd_per_day` must be a number".into()))?;
        if !dollars.is_finite() || dollars <= 0.0 {
            return Err(AgentError::Invalid(
                "the brief's `budget_usd_per_day` must be greater than 0".into(),
            ));
        }
        if dollars > 10_000_000.0 {
            return Err(AgentError::Invalid(
                "the brief's `budget_usd_per_day` is out of range".into(),
            ));
        }
        let cents = (dollars * 100.0).round() as i64;
        if cents < 1 {
            return Err(AgentError::Invalid(
                "the brief's `budget_usd_per_day` is less than a cent".into(),
            ));
        }
        Ok(cents)
    }

    pub fn campaign_days(&self) -> Result<i64, AgentError> {
        let v = match self.value.get("campaign_days") {
            None | Some(Value::Null) => return Err(AgentError::MissingBriefField("campaign_days")),
            Some(v) => v,
        };
        let days = match v.as_i64() {
            Some(d) => d,
            None => match v.as_f64() {
                Some(f) if f.fract() == 0.0 && f.is_finite() && f.abs() < 1e6 => f as i64,
                _ => {
                    return Err(AgentError::Invalid(
                        "the brief's `campaign_days` must be a whole number of days".into(),
                    ));
                }
            },
        };
        if !(1..=90).contains(&days) {
            return Err(AgentError::Invalid(
                "the brief's `campaign_days` must be between 1 and 90".into(),
            ));
        }
        Ok(days)
    }

    /// Title, goal, notes and focus, as one text.
    pub fn text(&self) -> String {
        [self.str("title"), self.goal(), self.notes(), self.str("focus")]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(". ")
    }

    /// The brief's significant words (see [`crate::words::significant`]).
    pub fn words(&self) -> Vec<String> {
        significant(&self.text())
    }

    pub fn themes(&self) -> Themes {
        let raw = self.text();
        let text = format!(" {} ", raw.to_lowercase());
        let clauses = Clauses::of(&raw);
        let has = |words: &[&str]| clauses.mention_unnegated(words);
        let season = if has(&["holiday", "christmas", "festive", "thanksgiving", "december"]) {
            Some("the holidays")
        } else if has(&["autumn"]) || text.contains(" fall ") || text.contains(" fall,") {
            Some("autumn")
        } else if has(&["winter"]) {
            Some("winter")
        } else if has(&["spring"]) {
            Some("spring")
        } else if has(&["summer"]) {
            Some("summer")
        } else {
            None
        };
        Themes {
            season,
            gift: has(&["gift", "present for", "presents"]),
            launch: has(&["launch", "introduc", "debut", "new ", "new-"]),
        }
    }

    /// Whether the notes rule out urgency and scarcity lines.
    pub fn forbids_urgency(&self) -> bool {
        self.notes().is_some_and(|n| {
            mentions_negated(
                n,
                &[
                    "urgency",
                    "scarcity",
                    "last-chance",
                    "last chance",
                    "countdown",
                    "selling fast",
                    "hurry",
                    "fomo",
                ],
            )
        })
    }

    /// Whether the notes rule out talking about refunds in public.
    pub fn forbids_refund_talk(&self) -> bool {
        self.notes().is_some_and(|n| mentions_negated(n, &["refund"]))
    }

    /// Fact clauses of the notes (what is true, not what to do), each with
    /// the whole clause it came from: the part after a colon ("Answer the
    /// compostable question honestly: the certificate is pending"), or a
    /// negative statement ("Shipping to Canada isn't available yet").
    pub fn note_facts(&self) -> Vec<(String, String, String)> {
        let Some(notes) = self.notes() else {
            return Vec::new();
        };
        let imperative = [
            "answer",
            "send",
            "prioritise",
            "prioritize",
            "say",
            "offer",
            "lead",
            "shoot",
            "mention",
            "include",
            "run",
            "show",
            "retarget",
            "tell",
            "keep",
            "use",
            "make",
            "avoid",
            "skip",
            "don't",
            "do",
            "check",
            "flag",
            "reply",
            "replies",
            "favour",
            "favor",
            "planned",
            "put",
            "get",
            "let",
            "write",
            "no",
        ];
        let mut out = Vec::new();
        let sentences: Vec<&str> = notes
            .split(['.', '!', '?', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        for (sentence, clause) in sentences
            .iter()
            .flat_map(|s| s.split(';').map(move |c| (s.to_string(), c.trim().to_string())))
            .filter(|(_, c)| !c.is_empty())
        {
            let fact = match clause.split_once(':') {
                Some((_, after)) => after.trim().to_string(),
                None => {
                    let first = clause.split_whitespace().next().unwrap_or("").to_lowercase();
                    let l = format!(" {} ", clause.to_lowercase().replace('\u{2019}', "'"));
                    let negative = [
                        " isn't ",
                        " aren't ",
                        " hasn't ",
                        " can't ",
                        " doesn't ",
                        " won't ",
                        " not ",
                        " no ",
                    ]
                    .iter()
                    .any(|v| l.contains(v));
                    if imperative.contains(&first.as_str()) || !negative {
                        continue;
                    }
                    clause.clone()
                }
            };
            // "…, so don't carry that claim over" is for us, not for them.
            let fact = match fact.split_once(", so ") {
                Some((head, tail)) if !tail.trim_start().to_lowercase().starts_with("we") => head.to_string(),
                _ => fact,
            };
            if fact.chars().count() >= 12 {
                out.push((clause, fact, sentence));
            }
        }
        out
    }

    /// Placements the notes favour (in the order named) and rule out.
    pub fn placement_preferences(&self, placements: &[String]) -> (Vec<String>, Vec<String>) {
        let Some(notes) = self.notes() else {
            return (Vec::new(), Vec::new());
        };
        let mut preferred: Vec<(usize, String)> = Vec::new();
        let mut excluded: Vec<String> = Vec::new();
        let parts: Vec<String> = crate::words::clauses(notes)
            .iter()
            .flat_map(|c| {
                c.split([':', ','])
                    .map(|p| p.trim().to_string())
                    .collect::<Vec<_>>()
            })
            .filter(|p| !p.is_empty())
            .collect();
        for (ci, clause) in parts.into_iter().enumerate() {
            let l = clause.to_lowercase();
            let negated = crate::words::is_negated(&clause);
            for p in placements {
                let Some(pos) = placement_mentioned(&l, p, placements) else {
                    continue;
                };
                if negated {
                    if !excluded.contains(p) {
                        excluded.push(p.clone());
                    }
                } else if !preferred.iter().any(|(_, q)| q == p) {
                    preferred.push((ci * 10_000 + pos, p.clone()));
                }
            }
        }
        preferred.retain(|(_, p)| !excluded.contains(p));
        preferred.sort_by_key(|(pos, _)| *pos);
        (preferred.into_iter().map(|(_, p)| p).collect(), excluded)
    }
}

/// Where in `clause` (lower case) a placement id such as `instagram_feed`
/// is named: its platform word, and, when the brand has several placements
/// on that platform, the placement's own word ("feed", "stories", "shorts",
/// "reels").
fn placement_mentioned(clause: &str, placement: &str, all: &[String]) -> Option<usize> {
    let mut parts = placement.split(['_', '-', ' ']);
    let platform = parts.next()?.to_lowercase();
    let kind: Vec<String> = parts.map(str::to_lowercase).collect();
    let aliases: Vec<&str> = match platform.as_str() {
        "instagram" => vec!["instagram", "insta ", "reels"],
        "youtube" => vec!["youtube", "shorts"],
        "tiktok" => vec!["tiktok", "tik tok"],
        "facebook" => vec!["facebook", "meta feed"],
        "pinterest" => vec!["pinterest", "pins"],
        _ => vec![],
    };
    let pos = std::iter::once(platform.as_str())
        .chain(aliases.iter().copied())
        .filter_map(|a| clause.find(a))
        .min()?;
    let siblings = all
        .iter()
        .filter(|q| q.to_lowercase().starts_with(&platform))
        .count();
    if siblings > 1 && !kind.is_empty() {
        let k = kind.join(" ");
        let named = clause.contains(&k)
            || (k == "feed" && clause.contains("reels"))
            || kind
                .iter()
                .any(|w| w.len() > 3 && clause.contains(w.as_str()) && w != "feed");
        // "Instagram" alone means its feed.
        let plain = !["stories", "reels", "shorts", "feed"]
            .iter()
            .any(|w| clause.contains(w));
        if !(named || (plain && k == "feed")) {
            return None;
        }
    }
    Some(pos)
}

// ---------------------------------------------------------------- context

/// One agent call: the input, the brand's rules for this brief, the seed,
/// and the trail and cost accumulated so far.
pub struct Ctx<'a> {
    pub input: &'a AgentInput<'a>,
    pub ws: &'a WorkspaceData,
    pub brand: &'a BrandProfile,
    pub brief: Brief<'a>,
    /// The brief's themes, read once.
    pub themes: Themes,
    pub rules: BrandRules,
    pub rng: Rng,
    /// Eight hex digits of the seed, for asset names.
    pub seed_hex: String,
    /// The brief's significant words, read once when first asked for.
    brief_words: std::cell::OnceCell<Vec<String>>,
    /// "Colours" or "Colors", as the brand writes (see [`crate::facts::colour_word`]).
    colour_word: std::cell::OnceCell<&'static str>,
    trail: Vec<Value>,
    cost_micros: i64,
    assets: Vec<Asset>,
}

impl<'a> Ctx<'a> {
    pub fn new(input: &'a AgentInput<'a>) -> Ctx<'a> {
        let brief = Brief { value: input.brief };
        let digest = seed_digest(input.run_id, input.step_key, input.brief);
        let seed_hex = hex::encode(digest.get(..4).unwrap_or(&[]));
        Ctx {
            input,
            ws: input.workspace,
            brand: &input.workspace.brand,
            rules: BrandRules::new(&input.workspace.brand, brief.notes()),
            themes: brief.themes(),
            brief,
            rng: Rng::from_digest(&digest),
            seed_hex,
            brief_words: std::cell::OnceCell::new(),
            colour_word: std::cell::OnceCell::new(),
            trail: Vec::new(),
            cost_micros: 0,
            assets: Vec::new(),
        }
    }

    /// The brief's significant words (see [`Brief::words`]).
    pub fn brief_words(&self) -> &[String] {
        self.brief_words.get_or_init(|| self.brief.words())
    }

    /// The brand's word for colours, read once per step.
    pub fn colour_word(&self) -> &'static str {
        self.colour_word
            .get_or_init(|| crate::facts::colour_word(self.brand))
    }

    pub fn asset_url(&self, name: &str) -> String {
        format!("{}{}", self.input.asset_url_prefix, name)
    }

    /// Records the model call that produced `response`, priced as the
    /// configured real model.
    pub fn llm(&mut self, prompt: String, response: &Value) {
        let response = serde_json::to_string_pretty(response).unwrap_or_else(|_| response.to_string());
        self.llm_text(prompt, response);
    }

    pub fn llm_text(&mut self, prompt: String, response: String) {
        let input_tokens = estimate_tokens(&prompt);
        let output_tokens = estimate_tokens(&response);
        let micros = llm_cost_micros(self.input.priced_model, input_tokens, output_tokens);
        self.llm_priced(prompt, response, input_tokens, output_tokens, micros);
    }

    /// Records a model call whose tokens and cost the caller worked out.
    pub fn llm_priced(
        &mut self,
        prompt: String,
        response: String,
        input_tokens: i64,
        output_tokens: i64,
        micros: i64,
    ) {
        self.cost_micros += micros;
        self.trail.push(json!({
            "step_key": self.input.step_key,
            "kind": "llm",
            "model": "offline",
            "priced_as": self.input.priced_model,
            "prompt": prompt,
            "response": response,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cost_usd": micros_to_usd(micros),
            "estimated": true,
        }));
    }

    /// Records a Studio render and keeps the asset; returns its URL.
    pub fn studio(&mut self, studio_brief: String, name: String, svg: String) -> String {
        let url = self.asset_url(&name);
        self.cost_micros += STUDIO_RENDER_MICROS;
        self.trail.push(json!({
            "step_key": self.input.step_key,
            "kind": "studio",
            "brief": studio_brief,
            "asset_url": url,
            "cost_usd": micros_to_usd(STUDIO_RENDER_MICROS),
            "estimated": true,
        }));
        self.assets.push(Asset {
            name,
            content_type: "image/svg+xml".into(),
            bytes: svg.into_bytes(),
        });
        url
    }

    pub fn rule(&mut self, rule: &str, result: String) {
        self.trail.push(json!({
            "step_key": self.input.step_key,
            "kind": "rule",
            "rule": rule,
            "result": result,
        }));
    }

    pub fn finish(self, output: Value) -> AgentOutput {
        AgentOutput {
            output,
            trail: self.trail,
            cost_micros: self.cost_micros,
            assets: self.assets,
        }
    }

    // ------------------------------------------------------------ prompts

    /// The brand block of a prompt: identity, voice and sample phrases.
    pub fn brand_block(&self) -> String {
        let b = self.brand;
        let mut s = format!("BRAND\n{} — {}\n{}\n", b.brand_name, b.tagline, b.description);
        s.push_str(&format!("Voice tone: {}\n", b.voice.tone.join(", ")));
        if !b.voice.dos.is_empty() {
            s.push_str(&format!("Do: {}\n", b.voice.dos.join("; ")));
        }
        if !b.voice.donts.is_empty() {
            s.push_str(&format!("Don't: {}\n", b.voice.donts.join("; ")));
        }
        if !b.voice.sample_phrases.is_empty() {
            let phrases: Vec<String> = b
                .voice
                .sample_phrases
                .iter()
                .map(|p| format!("\"{p}\""))
                .collect();
            s.push_str(&format!("Sample phrases: {}\n", phrases.join(" / ")));
        }
        s
    }

    /// The rules block of a prompt, with the claims `products` can prove.
    pub fn rules_block(&self, products: &[&Product]) -> String {
        let r = &self.rules;
        let mut s = String::from("RULES\n");
        if !r.banned_words().is_empty() {
            s.push_str(&format!(
                "- Never use these words: {}\n",
                r.banned_words().join(", ")
            ));
        }
        s.push_str(match r.emoji_policy {
            EmojiPolicy::None => "- Emoji: none at all\n",
            EmojiPolicy::Sparing => "- Emoji: at most one per text\n",
            EmojiPolicy::Expressive => "- Emoji: a few are welcome\n",
        });
        if !r.discount_allowed {
            let why = if self.brand.discount_language_allowed {
                "the brief's notes ask for none"
            } else {
                "brand rule"
            };
            s.push_str(&format!(
                "- No discount language (no \"% off\", sale, discount, deal, coupon, promo code, \"save $\"): {why}\n"
            ));
        }
        if !r.claims_requiring_proof().is_empty() {
            s.push_str(&format!(
                "- Claims that need proof on file: {}\n",
                r.claims_requiring_proof().join(", ")
            ));
            for p in products {
                let proven: Vec<String> = r
                    .claims_requiring_proof()
                    .iter()
                    .filter(|c| product_proves(p, c))
                    .map(|c| {
                        let evidence = p
                            .proof
                            .iter()
                            .find(|(k, _)| {
                                k.eq_ignore_ascii_case(c) || k.to_lowercase().contains(&c.to_lowercase())
                            })
                            .and_then(|(_, v)| value_text(v))
                            .unwrap_or_default();
                        if evidence.is_empty() {
                            c.clone()
                        } else {
                            format!("{c} ({evidence})")
                        }
                    })
                    .collect();
                let list = if proven.is_empty() {
                    "none — make no such claim".to_string()
                } else {
                    proven.join(", ")
                };
                s.push_str(&format!("  {} ({}): proven: {}\n", p.name, p.id, list));
            }
        }
        s.push_str(&format!(
            "- Emoji budget per text: {}\n",
            emoji_budget(r.emoji_policy)
        ));
        s
    }

    pub fn brief_block(&self) -> String {
        format!(
            "BRIEF ({})\n{}\n",
            self.input.workflow_name,
            serde_json::to_string_pretty(self.input.brief).unwrap_or_default()
        )
    }

    pub fn products_block(&self, products: &[&Product]) -> String {
        let mut s = String::from("PRODUCTS\n");
        for p in products {
            s.push_str(&format!(
                "{}\n",
                json!({"id": p.id, "name": p.name, "price_usd": p.price_usd, "category": p.category,
                       "attributes": p.attributes, "description": p.description, "keywords": p.keywords,
                       "proof": p.proof})
            ));
        }
        s
    }

    /// A whole prompt: system line, brand, rules, brief, then extra sections.
    pub fn prompt(&self, role: &str, task: &str, products: &[&Product], extra: &[String]) -> String {
        let mut s = format!(
            "SYSTEM\nYou are the {role} of {brand}'s marketing team. {task} Follow the brand's voice and every rule below; \
             respond with JSON only.\n\n",
            brand = self.brand.brand_name
        );
        s.push_str(&self.brand_block());
        s.push('\n');
        s.push_str(&self.rules_block(products));
        s.push('\n');
        s.push_str(&self.brief_block());
        if !products.is_empty() {
            s.push('\n');
            s.push_str(&self.products_block(products));
        }
        for e in extra {
            s.push('\n');
            s.push_str(e);
            if !e.ends_with('\n') {
                s.push('\n');
            }
        }
        s
    }

    // ------------------------------------------------------------ voice

    /// A sample phrase of the brand that passes the rules for `proven`, if
    /// any, chosen by the seed; `max` limits its length.
    pub fn sample_phrase(&mut self, proven: &[String], max: usize) -> Option<String> {
        let candidates: Vec<String> = self
            .brand
            .voice
            .sample_phrases
            .iter()
            .map(|p| self.rules.clean_plain(p, proven))
            .filter(|p| !p.is_empty() && char_len(p) <= max)
            .collect();
        self.rng.pick(&candidates).cloned()
    }

    /// Whether the voice reads lively (exclamations are in character).
    pub fn voice_is_lively(&self) -> bool {
        self.brand.voice.tone.iter().any(|t| {
            let t = t.to_lowercase();
            [
                "playful",
                "bold",
                "energetic",
                "cheeky",
                "fun",
                "upbeat",
                "excited",
                "loud",
                "punchy",
            ]
            .iter()
            .any(|w| t.contains(w))
        })
    }

    pub fn tone_words(&self) -> String {
        crate::text::join_list(&self.brand.voice.tone)
    }
}

/// The text of a product attribute (looked up by any of `keys`).
pub fn attr(p: &Product, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| {
        p.attributes
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(k))
            .and_then(|(_, v)| value_text(v))
    })
}

/// The evidence text of a proven claim.
pub fn proof_text(p: &Product, claim: &str) -> Option<String> {
    let c = claim.to_lowercase();
    p.proof
        .iter()
        .find(|(k, _)| {
            let k = k.to_lowercase();
            k == c || k.contains(&c) || c.contains(&k)
        })
        .and_then(|(_, v)| value_text(v))
}

/// Emoji that fit a brand's category, for captions and DMs.
pub fn brand_emoji(brand: &BrandProfile, rng: &mut Rng) -> Vec<&'static str> {
    let text = format!("{} {}", brand.description, brand.tagline).to_lowercase();
    let mut set: Vec<&'static str> = if ["coffee", "roast", "tea", "café", "cafe"]
        .iter()
        .any(|w| text.contains(w))
    {
        vec!["☕", "✨", "🌱", "🙌"]
    } else if [
        "sea", "coast", "harbor", "harbour", "ocean", "sail", "surf", "fish",
    ]
    .iter()
    .any(|w| text.contains(w))
    {
        vec!["🌊", "⚓", "🌲", "🥾"]
    } else if ["skin", "beauty", "serum", "care"]
        .iter()
        .any(|w| text.contains(w))
    {
        vec!["✨", "🌿", "💧", "🤍"]
    } else if ["run", "sport", "trail", "gym", "athlet", "outdoor", "hike"]
        .iter()
        .any(|w| text.contains(w))
    {
        vec!["🔥", "⚡", "🏃", "🙌"]
    } else {
        vec!["🌿", "✨", "🤍", "🍂"]
    };
    rng.shuffle(&mut set);
    set
}
