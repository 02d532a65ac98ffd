//! The product's rules, applied to a model's output whatever the model said.
//!
//! The answer has already been conformed to the offline output's shape
//! ([`crate::answer::conform`]): its keys are the reference's (extra ones are
//! gone) and its types match. Here, per agent: every text field goes
//! through the brand rules ([`BrandRules`]: banned words, emoji policy,
//! discount language, unproven claims); fields the data decides (ids, names,
//! URLs, the brand's creator offer, the brief's budget) are taken from the
//! data, not the model; the shop's field limits and the hashtag limits are
//! applied; and ids the model names must be ids the input had.

use std::collections::BTreeSet;

use greenlight_agents::rules::{
    BrandRules, CAPTION_MAX_CHARS, PLATFORM_MAX_HASHTAGS, drop_sentences, has_discount_language,
};
use greenlight_agents::text::{char_len, fit_paragraphs, fit_sentences, fit_words};
use greenlight_agents::{AgentError, AgentId, AgentInput, Product, WITHHELD_TEXT, split_cents, usd_text};
use serde_json::{Map, Value, json};

/// Listing options per product.
pub const MAX_LISTING_OPTIONS: usize = 3;
/// Campaigns an ad proposal may have.
pub const MAX_CAMPAIGNS: usize = 4;
/// Creator DM drafts per run, and the longest DM.
pub const MAX_DRAFTS: usize = 5;
pub const DM_MAX_CHARS: usize = 1000;
/// Longest ad headline, post hook, comment reply.
pub const HEADLINE_MAX_CHARS: usize = 40;
pub const HOOK_MAX_CHARS: usize = 140;
pub const REPLY_MAX_CHARS: usize = 600;
/// Ranked next moves.
pub const MAX_MOVES: usize = 5;
/// The triage categories.
pub const CATEGORIES: [&str; 5] = ["question", "complaint", "praise", "purchase_intent", "spam"];
pub const SEVERITIES: [&str; 3] = ["high", "medium", "low"];

fn invalid(msg: String) -> AgentError {
    AgentError::Invalid(format!("the model's answer was refused: {msg}"))
}

fn s<'v>(v: &'v Value, key: &str) -> &'v str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn arr<'v>(v: &'v Value, key: &str) -> &'v [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Cents as a JSON number of dollars (whole dollars as integers).
pub fn usd(cents: i64) -> Value {
    if cents % 100 == 0 {
        json!(cents / 100)
    } else {
        json!(cents as f64 / 100.0)
    }
}

/// Whether a sentence states an amount of money.
fn states_money(text: &str) -> bool {
    let l = text.to_lowercase();
    l.contains('$') || l.contains(" usd") || l.contains("dollar") || l.contains('€') || l.contains('£')
}

/// The brand rules for this brief, and a record of what they changed.
pub(crate) struct Enforcer<'a> {
    input: &'a AgentInput<'a>,
    rules: BrandRules,
    /// The brief's products, resolved against the catalog.
    products: Vec<&'a Product>,
    banned: BTreeSet<String>,
    claims: BTreeSet<String>,
    discount: bool,
    emoji: bool,
    cut: usize,
    pub notes: Vec<String>,
}

impl<'a> Enforcer<'a> {
    pub fn new(input: &'a AgentInput<'a>) -> Enforcer<'a> {
        let notes = input
            .brief
            .get("notes")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|n| !n.is_empty());
        let ws = input.workspace;
        let mut products: Vec<&Product> = Vec::new();
        for item in input
            .brief
            .get("products")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let id = match item {
                Value::String(s) => Some(s.trim()),
                Value::Object(o) => o
                    .get("product_id")
                    .or_else(|| o.get("id"))
                    .and_then(Value::as_str)
                    .map(str::trim),
                _ => None,
            };
            if let Some(p) = id.and_then(|id| ws.products.iter().find(|p| p.id == id))
                && !products.iter().any(|q| q.id == p.id)
            {
                products.push(p);
            }
        }
        Enforcer {
            input,
            rules: BrandRules::new(&ws.brand, notes),
            products,
            banned: BTreeSet::new(),
            claims: BTreeSet::new(),
            discount: false,
            emoji: false,
            cut: 0,
            notes: Vec::new(),
        }
    }

    fn product(&self, id: &str) -> Option<&'a Product> {
        self.input.workspace.products.iter().find(|p| p.id == id)
    }

    fn proven(&self, products: &[&Product]) -> Vec<String> {
        self.rules.proven_claims(products)
    }

    fn observe(&mut self, text: &str, proven: &[String], max_emoji: usize) {
        self.banned.extend(self.rules.banned_in(text));
        self.claims.extend(self.rules.unproven_claims_in(text, proven));
        if !self.rules.discount_allowed && has_discount_language(text) {
            self.discount = true;
        }
        if greenlight_agents::text::count_emoji(text) > max_emoji {
            self.emoji = true;
        }
    }

    /// Copy that goes out (captions, replies, DMs), emoji per the policy.
    fn copy(&mut self, text: &str, proven: &[String]) -> String {
        let budget = greenlight_agents::rules::emoji_budget(self.rules.emoji_policy);
        self.observe(text, proven, budget);
        self.rules.clean(text, proven)
    }

    /// Copy without emoji (listing fields, headlines, hooks).
    fn plain(&mut self, text: &str, proven: &[String]) -> String {
        self.observe(text, proven, 0);
        self.rules.clean_plain(text, proven)
    }

    /// Text about the copy (notes, findings, rationales): banned words masked.
    fn meta(&mut self, text: &str) -> String {
        self.observe(text, &[], 0);
        self.rules.clean_meta(text)
    }

    fn fit(&mut self, text: String, max: usize) -> String {
        if char_len(&text) > max {
            self.cut += 1;
            fit_words(&text, max)
        } else {
            text
        }
    }

    /// The brand's tagline under the rules (a render's bottom line).
    pub fn tagline(&self) -> String {
        let proven = self.proven(&self.products);
        self.rules
            .clean_plain(&self.input.workspace.brand.tagline, &proven)
    }

    /// The name of the brief's first product, else the brand's name.
    pub fn lead_name(&self) -> String {
        self.products
            .first()
            .map(|p| p.name.clone())
            .unwrap_or_else(|| self.input.workspace.brand.brand_name.clone())
    }

    /// What the rules changed, for the trail.
    pub fn summary(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.banned.is_empty() {
            out.push(format!(
                "removed the brand's banned words from the model's text ({})",
                self.banned.iter().map(|w| mask(w)).collect::<Vec<_>>().join(", ")
            ));
        }
        if !self.claims.is_empty() {
            out.push(format!(
                "removed claims without proof on file ({})",
                self.claims.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        if self.discount {
            out.push("removed discount language".into());
        }
        if self.emoji {
            out.push("applied the emoji policy".into());
        }
        if self.cut > 0 {
            out.push(format!("cut {} field(s) to their limits", self.cut));
        }
        out.append(&mut self.notes);
        out
    }

    /// Applies the rules of `agent` to a conformed answer.
    pub fn apply(&mut self, offline: &Value, answer: &Value) -> Result<Value, AgentError> {
        match self.input.agent {
            AgentId::ListingOptimizer => self.listing(answer),
            AgentId::ContentProducer => self.content(offline, answer),
            AgentId::Compliance => self.compliance(offline, answer),
            AgentId::AdCampaignDirector => self.ads(offline, answer),
            AgentId::CreatorOutreach => self.outreach(offline, answer),
            AgentId::ProfileAuditor => self.audit(answer),
            AgentId::CommentTriage => self.triage(offline, answer),
            AgentId::NextMoveRecommender => self.moves(answer),
            AgentId::Synthesis => Ok(offline.clone()),
        }
    }

    // ------------------------------------------------------------ listings

    fn listing(&mut self, answer: &Value) -> Result<Value, AgentError> {
        let limits = self.input.workspace.brand.shop.clone();
        let wanted: Vec<String> = self.products.iter().map(|p| p.id.clone()).collect();
        let mut seen: Vec<String> = Vec::new();
        let mut variants = Vec::new();
        for (i, v) in arr(answer, "variants").iter().enumerate() {
            let id = s(v, "product_id").trim();
            if !wanted.iter().any(|w| w == id) {
                return Err(invalid(format!(
                    "`variants[{i}].product_id` is `{id}`, which is not one of the brief's products ({})",
                    wanted.join(", ")
                )));
            }
            if seen.iter().any(|x| x == id) {
                return Err(invalid(format!("`variants[{i}].product_id` repeats `{id}`")));
            }
            seen.push(id.to_string());
            let Some(product) = self.product(id) else {
                return Err(invalid(format!("`variants[{i}].product_id`: no product `{id}`")));
            };
            let proven = self.proven(&[product]);
            let options_in = arr(v, "options");
            if options_in.len() > MAX_LISTING_OPTIONS {
                self.notes.push(format!(
                    "kept the first {MAX_LISTING_OPTIONS} of {} options for {}",
                    options_in.len(),
                    product.name
                ));
            }
            let mut options = Vec::new();
            for o in options_in.iter().take(MAX_LISTING_OPTIONS) {
                let angle = self.meta(s(o, "angle"));
                let mut title = self.plain(s(o, "title"), &proven);
                title = self.fit(title, limits.title_max_chars);
                if title.trim().is_empty() {
                    let name = self.rules.clean_plain(&product.name, &proven);
                    title = fit_words(&name, limits.title_max_chars);
                }
                let all_bullets = arr(o, "bullets");
                if all_bullets.len() > limits.bullets_per_listing {
                    self.cut += 1;
                }
                let mut bullets = Vec::new();
                for b in all_bullets {
                    let text = self.plain(b.as_str().unwrap_or(""), &proven);
                    let text = self.fit(text, limits.bullet_max_chars);
                    if !text.trim().is_empty() && bullets.len() < limits.bullets_per_listing {
                        bullets.push(text);
                    }
                }
                let paragraphs: Vec<String> = s(o, "description")
                    .split("\n\n")
                    .map(|p| self.plain(p, &proven))
                    .filter(|p| !p.trim().is_empty())
                    .collect();
                let description = fit_paragraphs(&paragraphs, limits.description_max_chars);
                if char_len(&paragraphs.join("\n\n")) > limits.description_max_chars {
                    self.cut += 1;
                }
                options.push(json!({
                    "angle": angle,
                    "title": title,
                    "bullets": bullets,
                    "description": description,
                }));
            }
            variants.push(json!({
                "product_id": product.id,
                "product_name": product.name,
                "options": options,
            }));
        }
        if let Some(missing) = wanted.iter().find(|w| !seen.contains(w)) {
            return Err(invalid(format!(
                "`variants` leaves out the brief's product `{missing}`"
            )));
        }
        let notes = self.meta(s(answer, "notes"));
        Ok(json!({"variants": variants, "notes": notes}))
    }

    // ------------------------------------------------------------ captions

    /// A caption's text and hashtags under the brand's and platform's rules.
    fn caption(&mut self, caption: &Value, fallback: &Value, proven: &[String]) -> Value {
        let brand = &self.input.workspace.brand;
        let mut text = self.copy(s(caption, "text"), proven);
        if char_len(&text) > CAPTION_MAX_CHARS {
            self.cut += 1;
            text = fit_sentences(&text, CAPTION_MAX_CHARS);
        }
        if text.trim().is_empty() {
            text = s(fallback, "text").to_string();
            self.notes
                .push("the model's caption was empty after the rules; kept the offline caption".into());
        }
        let normalise = |t: &str| -> Option<String> {
            let bare: String = t
                .trim()
                .trim_start_matches('#')
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            (!bare.is_empty()).then(|| format!("#{bare}"))
        };
        let max = brand.hashtags.max_per_post.min(PLATFORM_MAX_HASHTAGS);
        let mut tags: Vec<String> = Vec::new();
        let push = |tags: &mut Vec<String>, t: String| {
            if !tags.iter().any(|o| o.eq_ignore_ascii_case(&t)) {
                tags.push(t);
            }
        };
        for t in &brand.hashtags.signature {
            if let Some(tag) = normalise(t)
                && self.rules.hashtag_ok(&tag, proven)
            {
                push(&mut tags, tag);
            }
        }
        let mut dropped = 0;
        for t in arr(caption, "hashtags") {
            match t.as_str().and_then(normalise) {
                Some(tag) if self.rules.hashtag_ok(&tag, proven) => push(&mut tags, tag),
                _ => dropped += 1,
            }
        }
        if dropped > 0 {
            self.notes.push(format!(
                "dropped {dropped} hashtag(s) that break the brand's rules"
            ));
        }
        if tags.len() > max {
            self.notes.push(format!(
                "cut hashtags from {} to {max} (the brand's limit per post)",
                tags.len()
            ));
            tags.truncate(max);
        }
        json!({"text": text, "hashtags": tags})
    }

    fn content(&mut self, offline: &Value, answer: &Value) -> Result<Value, AgentError> {
        let proven = self.proven(&self.products);
        let mut post_brief = offline.get("post_brief").cloned().unwrap_or_else(|| json!({}));
        let model_brief = answer.get("post_brief").cloned().unwrap_or(Value::Null);
        let hook = self.plain(s(&model_brief, "hook"), &proven);
        let hook = self.fit(hook, HOOK_MAX_CHARS);
        let visual = self.meta(s(&model_brief, "visual"));
        if let Some(o) = post_brief.as_object_mut() {
            if !hook.trim().is_empty() {
                o.insert("hook".into(), Value::String(hook));
            }
            if !visual.trim().is_empty() {
                o.insert("visual".into(), Value::String(fit_words(&visual, 1500)));
            }
        }
        let fallback = offline.get("post_caption").cloned().unwrap_or(Value::Null);
        let caption = self.caption(
            answer.get("post_caption").unwrap_or(&Value::Null),
            &fallback,
            &proven,
        );
        Ok(json!({
            "post_brief": post_brief,
            "post_caption": caption,
            "asset_url": offline.get("asset_url").cloned().unwrap_or(Value::Null),
        }))
    }

    fn compliance(&mut self, offline: &Value, answer: &Value) -> Result<Value, AgentError> {
        let proven = self.proven(&self.products);
        let mut issues = Vec::new();
        for (i, issue) in arr(answer, "issues").iter().enumerate() {
            let (rule, severity, detail, fixed) = match issue {
                Value::Object(o) => (
                    o.get("rule").and_then(Value::as_str).unwrap_or("review"),
                    o.get("severity").and_then(Value::as_str).unwrap_or("medium"),
                    o.get("detail")
                        .or_else(|| o.get("issue"))
                        .and_then(Value::as_str)
                        .unwrap_or(""),
                    o.get("fixed").and_then(Value::as_bool).unwrap_or(true),
                ),
                Value::String(t) => ("review", "medium", t.as_str(), true),
                _ => continue,
            };
            let severity = severity.trim().to_lowercase();
            if !SEVERITIES.contains(&severity.as_str()) {
                return Err(invalid(format!(
                    "`issues[{i}].severity` is `{severity}`; it must be high, medium or low"
                )));
            }
            let detail = self.meta(detail);
            if detail.trim().is_empty() {
                continue;
            }
            let rule = self.meta(rule);
            issues.push(json!({"rule": rule, "severity": severity, "detail": detail, "fixed": fixed}));
        }
        let fallback = offline.get("post_caption").cloned().unwrap_or(Value::Null);
        let caption = self.caption(
            answer.get("post_caption").unwrap_or(&Value::Null),
            &fallback,
            &proven,
        );
        let text = s(&caption, "text");
        let tags = arr(&caption, "hashtags");
        let brand_max = self.input.workspace.brand.hashtags.max_per_post;
        let passed = self.rules.violations(text, &proven).is_empty()
            && char_len(text) <= CAPTION_MAX_CHARS
            && tags.len() <= brand_max.min(PLATFORM_MAX_HASHTAGS)
            && tags
                .iter()
                .all(|t| t.as_str().is_some_and(|t| self.rules.hashtag_ok(t, &proven)));
        Ok(json!({
            "issues": issues,
            "post_caption": caption,
            "asset_url": offline.get("asset_url").cloned().unwrap_or(Value::Null),
            "passed": passed,
        }))
    }

    // ------------------------------------------------------------ ads

    fn ads(&mut self, offline: &Value, answer: &Value) -> Result<Value, AgentError> {
        let brief = self.input.brief;
        let dollars = brief
            .get("budget_usd_per_day")
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        let daily_cents = if dollars.is_finite() {
            (dollars * 100.0).round() as i64
        } else {
            0
        };
        let days = brief
            .get("campaign_days")
            .and_then(|d| d.as_i64().or_else(|| d.as_f64().map(|f| f as i64)))
            .unwrap_or(0);
        if daily_cents <= 0 || days <= 0 {
            return Err(AgentError::Invalid(
                "the brief's budget (`budget_usd_per_day` × `campaign_days`) is not a positive amount".into(),
            ));
        }
        let ws = self.input.workspace;
        let placements: Vec<String> = ws
            .brand
            .ad_placements
            .iter()
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect();
        let offline_campaigns = arr(offline, "campaigns");
        let first = offline_campaigns.first().cloned().unwrap_or(Value::Null);
        let asset_url = first
            .get("creative")
            .and_then(|c| c.get("asset_url"))
            .cloned()
            .unwrap_or(Value::Null);
        let fallback_headline = first
            .get("creative")
            .map(|c| s(c, "headline").to_string())
            .unwrap_or_default();
        let lead: Vec<&Product> = self.products.iter().take(1).copied().collect();
        let proven = self.proven(&lead);

        let campaigns_in = arr(answer, "campaigns");
        let most = MAX_CAMPAIGNS.min(usize::try_from(daily_cents).unwrap_or(MAX_CAMPAIGNS));
        if campaigns_in.len() > most {
            return Err(invalid(format!(
                "`campaigns` has {} campaigns; at most {most} fit this budget",
                campaigns_in.len()
            )));
        }
        let mut weights = Vec::new();
        let mut model_daily_cents = 0i64;
        for (i, c) in campaigns_in.iter().enumerate() {
            let placement = s(c, "placement").trim();
            if !placements.is_empty() && !placements.iter().any(|p| p == placement) {
                return Err(invalid(format!(
                    "`campaigns[{i}].placement` is `{placement}`, which is not one of the brand's placements ({})",
                    placements.join(", ")
                )));
            }
            let d = c.get("daily_budget_usd").and_then(Value::as_f64).unwrap_or(0.0);
            let cents = if d.is_finite() && d > 0.0 {
                (d * 100.0).round().min(1e9)
            } else {
                0.0
            };
            model_daily_cents = model_daily_cents.saturating_add(cents as i64);
            weights.push((cents as u32).max(1));
        }
        let shares = split_cents(daily_cents, &weights);
        if shares.len() != campaigns_in.len() {
            return Err(invalid("`campaigns` cannot carry the brief's budget".into()));
        }
        let mut campaigns = Vec::new();
        for (c, &cents) in campaigns_in.iter().zip(&shares) {
            let name = self.meta(&drop_sentences(s(c, "name"), states_money));
            let audience = self.meta(s(c, "audience"));
            let headline = {
                let creative = c.get("creative").unwrap_or(&Value::Null);
                let h = self.plain(s(creative, "headline"), &proven);
                let h = self.fit(h, HEADLINE_MAX_CHARS);
                if h.trim().is_empty() {
                    fallback_headline.clone()
                } else {
                    h
                }
            };
            let interests: Vec<String> = arr(c, "audience_interests")
                .iter()
                .filter_map(Value::as_str)
                .map(|x| self.meta(x))
                .filter(|x| !x.trim().is_empty())
                .collect();
            let rationale = self.meta(&drop_sentences(s(c, "rationale"), states_money));
            campaigns.push(json!({
                "name": if name.trim().is_empty() { audience.clone() } else { name },
                "audience": audience,
                "placement": s(c, "placement").trim(),
                "daily_budget_usd": usd(cents),
                "days": days,
                "total_usd": usd(cents * days),
                "creative": {"headline": headline, "asset_url": asset_url},
                "audience_interests": interests,
                "rationale": rationale,
            }));
        }
        let total = daily_cents * days;
        if model_daily_cents != daily_cents {
            self.notes.push(format!(
                "re-split the brief's budget ({}/day × {days} days = {}) across the model's {} campaigns in proportion \
                 to its daily budgets, which added up to {}/day",
                usd_text(daily_cents),
                usd_text(total),
                campaigns.len(),
                usd_text(model_daily_cents)
            ));
        }
        let summary = format!(
            "{} campaign{}, {}/day for {} day{} ({} total)",
            campaigns.len(),
            if campaigns.len() == 1 { "" } else { "s" },
            usd_text(daily_cents),
            days,
            if days == 1 { "" } else { "s" },
            usd_text(total)
        );
        Ok(json!({
            "campaigns": campaigns,
            "daily_budget_usd": usd(daily_cents),
            "days": days,
            "total_usd": usd(total),
            "summary": summary,
        }))
    }

    // ------------------------------------------------------------ outreach

    fn outreach(&mut self, offline: &Value, answer: &Value) -> Result<Value, AgentError> {
        let proven = self.proven(&self.products);
        let ws = self.input.workspace;
        let offline_drafts = arr(offline, "drafts");
        let offer = offline_drafts
            .first()
            .map(|d| s(d, "offer").to_string())
            .unwrap_or_else(|| self.rules.clean_plain(&ws.brand.creator_offer, &proven));
        let drafts_in = arr(answer, "drafts");
        if drafts_in.len() > MAX_DRAFTS {
            return Err(invalid(format!(
                "`drafts` has {} drafts; at most {MAX_DRAFTS}",
                drafts_in.len()
            )));
        }
        let mut seen: Vec<&str> = Vec::new();
        let mut drafts = Vec::new();
        for (i, d) in drafts_in.iter().enumerate() {
            let id = s(d, "creator_id").trim();
            let Some(creator) = ws.creators.iter().find(|c| c.id == id) else {
                return Err(invalid(format!(
                    "`drafts[{i}].creator_id` is `{id}`, which is not one of the workspace's creators"
                )));
            };
            if seen.contains(&id) {
                return Err(invalid(format!("`drafts[{i}].creator_id` repeats `{id}`")));
            }
            seen.push(id);
            let mut message = self.copy(s(d, "message"), &proven);
            if char_len(&message) > DM_MAX_CHARS {
                self.cut += 1;
                message = fit_sentences(&message, DM_MAX_CHARS);
            }
            if message.trim().is_empty() {
                return Err(invalid(format!(
                    "`drafts[{i}].message` is empty once the brand's rules are applied"
                )));
            }
            let why = self.meta(s(d, "why"));
            drafts.push(json!({
                "creator_id": creator.id,
                "handle": creator.handle,
                "name": creator.name,
                "platform": creator.platform,
                "message": message,
                "offer": offer,
                "past_collaboration": creator.past_collaboration,
                "why": why,
            }));
        }
        Ok(json!({"drafts": drafts}))
    }

    // ------------------------------------------------------------ audit

    fn audit(&mut self, answer: &Value) -> Result<Value, AgentError> {
        let mut findings = Vec::new();
        for (i, f) in arr(answer, "findings").iter().enumerate() {
            let severity = s(f, "severity").trim().to_lowercase();
            if !SEVERITIES.contains(&severity.as_str()) {
                return Err(invalid(format!(
                    "`findings[{i}].severity` is `{severity}`; it must be high, medium or low"
                )));
            }
            findings.push(json!({
                "area": self.meta(s(f, "area")),
                "severity": severity,
                "finding": self.meta(s(f, "finding")),
                "fix": self.meta(s(f, "fix")),
            }));
        }
        let score = answer
            .get("score")
            .and_then(Value::as_f64)
            .filter(|x| x.is_finite())
            .unwrap_or(0.0)
            .round()
            .clamp(0.0, 100.0) as i64;
        let summary = self.meta(s(answer, "summary"));
        Ok(json!({"findings": findings, "score": score, "summary": summary}))
    }

    // ------------------------------------------------------------ triage

    fn triage(&mut self, offline: &Value, answer: &Value) -> Result<Value, AgentError> {
        let ws = self.input.workspace;
        let post_id = offline.get("post_id").cloned().unwrap_or(Value::Null);
        let post = post_id
            .as_str()
            .and_then(|id| ws.posts.iter().find(|p| p.id == id));
        let post_products: Vec<&Product> = post
            .map(|p| {
                p.product_ids
                    .iter()
                    .filter_map(|id| ws.products.iter().find(|q| &q.id == id))
                    .collect()
            })
            .unwrap_or_default();
        let proven = self.proven(&post_products);
        let offline_items = arr(offline, "comments");
        let mut seen: Vec<String> = Vec::new();
        let mut items = Vec::new();
        let mut overruled = 0;
        for (i, c) in arr(answer, "comments").iter().enumerate() {
            let id = s(c, "comment_id").trim();
            let Some(reference) = offline_items.iter().find(|o| s(o, "comment_id") == id) else {
                return Err(invalid(format!(
                    "`comments[{i}].comment_id` is `{id}`, which is not a comment of the post"
                )));
            };
            if seen.iter().any(|x| x == id) {
                return Err(invalid(format!("`comments[{i}].comment_id` repeats `{id}`")));
            }
            seen.push(id.to_string());
            let category = s(c, "category").trim().to_lowercase().replace([' ', '-'], "_");
            if !CATEGORIES.contains(&category.as_str()) {
                return Err(invalid(format!(
                    "`comments[{i}].category` is `{category}`; it must be one of {}",
                    CATEGORIES.join(", ")
                )));
            }
            // The offline rules' flags stand: a comment that addressed the
            // AI (or carried markup, or was empty) stays spam with no reply.
            let flags = reference.get("flags").cloned().unwrap_or_else(|| json!([]));
            let locked = flags.as_array().is_some_and(|f| {
                f.iter()
                    .any(|x| matches!(x.as_str(), Some("prompt_injection" | "contains_markup" | "empty")))
            });
            let category = if locked {
                let fixed = s(reference, "category").to_string();
                if fixed != category {
                    overruled += 1;
                }
                fixed
            } else {
                category
            };
            let reply = if category == "spam" {
                Value::Null
            } else {
                match c.get("suggested_reply").and_then(Value::as_str) {
                    Some(r) => {
                        let r = self.copy(r, &proven);
                        let r = fit_words(&r, REPLY_MAX_CHARS);
                        if r.trim().is_empty() {
                            Value::Null
                        } else {
                            Value::String(r)
                        }
                    }
                    None => Value::Null,
                }
            };
            items.push(json!({
                "comment_id": id,
                "author": reference.get("author").cloned().unwrap_or(Value::Null),
                "text": reference.get("text").cloned().unwrap_or_else(|| json!(WITHHELD_TEXT)),
                "category": category,
                "suggested_reply": reply,
                "flags": flags,
            }));
        }
        if let Some(missing) = offline_items
            .iter()
            .map(|o| s(o, "comment_id"))
            .find(|id| !seen.iter().any(|x| x == id))
        {
            return Err(invalid(format!("`comments` leaves out comment `{missing}`")));
        }
        if overruled > 0 {
            self.notes.push(format!(
                "kept {overruled} comment(s) that tried to instruct an AI as spam, whatever the model said"
            ));
        }
        let cat_of = |v: &Value| s(v, "category").to_string();
        let cats: Vec<String> = items.iter().map(cat_of).collect();
        let n = |k: &str| cats.iter().filter(|c| c.as_str() == k).count();
        let mut counts = Map::new();
        for k in CATEGORIES {
            counts.insert(k.to_string(), json!(n(k)));
        }
        let injections = items
            .iter()
            .filter(|i| arr(i, "flags").iter().any(|f| f == "prompt_injection"))
            .count();
        let mut summary = match post {
            Some(p) => greenlight_agents::triage_summary_line(items.len(), &p.id, &p.platform, &n),
            None => s(offline, "summary").to_string(),
        };
        if injections > 0 {
            summary.push_str(&format!(
                " {injections} comment{} tried to give instructions to AI tools; treated as spam and not followed.",
                if injections == 1 { "" } else { "s" }
            ));
        }
        Ok(json!({
            "post_id": post_id,
            "comments": items,
            "counts": Value::Object(counts),
            "summary": summary,
        }))
    }

    // ------------------------------------------------------------ next moves

    fn moves(&mut self, answer: &Value) -> Result<Value, AgentError> {
        let mut indexed: Vec<(usize, &Value)> = arr(answer, "moves").iter().enumerate().collect();
        let rank = |v: &Value| {
            v.get("rank")
                .and_then(Value::as_f64)
                .filter(|r| r.is_finite())
                .unwrap_or(f64::MAX)
        };
        indexed.sort_by(|(ia, a), (ib, b)| rank(a).total_cmp(&rank(b)).then(ia.cmp(ib)));
        let mut moves = Vec::new();
        for (_, m) in indexed.into_iter().take(MAX_MOVES) {
            let title = self.meta(s(m, "title"));
            let rationale = self.meta(s(m, "rationale"));
            let evidence: Vec<String> = arr(m, "evidence")
                .iter()
                .filter_map(Value::as_str)
                .map(|e| self.meta(e))
                .filter(|e| !e.trim().is_empty())
                .collect();
            if title.trim().is_empty() {
                continue;
            }
            moves.push(json!({
                "rank": moves.len() + 1,
                "title": title,
                "rationale": rationale,
                "evidence": evidence,
            }));
        }
        if moves.is_empty() {
            return Err(invalid("`moves` has no move with a title".into()));
        }
        Ok(json!({"moves": moves}))
    }
}

/// A banned word as the trail shows it: first letter, then asterisks.
fn mask(w: &str) -> String {
    greenlight_agents::text::mask_word(w)
}
