//! Ad Campaign Director: splits the brief's daily budget across 2–4
//! campaigns (audience × placement), exactly, in integer cents, and has the
//! Studio render the creative.

use serde_json::{Value, json};

use crate::facts::{self, category_noun};
use crate::offline::Ctx;
use crate::render::{Card, Palette, render_card};
use crate::text::{char_len, fit_words, slug};
use crate::types::{AgentError, AgentInput, AgentOutput, Audience};
use crate::words::{overlap, significant};

/// Longest headline the placements show without cutting it.
pub const HEADLINE_MAX_CHARS: usize = 40;

/// Cents as a JSON number of dollars with at most two decimals.
pub fn usd(cents: i64) -> Value {
    if cents % 100 == 0 {
        json!(cents / 100)
    } else {
        json!(cents as f64 / 100.0)
    }
}

pub fn usd_text(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.abs();
    let dollars = c / 100;
    let rest = c % 100;
    // Thousands separators.
    let digits = dollars.to_string();
    let mut grouped = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    format!("{sign}${grouped}.{rest:02}")
}

/// Splits `total` cents by `weights` (largest remainders), in whole dollars
/// when the total is a whole number of dollars (and large enough), else in
/// cents. The shares always sum to `total` exactly, and every share is
/// positive when `total` allows it.
pub fn split_cents(total: i64, weights: &[u32]) -> Vec<i64> {
    let n = weights.len() as i64;
    if n == 0 || total <= 0 {
        return Vec::new();
    }
    let unit = if total % 100 == 0 && total / 100 >= n * 2 {
        100
    } else {
        1
    };
    let units = total / unit;
    let ws: Vec<i64> = weights.iter().map(|&w| i64::from(w.max(1))).collect();
    let wsum: i64 = ws.iter().sum();
    let mut shares: Vec<i64> = ws.iter().map(|w| units * w / wsum).collect();
    let mut order: Vec<usize> = (0..ws.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(ws.get(i).map_or(0, |w| units * w % wsum)));
    let mut left = units - shares.iter().sum::<i64>();
    for i in order.iter().cycle().take(order.len() * 2) {
        if left <= 0 {
            break;
        }
        if let Some(s) = shares.get_mut(*i) {
            *s += 1;
            left -= 1;
        }
    }
    // Every share at least one unit, taken from the largest.
    if units >= n {
        for i in 0..shares.len() {
            if shares.get(i).is_some_and(|&s| s == 0) {
                let largest = shares.iter().enumerate().max_by_key(|&(_, &s)| s).map(|(j, _)| j);
                if let Some(j) = largest
                    && shares.get(j).is_some_and(|&s| s > 1)
                {
                    if let Some(s) = shares.get_mut(j) {
                        *s -= 1;
                    }
                    if let Some(s) = shares.get_mut(i) {
                        *s += 1;
                    }
                }
            }
        }
    }
    shares.into_iter().map(|s| s * unit).collect()
}

fn placement_name(p: &str) -> String {
    match p {
        "instagram_feed" => "Instagram feed".into(),
        "instagram_stories" => "Instagram Stories".into(),
        "instagram_reels" => "Instagram Reels".into(),
        "facebook_feed" => "Facebook feed".into(),
        "pinterest" => "Pinterest".into(),
        "tiktok" | "tiktok_feed" => "TikTok".into(),
        "youtube" | "youtube_shorts" => "YouTube".into(),
        other => crate::text::humanize_key(other),
    }
}

/// Which placement suits an audience best: one whose words overlap the
/// audience's interests, else the next one in turn.
fn placement_for(audience: &Audience, placements: &[String], turn: usize, used: &[String]) -> String {
    let interests = format!("{} {}", audience.description, audience.interests.join(" ")).to_lowercase();
    let affinity = |p: &str| -> bool {
        let p = p.to_lowercase();
        (p.contains("pinterest")
            && ["home", "decor", "interior", "recipe", "diy", "wedding", "craft"]
                .iter()
                .any(|w| interests.contains(w)))
            || (p.contains("stories")
                && ["young", "gen z", "student", "trend"]
                    .iter()
                    .any(|w| interests.contains(w)))
            || (p.contains("tiktok")
                && ["gen z", "trend", "viral", "young"]
                    .iter()
                    .any(|w| interests.contains(w)))
            || (p.contains("facebook")
                && ["parent", "family", "local", "community", "gift"]
                    .iter()
                    .any(|w| interests.contains(w)))
    };
    if let Some(p) = placements.iter().find(|p| affinity(p) && !used.contains(p)) {
        return p.clone();
    }
    let n = placements.len().max(1);
    for k in 0..n {
        if let Some(p) = placements.get((turn + k) % n)
            && !used.contains(p)
        {
            return p.clone();
        }
    }
    placements
        .get(turn % n)
        .cloned()
        .unwrap_or_else(|| "instagram_feed".into())
}

pub fn run(input: &AgentInput<'_>) -> Result<AgentOutput, AgentError> {
    let mut ctx = Ctx::new(input);
    let daily_cents = ctx.brief.budget_cents_per_day()?;
    let days = ctx.brief.campaign_days()?;
    let products = ctx.brief.products(ctx.ws)?;
    let Some(&lead) = products.first() else {
        return Err(AgentError::MissingBriefField("products"));
    };
    let proven = ctx.rules.proven_claims(&products);
    let lead_proven = ctx.rules.proven_claims(&[lead]);

    // How many campaigns: more budget and more audiences, more campaigns.
    let mut audiences: Vec<Audience> = ctx.brand.audiences.clone();
    if audiences.is_empty() {
        audiences.push(Audience {
            name: format!("{} lookalikes", ctx.brand.brand_name),
            description: format!("People similar to {}'s recent customers", ctx.brand.brand_name),
            interests: products
                .iter()
                .flat_map(|p| p.keywords.iter().take(2).cloned())
                .collect(),
        });
    }
    // The audiences the brief speaks of come first (the core audience).
    let brief_words = ctx.brief.words();
    let mut scored: Vec<(usize, Audience)> = audiences
        .into_iter()
        .map(|a| {
            let text = format!("{} {} {}", a.name, a.description, a.interests.join(" "));
            (overlap(&significant(&text), &brief_words), a)
        })
        .collect();
    scored.sort_by_key(|(score, _)| std::cmp::Reverse(*score));
    let audiences: Vec<Audience> = scored.into_iter().map(|(_, a)| a).collect();

    // Placements: those the notes favour, never those they rule out.
    let all: Vec<String> = ctx
        .brand
        .ad_placements
        .iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect();
    let (preferred, excluded) = ctx.brief.placement_preferences(&all);
    let mut placements: Vec<String> = if preferred.len() >= 2 {
        preferred.clone()
    } else {
        let mut v = preferred.clone();
        v.extend(
            all.iter()
                .filter(|p| !preferred.contains(p) && !excluded.contains(p))
                .cloned(),
        );
        v
    };
    if placements.is_empty() {
        placements = all.clone();
    }
    if placements.is_empty() {
        placements.push("instagram_feed".into());
    }
    let by_budget = if daily_cents < 2_000 {
        2
    } else if daily_cents < 6_000 {
        3
    } else {
        4
    };
    let combos = audiences.len() * placements.len();
    let mut n = by_budget.min(combos.max(2)).clamp(2, 4);
    if daily_cents < n as i64 {
        n = (daily_cents as usize).clamp(1, 4);
    }

    // Weights: the first audience is the brand's core; later ones test.
    let weights: Vec<u32> = match n {
        1 => vec![1],
        2 => vec![60, 40],
        3 => vec![50, 30, 20],
        _ => vec![40, 25, 20, 15],
    };
    let shares = split_cents(daily_cents, &weights);

    // Creative: one image for every campaign, headlines per audience.
    let palette = Palette::from_colors(&ctx.brand.colors);
    let themes = ctx.themes;
    let noun = category_noun(lead);
    let main_headline = {
        let mut options = vec![lead.name.clone(), format!("Meet the {}", lead.name)];
        if let Some(season) = themes.season {
            options.push(format!("The {} for {season}", noun));
        }
        if let Some(m) = facts::material(lead) {
            let m = m.split([',', ';', '(']).next().unwrap_or("").trim().to_string();
            options.push(format!("{}, in {}", lead.name, m.to_lowercase()));
        }
        let pick = ctx
            .rng
            .pick(&options)
            .cloned()
            .unwrap_or_else(|| lead.name.clone());
        headline(&ctx, &pick, &lead_proven, &lead.name)
    };
    let asset_name = format!("ad-{}-{}.svg", slug(&lead.id), ctx.seed_hex);
    let asset_url = ctx.asset_url(&asset_name);

    let mut campaigns = Vec::new();
    let mut used_placements: Vec<String> = Vec::new();
    let mut used_pairs: Vec<(String, String)> = Vec::new();
    let brief_title = ctx.brief.title().to_string();
    // What the products speak of, to find the audience's interest they serve.
    let product_words = significant(
        &products
            .iter()
            .map(|p| format!("{} {} {}", p.name, p.description, p.keywords.join(" ")))
            .collect::<Vec<_>>()
            .join(" "),
    );
    for (i, &cents) in shares.iter().enumerate() {
        let audience = match audiences.get(i % audiences.len()) {
            Some(a) => a.clone(),
            None => continue,
        };
        // Once every audience has a campaign, repeat audiences on new placements.
        if i > 0 && i % audiences.len() == 0 {
            used_placements.clear();
        }
        let mut placement = if preferred.is_empty() {
            placement_for(&audience, &placements, i, &used_placements)
        } else {
            placements
                .get(i % placements.len())
                .cloned()
                .unwrap_or_else(|| "instagram_feed".into())
        };
        // Never the same audience on the same placement twice.
        if used_pairs
            .iter()
            .any(|(a, p)| *a == audience.name && *p == placement)
            && let Some(other) = placements
                .iter()
                .find(|p| !used_pairs.iter().any(|(a, q)| *a == audience.name && q == *p))
        {
            placement = other.clone();
        }
        used_pairs.push((audience.name.clone(), placement.clone()));
        used_placements.push(placement.clone());
        let name = ctx.rules.clean_meta(&format!(
            "{} · {} · {}",
            fit_words(&brief_title, 40),
            audience.name,
            placement_name(&placement)
        ));
        // An activity ("day hiking", "camping") the products are for.
        let interest = audience
            .interests
            .iter()
            .find(|i| overlap(&significant(i), &product_words) > 0 && i.trim_end().ends_with("ing"))
            .cloned();
        let short = short_name(lead);
        let pick = if i == 0 {
            main_headline.clone()
        } else {
            let options: Vec<String> = [
                interest
                    .as_ref()
                    .map(|x| format!("Made for {}", x.to_lowercase())),
                Some(format!("{short}, for {}", audience.name.to_lowercase())),
                Some(format!("{short} for {}", audience.name.to_lowercase())),
                Some(format!("For {}: {short}", audience.name.to_lowercase())),
                Some(main_headline.clone()),
            ]
            .into_iter()
            .flatten()
            .filter(|h| char_len(h) <= HEADLINE_MAX_CHARS)
            .collect();
            options.first().cloned().unwrap_or_else(|| main_headline.clone())
        };
        let head = headline(&ctx, &pick, &lead_proven, &lead.name);
        let why_placement = if preferred.contains(&placement) {
            " (favoured in the brief's notes)"
        } else {
            ""
        };
        let rationale = ctx.rules.clean_meta(&format!(
            "{}: {} On {}{why_placement}, {} of the daily budget{}.",
            audience.name,
            crate::text::first_sentence(&audience.description),
            placement_name(&placement),
            pct(cents, daily_cents),
            if i == 0 {
                "; the audience closest to the brief's goal gets the largest share"
            } else {
                "; a smaller cell to compare against the first"
            }
        ));
        campaigns.push(json!({
            "name": name,
            "audience": audience.name,
            "placement": placement,
            "daily_budget_usd": usd(cents),
            "days": days,
            "total_usd": usd(cents * days),
            "creative": {"headline": head, "asset_url": asset_url},
            "audience_interests": audience
                .interests
                .iter()
                .map(|x| ctx.rules.clean_meta(x))
                .filter(|x| !x.is_empty())
                .collect::<Vec<_>>(),
            "rationale": rationale,
        }));
    }

    let total_cents = daily_cents * days;
    let summary = format!(
        "{} campaigns, {}/day for {} day{} ({} total)",
        campaigns.len(),
        usd_text(daily_cents),
        days,
        if days == 1 { "" } else { "s" },
        usd_text(total_cents)
    );
    let output = json!({
        "campaigns": campaigns,
        "daily_budget_usd": usd(daily_cents),
        "days": days,
        "total_usd": usd(total_cents),
        "summary": summary,
    });

    let audience_block = format!(
        "AUDIENCES\n{}\nPLACEMENTS: {}\nBUDGET: {}/day for {} days = {} (split it exactly; never more)\n",
        serde_json::to_string_pretty(&ctx.brand.audiences).unwrap_or_default(),
        placements.join(", "),
        usd_text(daily_cents),
        days,
        usd_text(total_cents)
    );
    let prompt = ctx.prompt(
        "Ad Campaign Director",
        "Propose 2 to 4 paid social campaigns for the brief (audience × placement), split the daily budget across them so it adds up exactly, \
         and write a headline of at most 40 characters for each; brief the Studio on one creative.",
        &products,
        &[audience_block],
    );
    ctx.llm(prompt, &output);

    let footer = ctx.rules.clean_plain(&ctx.brand.tagline, &proven);
    let svg = render_card(&Card {
        width: 1080,
        height: 1080,
        palette: &palette,
        brand: &ctx.brand.brand_name,
        eyebrow: &lead.name,
        headline: &main_headline,
        footer: &footer,
        label: "Sponsored",
    });
    let studio_brief = format!(
        "Render a 1080×1080 ad creative for {}: product \"{}\", headline \"{}\", footer \"{}\"; background {}, panel {}, accent {}; \
         used by all {} campaigns.",
        ctx.brand.brand_name,
        lead.name,
        main_headline,
        footer,
        palette.primary,
        palette.secondary,
        palette.accent,
        shares.len()
    );
    ctx.studio(studio_brief, asset_name, svg);
    Ok(ctx.finish(output))
}

/// A product's name short enough for a headline: the part before a comma or
/// colon, with leading words dropped until it fits ("Stonewashed Linen
/// Tablecloth" → "Linen Tablecloth").
fn short_name(p: &crate::types::Product) -> String {
    let head = p.name.split([',', ':']).next().unwrap_or(&p.name).trim();
    let mut words: Vec<&str> = head.split_whitespace().collect();
    while char_len(&words.join(" ")) > 24 && words.len() > 1 {
        words.remove(0);
    }
    while words.len() > 1
        && words
            .first()
            .is_some_and(|w| w.chars().all(|c| c.is_ascii_digit()))
    {
        words.remove(0);
    }
    let short = words.join(" ");
    if short.is_empty() || char_len(&short) > 24 {
        crate::text::capitalise(&category_noun(p))
    } else {
        short
    }
}

fn headline(ctx: &Ctx<'_>, text: &str, proven: &[String], fallback: &str) -> String {
    let cleaned = ctx.rules.clean_plain(text, proven);
    let h = if char_len(&cleaned) <= HEADLINE_MAX_CHARS && !cleaned.is_empty() {
        cleaned
    } else {
        fit_words(&ctx.rules.clean_plain(fallback, proven), HEADLINE_MAX_CHARS)
    };
    if h.is_empty() {
        fit_words(
            &ctx.rules.clean_plain(&ctx.brand.brand_name, proven),
            HEADLINE_MAX_CHARS,
        )
    } else {
        h
    }
}

fn pct(part: i64, whole: i64) -> String {
    if whole <= 0 {
        return "0%".into();
    }
    format!("{}%", (part * 100 + whole / 2) / whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_are_exact() {
        for total in [
            1, 2, 3, 7, 99, 100, 101, 4800, 4999, 5000, 12345, 100_000, 999_999,
        ] {
            for weights in [vec![60, 40], vec![50, 30, 20], vec![40, 25, 20, 15]] {
                let s = split_cents(total, &weights);
                assert_eq!(s.iter().sum::<i64>(), total, "{total} {weights:?} {s:?}");
                if total >= weights.len() as i64 {
                    assert!(s.iter().all(|&c| c > 0), "{total} {weights:?} {s:?}");
                }
            }
        }
        assert_eq!(split_cents(4800, &[50, 30, 20]), vec![2400, 1400, 1000]);
    }

    #[test]
    fn dollars_have_two_decimals_at_most() {
        assert_eq!(usd(4800).to_string(), "48");
        assert_eq!(usd(1440).to_string(), "14.4");
        assert_eq!(usd(7).to_string(), "0.07");
        assert_eq!(usd_text(123456), "$1,234.56");
    }
}
