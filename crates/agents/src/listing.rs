//! Listing Optimizer: three listing options per product, each from a
//! different angle, within the shop's field limits.

use serde_json::{Value, json};

use crate::facts::{self, category_noun};
use crate::offline::{Ctx, proof_text};
use crate::rules::product_proves;
use crate::text::{char_len, fit_paragraphs, fit_words, sentence_segments, title_case};
use crate::types::{AgentError, AgentInput, AgentOutput, Product, ShopListing};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Angle {
    Craft,
    Everyday,
    Gift,
    Search,
    Story,
    Care,
    Season,
}

impl Angle {
    pub fn label(self) -> &'static str {
        match self {
            Angle::Craft => "Material & craft",
            Angle::Everyday => "Everyday use",
            Angle::Gift => "Gift-ready",
            Angle::Search => "Search-first",
            Angle::Story => "Brand story",
            Angle::Care => "Made to keep",
            Angle::Season => "Seasonal",
        }
    }
}

/// The most bullets an option carries, whatever the shop's limit says.
pub const MAX_BULLETS: usize = 50;

pub fn run(input: &AgentInput<'_>) -> Result<AgentOutput, AgentError> {
    let mut ctx = Ctx::new(input);
    let products = ctx.brief.products(ctx.ws)?;
    let themes = ctx.themes;
    let limits = ctx.brand.shop.clone();

    let mut variants = Vec::new();
    let mut notes_held_back: Vec<String> = Vec::new();
    let mut notes_current: Vec<String> = Vec::new();
    for p in &products {
        let mut pool = vec![
            Angle::Craft,
            Angle::Everyday,
            Angle::Search,
            Angle::Story,
            Angle::Care,
        ];
        if !themes.gift {
            pool.push(Angle::Gift);
        }
        ctx.rng.shuffle(&mut pool);
        let mut angles = Vec::new();
        if themes.gift {
            angles.push(Angle::Gift);
        }
        if themes.season.is_some() {
            angles.push(Angle::Season);
        }
        angles.extend(pool);
        angles.truncate(3);

        let proven = ctx.rules.proven_claims(&[p]);
        let mut bullets = Bullets::of(&ctx, p, &proven);
        let options: Vec<Value> = angles
            .iter()
            .map(|&a| listing_option(&mut ctx, p, a, &proven, &mut bullets))
            .collect();
        variants.push(json!({"product_id": p.id, "product_name": p.name, "options": options}));

        let unproven: Vec<&String> = ctx
            .rules
            .claims_requiring_proof()
            .iter()
            .filter(|c| !product_proves(p, c))
            .collect();
        let mentioned: Vec<String> = unproven
            .iter()
            .filter(|c| {
                let t = format!("{} {} {:?}", p.description, p.name, p.attributes);
                crate::text::contains_phrase(&t, c)
            })
            .map(|c| format!("\"{c}\""))
            .collect();
        if !mentioned.is_empty() {
            notes_held_back.push(format!("{} ({}: no proof on file)", p.name, mentioned.join(", ")));
        }
        if let Some(current) = ctx.ws.shop.listings.iter().find(|l| l.product_id == p.id) {
            let len = char_len(&current.title);
            if len > limits.title_max_chars {
                notes_current.push(format!(
                    "the live title of {} is {} characters, over the {}-character limit",
                    p.name, len, limits.title_max_chars
                ));
            }
            if current.bullets.len() < limits.bullets_per_listing {
                notes_current.push(format!(
                    "{} has {} of {} bullets live",
                    p.name,
                    current.bullets.len(),
                    limits.bullets_per_listing
                ));
            }
        }
    }

    let mut notes = format!(
        "Three options per product, each from a different angle, written {} for {} on {}. Limits applied: titles up to {} characters, {} bullets of up to {} characters, descriptions up to {} characters.",
        ctx.tone_words(),
        ctx.brand.brand_name,
        limits.platform,
        limits.title_max_chars,
        limits.bullets_per_listing,
        limits.bullet_max_chars,
        limits.description_max_chars
    );
    if let Some(goal) = ctx.brief.goal() {
        notes.push_str(&format!(" Brief goal: {}.", goal.trim_end_matches('.')));
    }
    if !notes_held_back.is_empty() {
        notes.push_str(&format!(" Claims held back: {}.", notes_held_back.join("; ")));
    }
    if !notes_current.is_empty() {
        notes.push_str(&format!(" Why change: {}.", notes_current.join("; ")));
    }
    let notes = ctx.rules.clean_meta(&notes);
    let output = json!({"variants": variants, "notes": notes});

    let prompt = ctx.prompt(
        "Listing Optimizer",
        &format!(
            "Write three listing options for each product, each from a different angle (material, use, gifting, search, story, care, season). \
             Each option: a title of at most {} characters, exactly {} bullets of at most {} characters, a description of at most {} characters. \
             Use only facts from the product data; make a claim that needs proof only where the product's proof backs it.",
            limits.title_max_chars, limits.bullets_per_listing, limits.bullet_max_chars, limits.description_max_chars
        ),
        &products,
        &[current_listings_block(&ctx, &products)],
    );
    ctx.llm(prompt, &output);
    Ok(ctx.finish(output))
}

fn current_listings_block(ctx: &Ctx<'_>, products: &[&Product]) -> String {
    let mut s = String::from("CURRENT LISTINGS\n");
    for p in products {
        match ctx.ws.shop.listings.iter().find(|l| l.product_id == p.id) {
            Some(l) => s.push_str(&format!(
                "{}\n",
                json!({"product_id": l.product_id, "title": l.title, "bullets": l.bullets, "photos": l.photos, "tags": l.tags})
            )),
            None => s.push_str(&format!("{}: not listed yet\n", p.id)),
        }
    }
    s
}

fn listing_option(
    ctx: &mut Ctx<'_>,
    p: &Product,
    angle: Angle,
    proven: &[String],
    bullets: &mut Bullets,
) -> Value {
    let limits = &ctx.brand.shop;
    let title = build_title(ctx, p, angle, proven, limits.title_max_chars);
    // Shops show a handful of bullets; a limit past fifty is a data error.
    let n = limits.bullets_per_listing.min(MAX_BULLETS);
    let bullets = build_bullets(ctx, p, angle, proven, n, limits.bullet_max_chars, bullets);
    let description = build_description(ctx, p, angle, proven, limits.description_max_chars);
    json!({"angle": angle.label(), "title": title, "bullets": bullets, "description": description})
}

/// A title for `p` from `angle`, within `max` characters: the product name,
/// then as many of the angle's qualifiers as fit.
pub fn build_title(ctx: &mut Ctx<'_>, p: &Product, angle: Angle, proven: &[String], max: usize) -> String {
    let material = facts::material(p).map(|m| title_case(&short_phrase(&m)));
    let noun = title_case(&category_noun(p));
    let mut keywords: Vec<String> = p
        .keywords
        .iter()
        .map(|k| title_case(k.trim()))
        .filter(|k| !k.is_empty())
        .collect();
    ctx.rng.shuffle(&mut keywords);
    let claim = proven.first().map(|c| title_case(c));
    let themes = ctx.themes;
    let mut q: Vec<String> = Vec::new();
    match angle {
        Angle::Craft => {
            q.extend(material.clone());
            q.extend(claim);
            let n = p
                .attributes
                .iter()
                .find(|(k, _)| ["colors", "colours", "color", "colour"].contains(&k.to_lowercase().as_str()))
                .and_then(|(_, v)| v.as_array().map(Vec::len))
                .unwrap_or(0);
            if n > 1 {
                q.push(format!("{n} {}", ctx.colour_word()));
            }
        }
        Angle::Everyday => {
            q.extend(keywords.first().cloned());
            q.push(format!("Everyday {noun}"));
            q.extend(material.clone());
        }
        Angle::Gift => {
            q.push(format!("Gift-Ready {noun}"));
            q.extend(material.clone());
            q.extend(keywords.first().cloned());
        }
        Angle::Search => {
            q.extend(keywords.iter().take(3).cloned());
            q.extend(material.clone());
        }
        Angle::Story => {
            q.push(format!("by {}", ctx.brand.brand_name));
            q.extend(material.clone());
            q.extend(keywords.first().cloned());
        }
        Angle::Care => {
            q.extend(material.clone());
            if let Some(c) = facts::care(p) {
                q.push(title_case(&short_phrase(&c)));
            }
            q.extend(keywords.first().cloned());
        }
        Angle::Season => {
            let season = match themes.season {
                Some("the holidays") => "Holiday".to_string(),
                Some(s) => title_case(s),
                None => "Seasonal".to_string(),
            };
            q.push(format!("{season} {noun}"));
            q.extend(material.clone());
            q.extend(keywords.first().cloned());
        }
    }
    let name = ctx.rules.clean_plain(&p.name, proven);
    let mut title = fit_words(&name, max);
    let mut first = true;
    for part in q {
        let cleaned = ctx.rules.clean_plain(&part, proven);
        let part = if cleaned.starts_with("by ") {
            cleaned
        } else {
            title_case(&cleaned)
        };
        if part.is_empty() || title.to_lowercase().contains(&part.to_lowercase()) {
            continue;
        }
        let sep = if first { " – " } else { " | " };
        let candidate = format!("{title}{sep}{part}");
        if char_len(&candidate) <= max {
            title = candidate;
            first = false;
        }
    }
    title
}

/// The first clause of an attribute text, kept short for titles.
fn short_phrase(s: &str) -> String {
    let head = s.split([',', ';', '(']).next().unwrap_or(s).trim();
    fit_words(head, 32)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Material,
    Colors,
    Sizes,
    Care,
    Proof,
    Attr,
    Lead,
    Detail,
    Reviews,
    Returns,
    Shipping,
    Season,
    Brand,
}

fn bullet_pool(ctx: &Ctx<'_>, p: &Product, proven: &[String]) -> Vec<(Kind, String)> {
    let mut pool: Vec<(Kind, String)> = Vec::new();
    if let Some(m) = facts::material(p) {
        pool.push((Kind::Material, format!("Material: {m}")));
    }
    if let Some(c) = facts::colors(p) {
        pool.push((Kind::Colors, format!("{}: {c}", ctx.colour_word())));
    }
    if let Some(s) = facts::sizes(p) {
        pool.push((Kind::Sizes, format!("Sizes: {s}")));
    }
    if let Some(c) = facts::care(p) {
        pool.push((Kind::Care, format!("Care: {c}")));
    }
    for claim in proven {
        if let Some(ev) = proof_text(p, claim) {
            pool.push((Kind::Proof, format!("{}: {ev}", title_case(claim))));
        }
    }
    for (k, v) in facts::other_attributes(p) {
        pool.push((Kind::Attr, format!("{k}: {v}")));
    }
    let sentences: Vec<String> = sentence_segments(&p.description)
        .iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    for (i, s) in sentences.into_iter().enumerate() {
        pool.push((if i == 0 { Kind::Lead } else { Kind::Detail }, s));
    }
    if let Some((avg, count)) = facts::reviews(&ctx.ws.shop) {
        pool.push((
            Kind::Reviews,
            format!(
                "Rated {avg:.1} out of 5 across {count} {} reviews",
                ctx.brand.brand_name
            ),
        ));
    }
    if let Some(r) = facts::policy(&ctx.ws.shop, "returns") {
        pool.push((Kind::Returns, format!("Returns: {r}")));
    }
    if let Some(s) = facts::policy(&ctx.ws.shop, "shipping") {
        pool.push((Kind::Shipping, format!("Shipping: {s}")));
    }
    if let Some(season) = ctx.themes.season {
        pool.push((
            Kind::Season,
            format!(
                "Part of the {} {} collection",
                ctx.brand.brand_name,
                if season == "the holidays" {
                    "holiday"
                } else {
                    season
                }
            ),
        ));
    }
    pool.push((
        Kind::Brand,
        format!("From {}: {}", ctx.brand.brand_name, ctx.brand.tagline),
    ));
    pool
}

/// A product's bullet pool and the cleaned texts of it, for all its options.
struct Bullets {
    pool: Vec<(Kind, String)>,
    /// Each text cleaned for the product's proven claims, once.
    cleaned: HashMap<String, String>,
}

impl Bullets {
    fn of(ctx: &Ctx<'_>, p: &Product, proven: &[String]) -> Bullets {
        Bullets {
            pool: bullet_pool(ctx, p, proven),
            cleaned: HashMap::new(),
        }
    }
}

fn build_bullets(
    ctx: &mut Ctx<'_>,
    p: &Product,
    angle: Angle,
    proven: &[String],
    n: usize,
    max: usize,
    bullets: &mut Bullets,
) -> Vec<String> {
    use Kind::*;
    let order: &[Kind] = match angle {
        Angle::Craft => &[Material, Proof, Detail, Colors, Sizes, Care, Attr, Lead, Reviews],
        Angle::Everyday => &[Lead, Sizes, Colors, Care, Material, Attr, Reviews, Shipping],
        Angle::Gift => &[Lead, Colors, Returns, Shipping, Material, Sizes, Proof, Reviews],
        Angle::Search => &[Material, Sizes, Colors, Attr, Proof, Lead, Care, Shipping],
        Angle::Story => &[Brand, Lead, Material, Proof, Reviews, Colors, Sizes],
        Angle::Care => &[Care, Material, Proof, Detail, Sizes, Returns, Colors],
        Angle::Season => &[Season, Lead, Colors, Material, Sizes, Shipping, Proof],
    };
    let Bullets { pool, cleaned } = bullets;
    let mut ordered: Vec<&String> = Vec::new();
    for k in order {
        ordered.extend(pool.iter().filter(|(kind, _)| kind == k).map(|(_, t)| t));
    }
    for (_, t) in pool.iter() {
        if !ordered.contains(&t) {
            ordered.push(t);
        }
    }
    let mut out: Vec<String> = Vec::new();
    for t in ordered {
        if out.len() == n {
            break;
        }
        if !cleaned.contains_key(t.as_str()) {
            cleaned.insert(t.clone(), ctx.rules.clean_plain(t, proven));
        }
        let fitted = fit_words(cleaned.get(t.as_str()).map_or("", String::as_str), max);
        if char_len(&fitted) >= 8.min(max) && !out.iter().any(|o| o.eq_ignore_ascii_case(&fitted)) {
            out.push(fitted);
        }
    }
    // Data this thin is rare; fill from plain facts, still true.
    let mut fallbacks = vec![
        format!("{} by {}", p.name, ctx.brand.brand_name),
        format!("Category: {}", p.category),
        format!("Price: ${:.2}", p.price_usd),
    ];
    if !p.keywords.is_empty() {
        fallbacks.push(format!("Search terms: {}", p.keywords.join(", ")));
    }
    fallbacks.push(format!("Sold by {}", ctx.ws.shop.shop_name));
    let mut i = 0;
    while out.len() < n {
        let base = fallbacks.get(i % fallbacks.len()).cloned().unwrap_or_default();
        let t = if i < fallbacks.len() {
            base
        } else {
            format!("{base} ({})", i / fallbacks.len() + 1)
        };
        let cleaned = fit_words(&ctx.rules.clean_plain(&t, proven), max);
        if !out.contains(&cleaned) || i > 4 * n + 10 {
            out.push(cleaned);
        }
        i += 1;
    }
    out
}

fn build_description(ctx: &mut Ctx<'_>, p: &Product, angle: Angle, proven: &[String], max: usize) -> String {
    let name = p.name.clone();
    let noun = category_noun(p);
    let brand = ctx.brand.brand_name.clone();
    let material = facts::material(p);
    let themes = ctx.themes;
    let opening = match angle {
        Angle::Craft => match &material {
            Some(m) => format!("The {name} starts with the material: {m}."),
            None => format!("The {name} is made with care by {brand}."),
        },
        Angle::Everyday => format!("Meet the {name}: the {noun} you will reach for every day."),
        Angle::Gift => format!("A gift that gets used: the {name}."),
        Angle::Search => match p.keywords.first() {
            Some(k) => {
                let k = k.trim().to_lowercase();
                let article = if k.ends_with('s') && !k.ends_with("ss") {
                    ""
                } else {
                    "a "
                };
                format!("Looking for {article}{k}? This is ours: the {name}.")
            }
            None => format!("The {name}, from {brand}."),
        },
        Angle::Story => format!(
            "{brand}: {}. The {name} is where that shows.",
            ctx.brand.tagline.trim_end_matches('.')
        ),
        Angle::Care => format!("The {name} is made to be used, cared for and used again."),
        Angle::Season => match themes.season {
            Some(season) => format!("For {season}, the {name}."),
            None => format!("This season, the {name}."),
        },
    };
    let mut details: Vec<String> = Vec::new();
    if let Some(m) = &material
        && angle != Angle::Craft
    {
        details.push(format!("Material: {m}."));
    }
    if let Some(c) = facts::colors(p) {
        details.push(format!("{}: {c}.", ctx.colour_word()));
    }
    if let Some(s) = facts::sizes(p) {
        details.push(format!("Sizes: {s}."));
    }
    for (k, v) in facts::other_attributes(p).into_iter().take(3) {
        details.push(format!("{k}: {v}."));
    }
    let proof: Vec<String> = proven
        .iter()
        .filter_map(|c| proof_text(p, c).map(|ev| format!("{}: {ev}.", title_case(c))))
        .collect();
    let care = facts::care(p).map(|c| format!("Care: {c}."));
    let returns = facts::policy(&ctx.ws.shop, "returns").map(|r| format!("Returns: {r}"));
    let shipping = facts::policy(&ctx.ws.shop, "shipping").map(|s| format!("Shipping: {s}"));
    let phrase = ctx.sample_phrase(proven, 160);

    let mut paras: Vec<String> = vec![opening, p.description.clone()];
    let detail_para = details.join(" ");
    match angle {
        Angle::Craft | Angle::Care => {
            if !proof.is_empty() {
                paras.push(proof.join(" "));
            }
            paras.extend(care);
            paras.push(detail_para);
        }
        Angle::Gift => {
            paras.push(detail_para);
            paras.extend(returns);
            paras.extend(shipping);
        }
        Angle::Search => {
            paras.push(detail_para);
            if !proof.is_empty() {
                paras.push(proof.join(" "));
            }
            paras.extend(care);
        }
        Angle::Story => {
            paras.push(ctx.brand.description.clone());
            paras.push(detail_para);
        }
        Angle::Everyday | Angle::Season => {
            paras.push(detail_para);
            paras.extend(care);
            paras.extend(shipping);
        }
    }
    if let Some(ph) = phrase {
        paras.push(ph);
    }
    let cleaned: Vec<String> = paras
        .iter()
        .map(|t| ctx.rules.clean_plain(t, proven))
        .filter(|t| !t.trim().is_empty())
        .collect();
    fit_paragraphs(&cleaned, max)
}

/// A title the Profile Auditor can suggest for a live listing.
pub fn suggested_title(ctx: &mut Ctx<'_>, p: &Product, max: usize) -> String {
    let proven = ctx.rules.proven_claims(&[p]);
    build_title(ctx, p, Angle::Search, &proven, max)
}

/// Whether a live listing's text makes a claim its product cannot prove.
pub fn listing_unproven_claims(ctx: &Ctx<'_>, p: Option<&Product>, l: &ShopListing) -> Vec<String> {
    let proven = match p {
        Some(p) => ctx.rules.proven_claims(&[p]),
        None => Vec::new(),
    };
    let text = format!("{}\n{}\n{}", l.title, l.bullets.join("\n"), l.description);
    ctx.rules.unproven_claims_in(&text, &proven)
}
