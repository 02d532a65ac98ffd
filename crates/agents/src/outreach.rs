//! Creator Outreach: one DM draft per creator (up to five), in the brand's
//! voice, personalised to the creator, with the brand's creator offer.

use serde_json::json;
use std::cell::OnceCell;

use crate::facts;
use crate::offline::{Ctx, brand_emoji, proof_text};
use crate::rules::product_proves;
use crate::text::{fit_sentences, join_list, lower_first};
use crate::types::{AgentError, AgentInput, AgentOutput, Creator, EmojiPolicy, Product};
use crate::words::significant;

pub const MAX_DRAFTS: usize = 5;
pub const DM_MAX_CHARS: usize = 1000;

pub fn run(input: &AgentInput<'_>) -> Result<AgentOutput, AgentError> {
    let mut ctx = Ctx::new(input);
    let products = ctx.brief.products(ctx.ws)?;
    let proven = ctx.rules.proven_claims(&products);
    let creators: Vec<&Creator> = ctx.ws.creators.iter().take(MAX_DRAFTS).collect();
    let offer = ctx.rules.clean_plain(&ctx.brand.creator_offer, &proven);

    let read: Vec<Read<'_>> = products.iter().map(|p| Read::of(p)).collect();
    let mut drafts = Vec::new();
    for c in &creators {
        let message = draft(&mut ctx, c, &read, &proven, &offer);
        let why = ctx.rules.clean_meta(&format!(
            "{} followers on {}; niche: {}; {}. Notes: {}",
            c.followers,
            c.platform,
            c.niche,
            if c.past_collaboration {
                "worked with us before"
            } else {
                "first contact"
            },
            safe_notes(&c.notes)
        ));
        drafts.push(json!({
            "creator_id": c.id,
            "handle": c.handle,
            "name": c.name,
            "platform": c.platform,
            "message": message,
            "offer": offer,
            "past_collaboration": c.past_collaboration,
            "why": why,
        }));
    }
    let output = json!({"drafts": drafts});

    let creators_block = format!(
        "CREATORS\n{}\nCREATOR OFFER: {}\n",
        creators
            .iter()
            .map(|c| serde_json::to_string(c).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n"),
        ctx.brand.creator_offer
    );
    let prompt = ctx.prompt(
        "Creator Outreach lead",
        "Draft one direct message per creator below, in the brand's voice: personal to their niche and notes, warmer and shorter \
         for creators we have worked with, naming the brief's products and the creator offer, with one clear ask. No pressure, no invented facts.",
        &products,
        &[creators_block],
    );
    ctx.llm(prompt, &output);
    Ok(ctx.finish(output))
}

fn first_name(c: &Creator) -> String {
    c.name
        .split_whitespace()
        .next()
        .map(str::to_string)
        .unwrap_or_else(|| c.handle.trim_start_matches('@').to_string())
}

fn format_ask(platform: &str) -> &'static str {
    match platform.to_lowercase().as_str() {
        "tiktok" => "a TikTok",
        "youtube" => "a segment in one of your videos",
        "pinterest" => "a few Pins",
        _ => "a post or a Reel",
    }
}

/// What drafting reads of a product, once for every creator (the
/// limitation and sentences when first asked for).
struct Read<'p> {
    product: &'p Product,
    name_words: Vec<String>,
    limitation: OnceCell<Option<String>>,
    sentences: OnceCell<facts::Sentences>,
}

impl<'p> Read<'p> {
    fn of(product: &'p Product) -> Read<'p> {
        Read {
            product,
            name_words: significant(&product.name),
            limitation: OnceCell::new(),
            sentences: OnceCell::new(),
        }
    }

    fn limitation(&self) -> Option<&str> {
        self.limitation
            .get_or_init(|| facts::limitation(self.product))
            .as_deref()
    }

    fn sentences(&self) -> &facts::Sentences {
        self.sentences.get_or_init(|| facts::Sentences::of(self.product))
    }
}

/// The products `text` talks about first (by the words that tell the
/// products apart), the rest after, in brief order.
fn order_by_mentions<'r, 'p>(products: &'r [Read<'p>], text: &str) -> Vec<&'r Read<'p>> {
    let text_words = significant(text);
    let common: Vec<&String> = products
        .first()
        .map(|first| {
            first
                .name_words
                .iter()
                .filter(|w| products.iter().all(|n| n.name_words.contains(w)))
                .collect()
        })
        .unwrap_or_default();
    let mut scored: Vec<(usize, &Read<'p>)> = products
        .iter()
        .map(|p| {
            let distinct = p.name_words.iter().filter(|w| !common.contains(w));
            (distinct.filter(|w| text_words.contains(w)).count(), p)
        })
        .collect();
    scored.sort_by_key(|(score, _)| std::cmp::Reverse(*score));
    scored.into_iter().map(|(_, p)| p).collect()
}

/// A line about a past collaboration, from the first clause of the notes
/// ("Featured Night Owl in March 2026; 41 orders…" → "It was a pleasure
/// working together when you featured Night Owl in March 2026.").
fn past_reference(notes: &str) -> Option<String> {
    let clause = notes.split(['.', ';']).next()?.trim();
    let clause = clause.split(" and ").next()?.split(", ").next()?.trim();
    let mut words = clause.split_whitespace();
    let verb = words.next()?.to_lowercase();
    let rest: Vec<String> = words
        .map(|w| match w {
            "herself" | "himself" | "themselves" => "yourself".to_string(),
            "her" | "his" | "their" => "your".to_string(),
            "she" | "he" | "they" => "you".to_string(),
            other => other.to_string(),
        })
        .collect();
    let rest = rest.join(" ");
    if rest.is_empty() || rest.chars().count() > 90 {
        return None;
    }
    match verb.as_str() {
        "gifted" | "sent" => Some(format!(
            "Thank you for everything you've shared since we sent you {rest}."
        )),
        "bought" | "ordered" => Some(format!(
            "We haven't forgotten that you {verb} {rest} before we ever reached out."
        )),
        "featured" | "pinned" | "built" | "wore" | "posted" | "reviewed" | "shot" | "filmed" | "styled"
        | "made" | "created" | "tested" => Some(format!(
            "It was a pleasure working together when you {verb} {rest}."
        )),
        _ => None,
    }
}

fn draft(ctx: &mut Ctx<'_>, c: &Creator, products: &[Read<'_>], proven: &[String], offer: &str) -> String {
    let brand = ctx.brand.brand_name.clone();
    let name = first_name(c);
    let niche = c.niche.trim().trim_end_matches('.').to_string();
    let audience = lower_first(
        c.audience
            .split([',', ';'])
            .next()
            .unwrap_or("")
            .trim()
            .trim_end_matches('.'),
    );
    let ordered = order_by_mentions(products, &c.notes);
    let names: Vec<String> = ordered
        .iter()
        .take(3)
        .map(|p| format!("the {}", p.product.name))
        .collect();
    let theme = match ctx.themes.season {
        Some(s) => format!(" for {s}"),
        None => String::new(),
    };
    let mut words = ctx.brief_words().to_vec();
    words.extend(significant(&c.notes));
    words.extend(significant(&c.niche));
    let limitation = ordered
        .iter()
        .find_map(|r| r.limitation().map(|l| (r.product, l)));
    let detail = ordered
        .first()
        .map(|r| {
            let p = r.product;
            let own = ctx.rules.proven_claims(&[p]);
            let sentence = r.sentences().best(&words);
            let same_as_limit = limitation
                .as_ref()
                .is_some_and(|(_, l)| l.trim() == sentence.trim());
            if sentence.is_empty() || same_as_limit {
                String::new()
            } else {
                ctx.rules
                    .clean(&format!("{}: {}", p.name, lower_first(&sentence)), &own)
            }
        })
        .filter(|d| !d.is_empty())
        .map(|d| format!(" {d}"))
        .unwrap_or_default();

    let hi = ctx.rng.pick(&["Hi", "Hello"]).copied().unwrap_or("Hi");
    let opener = if c.past_collaboration {
        let thanks = past_reference(&c.notes)
            .unwrap_or_else(|| "Working with you last time was a highlight for us.".to_string());
        format!("{hi} {name}, it's the {brand} team again. {thanks}")
    } else {
        let options = [
            format!(
                "{hi} {name}, I'm writing from {brand}. We've been following your posts on {}, and they feel close to how we see things.",
                lower_first(&niche)
            ),
            format!(
                "{hi} {name}, this is the {brand} team. Your {} content is the kind our customers save and come back to.",
                lower_first(&niche)
            ),
        ];
        ctx.rng.pick(&options).cloned().unwrap_or_default()
    };
    let suit = if names.len() == 1 {
        "it would"
    } else {
        "they would"
    };
    let mut products_line = if c.past_collaboration {
        format!("We have something new{theme}: {}.{detail}", join_list(&names))
    } else {
        format!(
            "We're introducing {}{theme}, and we think {suit} suit your audience ({audience}).{detail}",
            join_list(&names)
        )
    };

    // Honesty first: what a product is not for, and claims the notes say
    // this creator asked about.
    let mut honest: Vec<String> = Vec::new();
    if let Some((p, lim)) = &limitation {
        honest.push(format!(
            "One thing to know up front about the {}: {}",
            p.name,
            lower_first(lim)
        ));
    }
    let notes_lower = c.notes.to_lowercase();
    for claim in ctx.rules.claims_requiring_proof() {
        if !crate::text::contains_phrase(&notes_lower, claim) {
            continue;
        }
        let backing: Vec<String> = ordered
            .iter()
            .map(|r| r.product)
            .filter(|p| product_proves(p, claim))
            .map(|p| match proof_text(p, claim) {
                Some(ev) => format!("the {} ({ev})", p.name),
                None => format!("the {}", p.name),
            })
            .collect();
        if backing.is_empty() {
            honest.push("On the question you asked us before: we can't back that claim for these pieces yet, so we won't make it.".into());
        } else {
            honest.push(format!(
                "On {claim}: only {} has the evidence for it, so please keep it to that.",
                join_list(&backing)
            ));
        }
        break;
    }
    if notes_lower.contains("lead time") {
        honest.push("There's no rush: we'll plan around your lead time.".into());
    }

    let offer_line = if offer.is_empty() {
        String::new()
    } else {
        format!("What we can offer: {}", ensure_period(offer))
    };
    let ask = if c.past_collaboration {
        format!(
            "Would you be up for {} again, in your own words as before?",
            format_ask(&c.platform)
        )
    } else {
        format!(
            "Would you be open to {}? No script: we'd love to see it the way you'd show it.",
            format_ask(&c.platform)
        )
    };
    let sign = ctx
        .sample_phrase(proven, 80)
        .map(|p| ensure_period(&p))
        .unwrap_or_default();
    let emoji = match ctx.rules.emoji_policy {
        EmojiPolicy::None => String::new(),
        EmojiPolicy::Sparing => brand_emoji(ctx.brand, &mut ctx.rng)
            .first()
            .map(|e| format!(" {e}"))
            .unwrap_or_default(),
        EmojiPolicy::Expressive => {
            let e = brand_emoji(ctx.brand, &mut ctx.rng);
            format!(" {}", e.iter().take(2).copied().collect::<Vec<_>>().join(""))
        }
    };
    // Must-haves first; the rest goes, last first, until the DM fits.
    let sign_off = format!("Warmly, the {brand} team{emoji}");
    let mut optional: Vec<(usize, String)> = Vec::new();
    if !sign.is_empty() {
        optional.push((5, sign.trim().to_string()));
    }
    let mut text;
    loop {
        let mut parts = vec![opener.clone(), products_line.clone()];
        if !honest.is_empty() {
            parts.push(honest.join(" "));
        }
        if !offer_line.is_empty() {
            parts.push(offer_line.clone());
        }
        parts.push(ask.clone());
        let closing = optional
            .iter()
            .map(|(_, s)| s.as_str())
            .chain(std::iter::once(sign_off.as_str()))
            .collect::<Vec<_>>()
            .join(" ");
        parts.push(closing);
        text = ctx.rules.clean(&parts.join("\n\n"), proven);
        if crate::text::char_len(&text) <= DM_MAX_CHARS {
            break;
        }
        if optional.pop().is_some() {
            continue;
        }
        if honest.len() > 1 {
            honest.pop();
            continue;
        }
        if !products_line.is_empty() && !detail.is_empty() && products_line.ends_with(detail.as_str()) {
            products_line = products_line.trim_end_matches(detail.as_str()).to_string();
            continue;
        }
        break;
    }
    fit_sentences(&text, DM_MAX_CHARS)
}

/// The creator's notes without any sentence addressed to an AI system.
fn safe_notes(notes: &str) -> String {
    crate::text::sentence_segments(notes)
        .into_iter()
        .filter(|s| !crate::triage::is_prompt_injection(s))
        .collect::<String>()
        .trim()
        .to_string()
}

fn ensure_period(s: &str) -> String {
    let s = s.trim();
    if s.ends_with(['.', '!', '?']) {
        s.to_string()
    } else {
        format!("{s}.")
    }
}
