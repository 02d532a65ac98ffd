//! Content Producer: a social post brief, its caption and hashtags, and the
//! post image rendered by the Studio.

use serde_json::{Value, json};

use crate::facts::{self, category_noun};
use crate::offline::{Ctx, brand_emoji};
use crate::render::{Card, Palette, render_card};
use crate::rules::{PLATFORM_MAX_HASHTAGS, emoji_budget, has_discount_language};
use crate::text::{char_len, fit_words, lower_first, slug, title_case};
use crate::types::{AgentError, AgentInput, AgentOutput, EmojiPolicy, Product};

pub fn run(input: &AgentInput<'_>) -> Result<AgentOutput, AgentError> {
    let mut ctx = Ctx::new(input);
    let products = ctx.brief.products(ctx.ws)?;
    let featured: Vec<&Product> = products.iter().take(3).copied().collect();
    let Some(&lead) = featured.first() else {
        return Err(AgentError::MissingBriefField("products"));
    };
    let proven_all = ctx.rules.proven_claims(&featured);
    let lead_proven = ctx.rules.proven_claims(&[lead]);
    let platform = pick_platform(&ctx);

    let hook = make_hook(&mut ctx, lead, &lead_proven);
    let caption = make_caption(&mut ctx, &hook, &featured, &platform);
    let hashtags = pick_hashtags(&mut ctx, &featured, &proven_all);

    let palette = Palette::from_colors(&ctx.brand.colors);
    let (width, height, format) = match platform.as_str() {
        "pinterest" => (1000, 1500, "pin image, 1000×1500"),
        "tiktok" | "youtube" => (1080, 1920, "vertical cover frame, 1080×1920"),
        "facebook" => (1200, 1200, "single image, 1200×1200"),
        _ => (1080, 1080, "single image, 1080×1080"),
    };
    let direction = ctx.brief.notes().map(visual_direction).unwrap_or_default();
    let color = facts::colors(lead).map(|c| c.split([',', ';']).next().unwrap_or("").trim().to_lowercase());
    let visual = format!(
        "{} for {platform}: the {}{} in soft natural light, set against the brand's {} backdrop with a {} accent bar; \
         {} wordmark top left, the hook set large in the brand serif, the tagline in the bottom panel.{direction}",
        crate::text::capitalise(format),
        lead.name,
        color
            .filter(|c| !c.is_empty())
            .map(|c| format!(" in {c}"))
            .unwrap_or_default(),
        palette.primary,
        palette.accent,
        ctx.brand.brand_name
    );
    let visual = ctx.rules.clean_plain(&visual, &lead_proven);

    let asset_name = format!("post-{}-{}.svg", slug(&lead.id), ctx.seed_hex);
    let asset_url = ctx.asset_url(&asset_name);
    let product_refs: Vec<Value> = featured
        .iter()
        .map(|p| json!({"product_id": p.id, "name": p.name}))
        .collect();
    let mut post_brief = json!({
        "platform": platform,
        "hook": hook,
        "visual": visual,
        "products": product_refs,
        "format": format,
    });
    if let Some(goal) = ctx.brief.goal()
        && let Some(o) = post_brief.as_object_mut()
    {
        o.insert("goal".into(), Value::String(ctx.rules.clean_meta(goal)));
    }
    let output = json!({
        "post_brief": post_brief,
        "post_caption": {"text": caption, "hashtags": hashtags},
        "asset_url": asset_url,
    });

    let hashtag_block = format!(
        "HASHTAGS\nsignature (always first): {}\npool: {}\nat most {} per post\n",
        ctx.brand.hashtags.signature.join(" "),
        ctx.brand.hashtags.pool.join(" "),
        ctx.brand.hashtags.max_per_post
    );
    let prompt = ctx.prompt(
        "Content Producer",
        &format!(
            "Plan one {platform} post for the brief: a hook, a visual brief for the Studio, a caption in the brand's voice \
             and hashtags (signature tags first, then from the pool). The caption goes to Compliance before it is published."
        ),
        &products,
        &[hashtag_block],
    );
    ctx.llm(prompt, &output);

    let footer = ctx.rules.clean_plain(&ctx.brand.tagline, &proven_all);
    let svg = render_card(&Card {
        width,
        height,
        palette: &palette,
        brand: &ctx.brand.brand_name,
        eyebrow: &lead.name,
        headline: &hook,
        footer: &footer,
        label: &format!("{} post", title_case(&platform)),
    });
    let studio_brief = format!(
        "Render a {width}×{height} {platform} post for {}: eyebrow \"{}\", headline \"{}\", footer \"{}\"; background {}, panel {}, accent {}. {}",
        ctx.brand.brand_name,
        lead.name,
        hook,
        footer,
        palette.primary,
        palette.secondary,
        palette.accent,
        visual
    );
    ctx.studio(studio_brief, asset_name, svg);
    Ok(ctx.finish(output))
}

fn pick_platform(ctx: &Ctx<'_>) -> String {
    let (preferred, excluded) = ctx.brief.placement_preferences(&ctx.brand.ad_placements);
    if let Some(p) = preferred.first() {
        return platform_of(p);
    }
    if let Some(post) = ctx.ws.posts.first()
        && !post.platform.trim().is_empty()
        && !excluded
            .iter()
            .any(|e| platform_of(e) == post.platform.trim().to_lowercase())
    {
        return post.platform.trim().to_lowercase();
    }
    for p in &ctx.brand.ad_placements {
        if !excluded.contains(p) {
            return platform_of(p);
        }
    }
    "instagram".to_string()
}

/// `instagram_feed` → `instagram`, `tiktok_feed` → `tiktok`.
fn platform_of(placement: &str) -> String {
    placement
        .split(['_', '-', ' '])
        .next()
        .unwrap_or("instagram")
        .to_lowercase()
}

fn make_hook(ctx: &mut Ctx<'_>, p: &Product, proven: &[String]) -> String {
    let themes = ctx.themes;
    let name = &p.name;
    let brand = &ctx.brand.brand_name;
    let mut options: Vec<String> = vec![
        format!("Meet the {name}."),
        format!("For the ones who notice the details: the {name}."),
        format!("The {} we kept reaching for: the {name}.", category_noun(p)),
    ];
    if themes.launch {
        options.push(format!("New from {brand}: the {name}."));
        options.push(format!("Just in: the {name}."));
    }
    if let Some(season) = themes.season {
        let cap = title_case(season);
        options.push(format!("{cap}, meet the {name}."));
        options.push(format!("Our answer to {season}: the {name}."));
    }
    if themes.gift {
        options.push(format!("The gift they will actually use: the {name}."));
    }
    if let Some(c) = facts::colors(p) {
        let first = c
            .split([',', ';'])
            .next()
            .unwrap_or("")
            .split(" and ")
            .next()
            .unwrap_or("")
            .trim()
            .to_lowercase();
        if !first.is_empty() {
            options.push(format!("The {name}, in {first}."));
        }
    }
    if let Some(m) = facts::material(p) {
        let m = m
            .split([',', ';', '('])
            .next()
            .unwrap_or("")
            .trim()
            .to_lowercase();
        if !m.is_empty() && char_len(&m) <= 40 {
            options.push(format!("This is what {m} should feel like."));
        }
    }
    if let Some(ph) = ctx.sample_phrase(proven, 90) {
        options.push(ph);
    }
    let mut hook = ctx
        .rng
        .pick(&options)
        .cloned()
        .unwrap_or_else(|| format!("Meet the {name}."));
    if ctx.voice_is_lively() && hook.ends_with('.') {
        hook.pop();
        hook.push('!');
    }
    let cleaned = ctx.rules.clean_plain(&hook, proven);
    let cleaned = if cleaned.trim().is_empty() {
        format!("Meet the {name}.")
    } else {
        cleaned
    };
    fit_words(&ctx.rules.clean_plain(&cleaned, proven), 140)
}

fn make_caption(ctx: &mut Ctx<'_>, hook: &str, featured: &[&Product], platform: &str) -> String {
    let themes = ctx.themes;
    let mut emoji = brand_emoji(ctx.brand, &mut ctx.rng).into_iter();
    let budget = match ctx.rules.emoji_policy {
        EmojiPolicy::None => 0,
        EmojiPolicy::Sparing => 1,
        EmojiPolicy::Expressive => 3.min(emoji_budget(EmojiPolicy::Expressive)),
    };
    let mut used = 0;
    let mut next_emoji = |used: &mut usize| -> String {
        if *used < budget {
            *used += 1;
            emoji.next().map(|e| format!(" {e}")).unwrap_or_default()
        } else {
            String::new()
        }
    };

    let mut paras: Vec<String> = Vec::new();
    let expressive = ctx.rules.emoji_policy == EmojiPolicy::Expressive;
    paras.push(if expressive {
        format!("{hook}{}", next_emoji(&mut used))
    } else {
        hook.to_string()
    });

    // One line per featured product, each cleaned with its own proof.
    let mut lines: Vec<String> = Vec::new();
    let brief_words = ctx.brief.words();
    for p in featured {
        let proven = ctx.rules.proven_claims(&[p]);
        let best = facts::best_sentence(p, &brief_words);
        let detail = match (facts::material(p), best) {
            (_, best) if !best.is_empty() && ctx.rng.chance(2, 3) => best,
            (Some(m), _) => format!("{}: {}.", p.name, m.trim_end_matches('.')),
            (None, best) if !best.is_empty() => best,
            _ => format!("The {} by {}.", p.name, ctx.brand.brand_name),
        };
        let detail = if detail.to_lowercase().contains(&p.name.to_lowercase()) || featured.len() == 1 {
            detail
        } else {
            format!("{}: {}", p.name, lower_first(&detail))
        };
        let line = fit_words(&ctx.rules.clean(&detail, &proven), 220);
        if !line.is_empty() {
            lines.push(line);
        }
    }
    if !lines.is_empty() {
        paras.push(lines.join("\n"));
    }
    // Say what a product is not for before a commenter has to.
    if let Some((p, lim)) = featured.iter().find_map(|p| facts::limitation(p).map(|l| (p, l))) {
        let proven = ctx.rules.proven_claims(&[p]);
        let line = ctx.rules.clean(
            &format!("Good to know about the {}: {}", p.name, lower_first(&lim)),
            &proven,
        );
        if !lines.iter().any(|l| l.contains(lim.trim_end_matches('.'))) {
            paras.push(line);
        }
    }

    let proven_all = ctx.rules.proven_claims(featured);
    let mut middle: Vec<String> = Vec::new();
    if let Some(season) = themes.season {
        let s = match season {
            "the holidays" => "Ready for the holidays, and every slow day after.".to_string(),
            s => format!("Made for {s}, and the seasons after it."),
        };
        middle.push(s);
    }
    if themes.gift {
        middle.push("A good one to give, and a better one to keep.".to_string());
    }
    if let Some(ph) = ctx.sample_phrase(&proven_all, 160)
        && !paras.iter().any(|p| p.contains(&ph))
    {
        middle.push(ph);
    }
    // An offer the brief's notes spell out, where discount language is allowed.
    if ctx.rules.discount_allowed
        && let Some(offer) = ctx.brief.notes().and_then(offer_from_notes)
    {
        middle.push(offer);
    }
    // The first draft sometimes leans on urgency when nothing rules it out;
    // Compliance's voice check takes it out before anything is published.
    let voice_forbids = ctx.brand.voice.donts.iter().any(|d| {
        let d = d.to_lowercase();
        ["urgency", "scarcity", "countdown", "fomo", "pressure"]
            .iter()
            .any(|w| d.contains(w))
    });
    if !voice_forbids && !ctx.brief.forbids_urgency() && ctx.rng.chance(2, 3) {
        let raw = [
            "Don't wait on this one.",
            "Hurry, make it yours.",
            "Act now and make it yours.",
        ];
        if let Some(r) = ctx.rng.pick(&raw) {
            let cleaned = ctx.rules.clean_plain(r, &[]);
            if cleaned == *r {
                middle.push(cleaned);
            }
        }
    }
    if !middle.is_empty() {
        paras.push(middle.join(" "));
    }

    let what = match featured {
        [one] => format!("the {}", one.name),
        [_, _] => "both pieces".to_string(),
        many => format!("all {} pieces", many.len()),
    };
    let cta = match platform {
        "pinterest" => format!("Save this for later, and tap through to see {what}."),
        "tiktok" | "youtube" => format!("Link in bio for {what}."),
        "facebook" => format!("See {what} at {}.", ctx.ws.shop.url),
        _ => {
            let options = [
                format!("Tap the link in bio to see {what}."),
                format!("Link in bio for every detail of {what}."),
            ];
            ctx.rng.pick(&options).cloned().unwrap_or_default()
        }
    };
    let cta = ctx.rules.clean_plain(&cta, &proven_all);
    paras.push(format!("{cta}{}", next_emoji(&mut used)));

    let text = paras.join("\n\n");
    // The caption as a whole: every rule except the voice check, which is
    // Compliance's to apply.
    fit_words(&ctx.rules.clean(&text, &proven_all), 2000)
}

fn pick_hashtags(ctx: &mut Ctx<'_>, featured: &[&Product], proven: &[String]) -> Vec<String> {
    let max = ctx.brand.hashtags.max_per_post.min(PLATFORM_MAX_HASHTAGS);
    let normalise = |t: &str| -> Option<String> {
        let bare: String = t
            .trim()
            .trim_start_matches('#')
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if bare.is_empty() {
            None
        } else {
            Some(format!("#{bare}"))
        }
    };
    let mut out: Vec<String> = Vec::new();
    let push = |out: &mut Vec<String>, tag: String| {
        if out.len() < max && !out.iter().any(|o| o.eq_ignore_ascii_case(&tag)) {
            out.push(tag);
        }
    };
    for t in &ctx.brand.hashtags.signature {
        if let Some(tag) = normalise(t)
            && ctx.rules.hashtag_ok(&tag, proven)
        {
            push(&mut out, tag);
        }
    }
    // Pool tags that name what the products are come first; words of the
    // brand's own name ("linen" for Linen & Loom) say nothing about them.
    let brand_words: Vec<String> = ctx
        .brand
        .brand_name
        .split_whitespace()
        .map(str::to_lowercase)
        .collect();
    let words: Vec<String> = featured
        .iter()
        .flat_map(|p| {
            let mut w: Vec<String> = p
                .keywords
                .iter()
                .flat_map(|k| k.split_whitespace().map(str::to_lowercase))
                .collect();
            w.extend(p.name.split_whitespace().map(str::to_lowercase));
            w.push(category_noun(p));
            w
        })
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_string())
        .filter(|w| char_len(w) >= 4 && !brand_words.contains(w))
        .collect();
    let mut pool: Vec<(usize, String)> = ctx
        .brand
        .hashtags
        .pool
        .iter()
        .filter_map(|t| normalise(t))
        .filter(|t| ctx.rules.hashtag_ok(t, proven))
        .map(|t| {
            let lower = t.to_lowercase();
            let mut hits: Vec<&String> = words.iter().filter(|w| lower.contains(w.as_str())).collect();
            hits.dedup();
            (hits.len(), t)
        })
        .collect();
    ctx.rng.shuffle(&mut pool);
    pool.sort_by_key(|(hits, _)| std::cmp::Reverse(*hits));
    for (_, t) in pool {
        push(&mut out, t);
    }
    out
}

/// The offer a brief's notes spell out ("Discounts are fine: first delivery
/// 20% off with code HARVEST20"), as a caption line.
fn offer_from_notes(notes: &str) -> Option<String> {
    crate::words::clauses(notes).into_iter().find_map(|c| {
        let part = match c.split_once(':') {
            Some((_, after)) if has_discount_language(after) => after.trim().to_string(),
            _ if has_discount_language(&c) && !crate::words::is_negated(&c) => c.trim().to_string(),
            _ => return None,
        };
        let has_code = part.split_whitespace().any(|w| {
            w.len() >= 4
                && w.chars().all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit())
                && w.chars().any(|ch| ch.is_ascii_digit())
        });
        has_code.then(|| {
            let mut chars = part.chars();
            let first: String = chars
                .next()
                .map(|c| c.to_uppercase().collect())
                .unwrap_or_default();
            format!("{first}{}.", chars.as_str().trim_end_matches('.'))
        })
    })
}

/// What the brief's notes say about the picture ("Shoot Sage in daylight…",
/// "Show the three layers going on in order…"), as a sentence to append.
fn visual_direction(notes: &str) -> String {
    let verbs = ["shoot", "show", "film", "lead with", "photograph", "picture"];
    let mut parts: Vec<String> = Vec::new();
    for clause in crate::words::clauses(notes) {
        let l = clause.to_lowercase();
        if verbs.iter().any(|v| l.starts_with(v)) {
            parts.push(clause.clone());
        } else if let Some((_, after)) = clause.split_once(':')
            && [
                "candle", "light", "crumple", "footage", "daylight", "table", "dawn",
            ]
            .iter()
            .any(|w| after.to_lowercase().contains(w))
        {
            parts.push(crate::text::capitalise(after.trim()));
        }
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" Direction from the brief: {}.", parts.join("; "))
    }
}
