//! Compliance: checks the Content Producer's caption against the brand's
//! rules and the platform's, fixes what breaks them and says what it did.

use serde_json::{Value, json};

use crate::offline::Ctx;
use crate::rules::{
    CAPTION_MAX_CHARS, PLATFORM_MAX_HASHTAGS, drop_sentences, emoji_budget, has_discount_language,
    has_pressure_language, hashtag_has_discount,
};
use crate::text::{char_len, count_emoji, fit_sentences, limit_emoji, mask_word, remove_phrase};
use crate::types::{AgentError, AgentInput, AgentOutput, EmojiPolicy, PriorStep, Product};

/// The output of the latest succeeded step of `agent`.
pub fn upstream_output<'a>(prior: &'a [PriorStep], agent: &str) -> Option<&'a Value> {
    prior
        .iter()
        .rev()
        .filter(|s| s.agent.as_deref() == Some(agent) && s.status == "succeeded")
        .find_map(|s| s.output.as_deref())
}

struct Check {
    rule: &'static str,
    severity: &'static str,
    /// `None`: passed; `Some(detail)`: broken and fixed as described.
    fixed: Option<String>,
    pass_note: String,
}

pub fn run(input: &AgentInput<'_>) -> Result<AgentOutput, AgentError> {
    let mut ctx = Ctx::new(input);
    let upstream = upstream_output(input.prior_steps, "content_producer")
        .ok_or(AgentError::MissingUpstream("content_producer"))?;
    let original_text = upstream
        .pointer("/post_caption/text")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let original_tags: Vec<String> = upstream
        .pointer("/post_caption/hashtags")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let asset_url = upstream
        .get("asset_url")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let hook = upstream
        .pointer("/post_brief/hook")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();

    // The products the post is about decide which claims it may make.
    let mut products: Vec<&Product> = Vec::new();
    if let Some(items) = upstream.pointer("/post_brief/products").and_then(Value::as_array) {
        for item in items {
            let id = item
                .as_str()
                .or_else(|| item.get("product_id").and_then(Value::as_str))
                .or_else(|| item.get("id").and_then(Value::as_str));
            if let Some(p) = id.and_then(|id| ctx.ws.products.iter().find(|p| p.id == id))
                && !products.iter().any(|q| q.id == p.id)
            {
                products.push(p);
            }
        }
    }
    if products.is_empty()
        && let Ok(ps) = ctx.brief.products(ctx.ws)
    {
        products = ps;
    }
    let proven = ctx.rules.proven_claims(&products);
    let rules = ctx.rules.clone();
    let brand = ctx.brand;

    let mut text = original_text.clone();
    let mut tags = original_tags.clone();
    let mut checks: Vec<Check> = Vec::new();

    // 1. Banned words, in the caption and the hashtags.
    let mut found = rules.banned_in(&text);
    for w in &found {
        text = remove_phrase(&text, w);
    }
    let before = tags.len();
    tags.retain(|t| !rules.hashtag_has_banned(t));
    let banned_tags = before - tags.len();
    found.dedup();
    checks.push(Check {
        rule: "banned_words",
        severity: "high",
        fixed: (!found.is_empty() || banned_tags > 0).then(|| {
            let masked: Vec<String> = found.iter().map(|w| mask_word(w)).collect();
            let mut d = String::new();
            if !masked.is_empty() {
                d.push_str(&format!(
                    "Removed the banned word(s) {} from the caption.",
                    masked.join(", ")
                ));
            }
            if banned_tags > 0 {
                d.push_str(&format!(
                    " Dropped {banned_tags} hashtag(s) containing a banned word."
                ));
            }
            d.trim().to_string()
        }),
        pass_note: format!(
            "none of the brand's {} banned words appear",
            rules.banned_words().len()
        ),
    });

    // 2. Discount language.
    let reason = if brand.discount_language_allowed {
        "the brief's notes ask for none"
    } else {
        "the brand does not allow it"
    };
    if rules.discount_allowed {
        checks.push(Check {
            rule: "discount_language",
            severity: "high",
            fixed: None,
            pass_note: "allowed for this brand and brief".into(),
        });
    } else {
        let mut fixed = None;
        if has_discount_language(&text) {
            let sentences = crate::text::sentence_segments(&text)
                .into_iter()
                .filter(|s| has_discount_language(s))
                .count();
            text = drop_sentences(&text, has_discount_language);
            fixed = Some(format!(
                "Removed {sentences} sentence(s) with price-cut wording: {reason}."
            ));
        }
        let before = tags.len();
        tags.retain(|t| !hashtag_has_discount(t));
        let dropped = before - tags.len();
        if dropped > 0 {
            let d = format!("Dropped {dropped} price-cut hashtag(s).");
            fixed = Some(match fixed {
                Some(f) => format!("{f} {d}"),
                None => d,
            });
        }
        checks.push(Check {
            rule: "discount_language",
            severity: "high",
            fixed,
            pass_note: format!("no price-cut wording ({reason})"),
        });
    }

    // 3. Claims that need proof.
    let unproven = rules.unproven_claims_in(&text, &proven);
    for c in &unproven {
        text = remove_phrase(&text, c);
    }
    let before = tags.len();
    tags.retain(|t| !rules.hashtag_has_unproven_claim(t, &proven));
    let claim_tags = before - tags.len();
    let names: Vec<&str> = products.iter().map(|p| p.name.as_str()).collect();
    checks.push(Check {
        rule: "claims_require_proof",
        severity: "high",
        fixed: (!unproven.is_empty() || claim_tags > 0).then(|| {
            let quoted: Vec<String> = unproven.iter().map(|c| format!("\"{c}\"")).collect();
            let mut d = String::new();
            if !quoted.is_empty() {
                d.push_str(&format!(
                    "Removed the claim(s) {}: {} has no proof on file for it.",
                    quoted.join(", "),
                    crate::text::join_list(&names)
                ));
            }
            if claim_tags > 0 {
                d.push_str(&format!(
                    " Dropped {claim_tags} hashtag(s) making an unproven claim."
                ));
            }
            d.trim().to_string()
        }),
        pass_note: if proven.is_empty() {
            "no claim that needs proof is made".into()
        } else {
            format!("only proven claims are made ({})", proven.join(", "))
        },
    });

    // 4. Emoji policy.
    let allowed = emoji_budget(rules.emoji_policy);
    let n = count_emoji(&text);
    let policy = match rules.emoji_policy {
        EmojiPolicy::None => "none",
        EmojiPolicy::Sparing => "sparing",
        EmojiPolicy::Expressive => "expressive",
    };
    if n > allowed {
        text = limit_emoji(&text, allowed);
    }
    checks.push(Check {
        rule: "emoji_policy",
        severity: "medium",
        fixed: (n > allowed).then(|| format!("Kept {allowed} of {n} emoji (policy: {policy}).")),
        pass_note: format!("{n} emoji, within the {policy} policy"),
    });

    // 5. Brand voice: no pressure tactics, no shouting.
    let mut voice_fixes = Vec::new();
    if has_pressure_language(&text) {
        let k = crate::text::sentence_segments(&text)
            .into_iter()
            .filter(|s| has_pressure_language(s))
            .count();
        text = drop_sentences(&text, has_pressure_language);
        voice_fixes.push(format!("removed {k} pushy urgency sentence(s)"));
    }
    let bangs = text.matches('!').count();
    if bangs > 2 && !ctx.voice_is_lively() {
        let mut seen = 0;
        text = text
            .chars()
            .map(|c| {
                if c == '!' {
                    seen += 1;
                    if seen > 1 {
                        return '.';
                    }
                }
                c
            })
            .collect::<String>()
            .replace("..", ".");
        voice_fixes.push(format!("calmed {} exclamation marks", bangs - 1));
    }
    let dont = brand
        .voice
        .donts
        .iter()
        .find(|d| {
            let d = d.to_lowercase();
            [
                "urgency",
                "scarcity",
                "pressure",
                "countdown",
                "fomo",
                "hype",
                "exclamation",
            ]
            .iter()
            .any(|w| d.contains(w))
        })
        .map(|d| format!(" (voice guide: \"{d}\")"))
        .unwrap_or_default();
    checks.push(Check {
        rule: "brand_voice",
        severity: "low",
        fixed: (!voice_fixes.is_empty()).then(|| {
            let mut d = voice_fixes.join("; ");
            if let Some(first) = d.get(..1) {
                d = format!("{}{}", first.to_uppercase(), d.get(1..).unwrap_or(""));
            }
            format!("{d}{dont}.")
        }),
        pass_note: format!("reads {}", ctx.tone_words()),
    });

    // 6. Caption length (platform).
    let len = char_len(&text);
    if len > CAPTION_MAX_CHARS {
        text = fit_sentences(&text, CAPTION_MAX_CHARS);
    }
    checks.push(Check {
        rule: "caption_length",
        severity: "medium",
        fixed: (len > CAPTION_MAX_CHARS).then(|| {
            format!(
                "Shortened the caption from {len} to {} characters (limit {CAPTION_MAX_CHARS}).",
                char_len(&text)
            )
        }),
        pass_note: format!("{len} of {CAPTION_MAX_CHARS} characters"),
    });

    // 7. Hashtag format.
    let mut malformed = 0;
    let mut normalised: Vec<String> = Vec::new();
    for t in &tags {
        let bare: String = t
            .trim()
            .trim_start_matches('#')
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if bare.is_empty() {
            malformed += 1;
            continue;
        }
        let tag = format!("#{bare}");
        if tag != *t {
            malformed += 1;
        }
        if normalised.iter().any(|o| o.eq_ignore_ascii_case(&tag)) {
            malformed += 1;
        } else {
            normalised.push(tag);
        }
    }
    tags = normalised;
    checks.push(Check {
        rule: "hashtag_format",
        severity: "low",
        fixed: (malformed > 0)
            .then(|| format!("Normalised {malformed} hashtag(s) (leading #, no spaces, no repeats).")),
        pass_note: "every hashtag starts with # and none repeats".into(),
    });

    // 8. Signature hashtags first.
    let signature: Vec<String> = brand
        .hashtags
        .signature
        .iter()
        .map(|t| format!("#{}", t.trim().trim_start_matches('#')))
        .filter(|t| t.len() > 1 && rules.hashtag_ok(t, &proven))
        .collect();
    let max_tags = brand.hashtags.max_per_post.min(PLATFORM_MAX_HASHTAGS);
    let expected_head: Vec<String> = signature.iter().take(max_tags).cloned().collect();
    let head_ok = tags.len() >= expected_head.len()
        && tags
            .iter()
            .zip(&expected_head)
            .all(|(a, b)| a.eq_ignore_ascii_case(b));
    if !head_ok {
        let rest: Vec<String> = tags
            .iter()
            .filter(|t| !expected_head.iter().any(|s| s.eq_ignore_ascii_case(t)))
            .cloned()
            .collect();
        tags = expected_head.clone();
        tags.extend(rest);
    }
    checks.push(Check {
        rule: "signature_hashtags",
        severity: "low",
        fixed: (!head_ok).then(|| format!("Put the signature tag(s) {} first.", expected_head.join(" "))),
        pass_note: "signature tags lead".into(),
    });

    // 9. Hashtag counts: the platform's limit, then the brand's.
    let count = tags.len();
    if count > PLATFORM_MAX_HASHTAGS {
        tags.truncate(PLATFORM_MAX_HASHTAGS);
    }
    checks.push(Check {
        rule: "hashtags_platform_limit",
        severity: "medium",
        fixed: (count > PLATFORM_MAX_HASHTAGS)
            .then(|| format!("Cut hashtags from {count} to {PLATFORM_MAX_HASHTAGS} (platform limit).")),
        pass_note: format!("{count} of at most {PLATFORM_MAX_HASHTAGS}"),
    });
    let count = tags.len();
    let brand_max = brand.hashtags.max_per_post;
    if count > brand_max {
        tags.truncate(brand_max);
    }
    checks.push(Check {
        rule: "hashtags_brand_limit",
        severity: "medium",
        fixed: (count > brand_max)
            .then(|| format!("Cut hashtags from {count} to {brand_max} (brand limit).")),
        pass_note: format!("{count} of at most {brand_max}"),
    });

    // A caption emptied by the fixes falls back to the hook or the tagline.
    if text.trim().is_empty() {
        let fallback = if hook.trim().is_empty() {
            brand.tagline.clone()
        } else {
            hook.clone()
        };
        text = rules.clean(&fallback, &proven);
    }

    let passed = rules.violations(&text, &proven).is_empty()
        && char_len(&text) <= CAPTION_MAX_CHARS
        && tags.len() <= brand_max.min(PLATFORM_MAX_HASHTAGS)
        && tags.iter().all(|t| rules.hashtag_ok(t, &proven));

    let mut issues = Vec::new();
    for c in &checks {
        match &c.fixed {
            Some(detail) => {
                let detail = rules.clean_meta(detail);
                ctx.rule(c.rule, format!("fixed: {detail}"));
                issues.push(json!({"rule": c.rule, "severity": c.severity, "detail": detail, "fixed": true}));
            }
            None => ctx.rule(c.rule, format!("pass: {}", rules.clean_meta(&c.pass_note))),
        }
    }

    let output = json!({
        "issues": issues,
        "post_caption": {"text": text, "hashtags": tags},
        "asset_url": asset_url,
        "passed": passed,
    });
    let submitted = format!(
        "CAPTION TO CHECK (from the Content Producer)\n<caption>\n{}\n</caption>\nHASHTAGS: {}\nPRODUCTS: {}\n\
         PLATFORM RULES\n- caption at most {CAPTION_MAX_CHARS} characters\n- at most {PLATFORM_MAX_HASHTAGS} hashtags; brand limit {}\n",
        original_text.replace("</caption>", "&lt;/caption>"),
        original_tags.join(" "),
        crate::text::join_list(&names),
        brand.hashtags.max_per_post
    );
    let prompt = ctx.prompt(
        "Compliance reviewer",
        "Check the caption below against every brand and platform rule, fix each problem with the smallest edit, \
         and list what you fixed with a severity.",
        &products,
        &[submitted],
    );
    ctx.llm(prompt, &output);
    Ok(ctx.finish(output))
}
