//! Profile Auditor: reads the shop as it stands against the brand's rules and
//! field limits, and lists findings with fixes, most important first (the
//! brief's `focus` first of all).

use serde_json::{Value, json};

use crate::facts;
use crate::listing::{listing_unproven_claims, suggested_title};
use crate::offline::Ctx;
use crate::rules::{emoji_budget, has_discount_language};
use crate::text::{char_len, count_emoji, fit_words, mask_word};
use crate::types::{AgentError, AgentInput, AgentOutput, Product};
use crate::words::{overlap, significant};

/// Photos a listing should have at least.
pub const MIN_PHOTOS: u32 = 5;

#[derive(Debug, Clone)]
struct Finding {
    area: &'static str,
    severity: Severity,
    finding: String,
    fix: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Severity {
    High,
    Medium,
    Low,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }
    fn penalty(self) -> i64 {
        match self {
            Severity::High => 7,
            Severity::Medium => 3,
            Severity::Low => 1,
        }
    }
}

/// Words of a brief's `focus` mapped to the finding areas they mean.
const FOCUS_WORDS: &[(&str, &[&str])] = &[
    ("title", &["titles"]),
    ("seo", &["titles", "tags"]),
    ("search", &["titles", "tags"]),
    ("bullet", &["bullets"]),
    ("description", &["descriptions"]),
    ("copy", &["titles", "bullets", "descriptions", "bio"]),
    ("photo", &["photos"]),
    ("image", &["photos"]),
    ("visual", &["photos", "banner"]),
    ("claim", &["claims", "accuracy"]),
    ("proof", &["claims", "accuracy"]),
    ("lab", &["claims", "accuracy"]),
    ("report", &["claims", "accuracy"]),
    ("accura", &["accuracy", "claims"]),
    ("waterproof", &["claims", "accuracy"]),
    ("complian", &["claims", "brand_words", "emoji", "banner"]),
    ("brand", &["brand_words"]),
    ("voice", &["bio", "banner", "brand_words"]),
    ("bio", &["bio"]),
    ("about", &["bio"]),
    ("banner", &["banner"]),
    ("tag", &["tags"]),
    ("keyword", &["tags", "titles"]),
    ("polic", &["policies"]),
    ("shipping", &["policies"]),
    ("return", &["policies"]),
    ("review", &["reviews"]),
    ("catalog", &["catalog"]),
    ("listing", &["titles", "bullets", "descriptions"]),
    ("conversion", &["photos", "bullets", "reviews", "policies"]),
];

fn focus_areas(focus: &str) -> Vec<&'static str> {
    let f = focus.to_lowercase();
    let mut out: Vec<&'static str> = Vec::new();
    for (word, areas) in FOCUS_WORDS {
        if f.contains(word) {
            for a in *areas {
                if !out.contains(a) {
                    out.push(a);
                }
            }
        }
    }
    out
}

const VAGUE_PHRASES: &[&str] = &[
    "quality products",
    "high quality",
    "quality you can feel",
    "great products",
    "great outdoor gear",
    "best products",
    "beautiful things",
    "made with love",
    "something for everyone",
    "welcome to our shop",
    "welcome to my shop",
    "we sell",
    "lots of things",
    "check out our",
    "good vibes",
    "good times",
    "for all your",
    "stuff",
];

/// Words that mark a review theme as a problem rather than praise.
const PROBLEM_WORDS: &[&str] = &[
    "doesn't",
    "does not",
    "don't",
    "not ",
    "leak",
    "wearing through",
    "wore through",
    "runs small",
    "runs large",
    "slower",
    "differs",
    "rather than",
    "greener",
    "broke",
    "faded",
    "shrank",
    "one-star",
    "complain",
    "asking for",
];

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Where the live listing says the opposite of what the data says the
/// product is not for: the limitation's negated words (with their synonym
/// group) used in a listing clause that is not itself negated.
fn contradiction(p: &Product, listing_text: &str) -> Option<(String, String)> {
    let limit = facts::limitation(p)?;
    // The negated part of the limitation ("not suitable for induction").
    let negated_part = limit
        .split([';', ','])
        .find(|part| crate::words::is_negated(part))
        .unwrap_or(&limit)
        .to_string();
    let stems = significant(&negated_part);
    let generic = [
        "rated", "designed", "suitable", "held", "made", "work", "works", "spray", "heavy",
    ];
    let stems: Vec<String> = stems
        .into_iter()
        .filter(|w| !generic.contains(&w.as_str()))
        .collect();
    for clause in listing_text.split(['.', ';', '\n', ',']) {
        let c = clause.trim();
        if c.is_empty() || crate::words::is_negated(c) {
            continue;
        }
        if overlap(&significant(c), &stems) > 0 {
            return Some((c.to_string(), limit));
        }
    }
    None
}

pub fn run(input: &AgentInput<'_>) -> Result<AgentOutput, AgentError> {
    let mut ctx = Ctx::new(input);
    let ws = ctx.ws;
    let shop = &ws.shop;
    let limits = ctx.brand.shop.clone();
    let mut findings: Vec<Finding> = Vec::new();
    let mut short_titles: Vec<String> = Vec::new();
    let mut short_descriptions: Vec<String> = Vec::new();
    let mut few_photos: Vec<String> = Vec::new();
    let mut tag_notes: Vec<String> = Vec::new();
    let mut tag_fixes: Vec<String> = Vec::new();

    for l in &shop.listings {
        let product: Option<&Product> = ws.products.iter().find(|p| p.id == l.product_id);
        let label = product
            .map(|p| p.name.clone())
            .unwrap_or_else(|| l.product_id.clone());
        let listing_text = format!("{}\n{}\n{}", l.title, l.bullets.join("\n"), l.description);
        if product.is_none() {
            findings.push(Finding {
                area: "catalog",
                severity: Severity::Medium,
                finding: format!(
                    "The listing \"{}\" points at {}, which is not in the catalog.",
                    fit_words(&l.title, 60),
                    l.product_id
                ),
                fix: "Link the listing to a catalog product or retire it, so prices and stock stay in sync."
                    .into(),
            });
        }

        let tlen = char_len(&l.title);
        if tlen > limits.title_max_chars {
            let fix = match product {
                Some(p) => {
                    let t = suggested_title(&mut ctx, p, limits.title_max_chars);
                    format!(
                        "Cut it to at most {} characters, for example: \"{t}\" ({} characters).",
                        limits.title_max_chars,
                        char_len(&t)
                    )
                }
                None => format!(
                    "Cut it to at most {} characters, leading with the product name.",
                    limits.title_max_chars
                ),
            };
            findings.push(Finding {
                area: "titles",
                severity: Severity::High,
                finding: format!(
                    "{label}: the title is {tlen} characters; {} cuts it at {}.",
                    limits.platform, limits.title_max_chars
                ),
                fix,
            });
        } else if tlen * 100 < limits.title_max_chars * 35 {
            match product {
                Some(p) => {
                    let t = suggested_title(&mut ctx, p, limits.title_max_chars);
                    short_titles.push(format!(
                        "{label} ({tlen} of {}; e.g. \"{t}\")",
                        limits.title_max_chars
                    ));
                }
                None => short_titles.push(format!("{label} ({tlen} of {})", limits.title_max_chars)),
            }
        }

        if l.bullets.len() < limits.bullets_per_listing {
            findings.push(Finding {
                area: "bullets",
                severity: if l.bullets.is_empty() {
                    Severity::High
                } else {
                    Severity::Medium
                },
                finding: format!(
                    "{label}: {} of {} bullets.",
                    l.bullets.len(),
                    limits.bullets_per_listing
                ),
                fix: format!(
                    "Add {} bullet{} from the product facts ({}).",
                    limits.bullets_per_listing - l.bullets.len(),
                    plural(limits.bullets_per_listing - l.bullets.len()),
                    product
                        .map(fact_names)
                        .unwrap_or_else(|| "material, sizes, care".into())
                ),
            });
        } else if l.bullets.len() > limits.bullets_per_listing {
            findings.push(Finding {
                area: "bullets",
                severity: Severity::Low,
                finding: format!(
                    "{label}: {} bullets where the shop shows {}.",
                    l.bullets.len(),
                    limits.bullets_per_listing
                ),
                fix: format!(
                    "Keep the {} strongest; merge or drop the rest.",
                    limits.bullets_per_listing
                ),
            });
        }
        let long: Vec<usize> = l
            .bullets
            .iter()
            .map(|b| char_len(b))
            .filter(|&n| n > limits.bullet_max_chars)
            .collect();
        if !long.is_empty() {
            findings.push(Finding {
                area: "bullets",
                severity: Severity::Medium,
                finding: format!(
                    "{label}: {} bullet{} over the {}-character limit (longest {}).",
                    long.len(),
                    plural(long.len()),
                    limits.bullet_max_chars,
                    long.iter().max().copied().unwrap_or(0)
                ),
                fix: "Lead each bullet with the fact, then one short reason; split the rest into another bullet.".into(),
            });
        }

        let dlen = char_len(&l.description);
        if dlen > limits.description_max_chars {
            findings.push(Finding {
                area: "descriptions",
                severity: Severity::Medium,
                finding: format!("{label}: the description is {dlen} characters, over the {} limit.", limits.description_max_chars),
                fix: "Trim to the product story, the facts and the care notes; move policies to the shop pages.".into(),
            });
        } else if dlen < 200 {
            short_descriptions.push(format!("{label} ({dlen})"));
        }

        if l.photos <= 2 {
            findings.push(Finding {
                area: "photos",
                severity: Severity::High,
                finding: format!("{label}: {} photo{}.", l.photos, plural(l.photos as usize)),
                fix: format!(
                    "Add at least {} more: a detail close-up, the product in use, scale against something familiar{}.",
                    MIN_PHOTOS - l.photos,
                    product.and_then(facts::colors).map(|c| format!(", and each colour ({c})")).unwrap_or_default()
                ),
            });
        } else if l.photos < MIN_PHOTOS {
            few_photos.push(format!("{label} ({})", l.photos));
        }

        let claims = listing_unproven_claims(&ctx, product, l);
        if !claims.is_empty() {
            let quoted: Vec<String> = claims.iter().map(|c| format!("\"{c}\"")).collect();
            findings.push(Finding {
                area: "claims",
                severity: Severity::High,
                finding: format!("{label}: the listing claims {} with no proof on file.", crate::text::join_list(&quoted)),
                fix: "Remove the claim, or add the certificate or test report to the product's proof before using it.".into(),
            });
        }

        // The listing against what the catalog says the product is not for.
        if let Some(p) = product {
            if let Some((said, limit)) = contradiction(p, &listing_text) {
                findings.push(Finding {
                    area: "accuracy",
                    severity: Severity::High,
                    finding: format!(
                        "{label}: the listing says \"{said}\", but the catalog says: \"{}\"",
                        limit.trim()
                    ),
                    fix: format!(
                        "Replace it with what the product does, and say the limit plainly: \"{}\"",
                        limit.trim()
                    ),
                });
            } else {
                for (k, v) in &p.attributes {
                    let key = crate::text::humanize_key(k).to_lowercase();
                    if v == &Value::Bool(false) && !listing_text.to_lowercase().contains(&key) {
                        findings.push(Finding {
                            area: "accuracy",
                            severity: Severity::High,
                            finding: format!("{label}: the catalog says it is not suitable for {key}, and the listing never says so."),
                            fix: format!("Add a bullet that says plainly: not suitable for {key}."),
                        });
                    }
                }
            }
        }

        let banned = ctx.rules.banned_in(&listing_text);
        if !banned.is_empty() {
            let masked: Vec<String> = banned.iter().map(|w| format!("\"{}\"", mask_word(w))).collect();
            findings.push(Finding {
                area: "brand_words",
                severity: Severity::High,
                finding: format!(
                    "{label}: uses the banned word{} {}.",
                    plural(masked.len()),
                    masked.join(", ")
                ),
                fix: "Replace with a concrete fact about the product (material, size, finish).".into(),
            });
        }
        if !ctx.rules.discount_allowed && has_discount_language(&listing_text) {
            findings.push(Finding {
                area: "brand_words",
                severity: Severity::High,
                finding: format!("{label}: the listing uses price-cut wording, which the brand rules out."),
                fix: "Take the price-cut wording out of the listing; let the price field speak for itself."
                    .into(),
            });
        }

        // Tags: repeats, case, hashtags, and tags about something else.
        let mut problems: Vec<String> = Vec::new();
        let norm = |t: &str| {
            let t = t
                .trim()
                .trim_start_matches('#')
                .to_lowercase()
                .replace(['-', ' ', '_'], "");
            t.strip_suffix('s').map(str::to_string).unwrap_or(t)
        };
        let normed: Vec<String> = l.tags.iter().map(|t| norm(t)).collect();
        let dupes = normed
            .iter()
            .enumerate()
            .filter(|(i, t)| normed.iter().take(*i).any(|u| u == *t))
            .count();
        if dupes > 0 {
            problems.push(format!("{dupes} repeat{}", plural(dupes)));
        }
        if l.tags.iter().any(|t| t.chars().any(char::is_uppercase))
            && l.tags.iter().any(|t| !t.chars().any(char::is_uppercase))
        {
            problems.push("mixed capitalisation".into());
        }
        if l.tags.iter().any(|t| t.trim_start().starts_with('#')) {
            problems.push("hashtags used as tags".into());
        }
        if let Some(p) = product {
            let own = significant(&format!(
                "{} {} {} {} {}",
                p.name,
                p.category,
                p.keywords.join(" "),
                p.description,
                p.attributes
                    .values()
                    .filter_map(crate::text::value_text)
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
            // A tag that says nothing about this product but names another.
            let others: Vec<String> = ws
                .products
                .iter()
                .filter(|q| q.id != p.id)
                .flat_map(|q| significant(&format!("{} {} {}", q.name, q.category, q.keywords.join(" "))))
                .collect();
            let unrelated: Vec<&String> = l
                .tags
                .iter()
                .filter(|t| {
                    let tw = significant(t);
                    !tw.is_empty() && overlap(&tw, &own) == 0 && overlap(&tw, &others) > 0
                })
                .collect();
            if !unrelated.is_empty() {
                let list: Vec<String> = unrelated.iter().map(|t| format!("\"{t}\"")).collect();
                problems.push(format!("tags for other products: {}", list.join(", ")));
            }
        }
        if l.tags.is_empty() {
            problems.push("no tags".into());
        }
        if !problems.is_empty() {
            tag_notes.push(format!("{label} ({})", problems.join("; ")));
            if let Some(p) = product {
                tag_fixes.push(format!(
                    "{}: {}",
                    p.name,
                    p.keywords
                        .iter()
                        .map(|k| k.trim().to_lowercase())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
    }

    if !short_titles.is_empty() {
        findings.push(Finding {
            area: "titles",
            severity: Severity::Low,
            finding: format!(
                "{} title{} leave{} search terms out: {}.",
                short_titles.len(),
                plural(short_titles.len()),
                if short_titles.len() == 1 { "s" } else { "" },
                short_titles.join("; ")
            ),
            fix: "Add the material and the terms shoppers search for after the product name (the examples stay within the limit).".into(),
        });
    }
    if !few_photos.is_empty() {
        findings.push(Finding {
            area: "photos",
            severity: Severity::Medium,
            finding: format!(
                "{} listing{} with fewer than {MIN_PHOTOS} photos: {}.",
                few_photos.len(),
                plural(few_photos.len()),
                few_photos.join(", ")
            ),
            fix: "Add a detail close-up, the product in use and a photo for scale, and one per colour."
                .into(),
        });
    }
    if !short_descriptions.is_empty() {
        findings.push(Finding {
            area: "descriptions",
            severity: Severity::Low,
            finding: format!(
                "{} description{} under 200 characters: {}.",
                short_descriptions.len(),
                plural(short_descriptions.len()),
                short_descriptions.join(", ")
            ),
            fix: "Add the material, sizes and care from the catalog, and one line on how each is used; the Listing Optimizer drafts these.".into(),
        });
    }
    if !tag_notes.is_empty() {
        findings.push(Finding {
            area: "tags",
            severity: Severity::Low,
            finding: format!(
                "Inconsistent tags on {} listing{}: {}.",
                tag_notes.len(),
                plural(tag_notes.len()),
                tag_notes.join("; ")
            ),
            fix: if tag_fixes.is_empty() {
                "Use lower-case tags without #, from the catalog keywords.".to_string()
            } else {
                format!(
                    "Use lower-case tags without #, from the catalog keywords. {}.",
                    tag_fixes.join(". ")
                )
            },
        });
    }

    for p in &ws.products {
        if !shop.listings.iter().any(|l| l.product_id == p.id) {
            findings.push(Finding {
                area: "catalog",
                severity: Severity::Medium,
                finding: format!("{} is in the catalog but has no shop listing.", p.name),
                fix: "Run the Listing Optimizer for it and publish one of its options.".into(),
            });
        }
    }

    // Bio and banner.
    let all_products: Vec<&Product> = ws.products.iter().collect();
    let proven_any = ctx.rules.proven_claims(&all_products);
    let brand_line = crate::text::first_sentence(&ctx.brand.description);
    let suggestion = ctx.rules.clean_plain(
        &format!("{}: {} {brand_line}", ctx.brand.brand_name, ctx.brand.tagline),
        &proven_any,
    );
    for (area, label, text) in [
        ("bio", "The bio", shop.bio.as_str()),
        ("banner", "The banner", shop.banner_text.as_str()),
    ] {
        let banned = ctx.rules.banned_in(text);
        if !banned.is_empty() {
            let masked: Vec<String> = banned.iter().map(|w| format!("\"{}\"", mask_word(w))).collect();
            findings.push(Finding {
                area,
                severity: Severity::High,
                finding: format!(
                    "{label} uses the banned word{} {}.",
                    plural(masked.len()),
                    masked.join(", ")
                ),
                fix: format!(
                    "Rewrite it around the tagline: \"{}\"",
                    ctx.rules.clean_plain(&ctx.brand.tagline, &proven_any)
                ),
            });
        }
        if !ctx.rules.discount_allowed && has_discount_language(text) {
            findings.push(Finding {
                area,
                severity: Severity::High,
                finding: format!("{label} advertises a price cut, which the brand rules out."),
                fix: "Replace it with what is new or what the products are made of.".into(),
            });
        }
        let emoji = count_emoji(text);
        if emoji > emoji_budget(ctx.rules.emoji_policy) {
            findings.push(Finding {
                area,
                severity: Severity::Medium,
                finding: format!(
                    "{label} has {emoji} emoji; the brand allows {}.",
                    match emoji_budget(ctx.rules.emoji_policy) {
                        0 => "none".to_string(),
                        n => format!("at most {n}"),
                    }
                ),
                fix: "Remove the extra emoji.".into(),
            });
        }
        let unproven = ctx.rules.unproven_claims_in(text, &proven_any);
        if !unproven.is_empty() {
            findings.push(Finding {
                area: "claims",
                severity: Severity::High,
                finding: format!(
                    "{label} claims \"{}\", and no product has proof for it.",
                    unproven.join("\", \"")
                ),
                fix: "Remove the claim until a certificate backs it.".into(),
            });
        }
    }
    let bio_lower = shop.bio.to_lowercase();
    let specific = ws.products.iter().any(|p| {
        bio_lower.contains(&facts::category_noun(p))
            || facts::material(p).is_some_and(|m| {
                m.split_whitespace()
                    .any(|w| char_len(w) >= 5 && bio_lower.contains(&w.to_lowercase()))
            })
    }) || bio_lower.contains(&ctx.brand.brand_name.to_lowercase());
    let vague_hits: Vec<&str> = VAGUE_PHRASES
        .iter()
        .copied()
        .filter(|p| bio_lower.contains(p))
        .collect();
    if char_len(&shop.bio) < 60 || !vague_hits.is_empty() || !specific {
        let why = if char_len(&shop.bio) < 60 {
            format!("only {} characters", char_len(&shop.bio))
        } else if !vague_hits.is_empty() {
            format!("generic phrases such as \"{}\"", vague_hits.join("\", \""))
        } else {
            "nothing about what the shop makes or who it is for".to_string()
        };
        findings.push(Finding {
            area: "bio",
            severity: Severity::Medium,
            finding: format!("The bio is vague: {why}."),
            fix: format!("Say what you make, from what, and for whom, in the brand's voice ({}); for example: \"{suggestion}\"", ctx.tone_words()),
        });
    }

    for key in ["shipping", "returns"] {
        if facts::policy(shop, key).is_none() {
            findings.push(Finding {
                area: "policies",
                severity: Severity::Medium,
                finding: format!("No {key} policy on the shop."),
                fix: format!("Publish a {key} policy; shoppers look for it before a first order."),
            });
        }
    }

    // Review themes: problems tied to one product go to its listing.
    if let Some((avg, count)) = facts::reviews(shop) {
        let themes = facts::review_themes(shop);
        let mut general: Vec<String> = Vec::new();
        for theme in &themes {
            let t = theme.to_lowercase();
            let problem = PROBLEM_WORDS.iter().any(|w| t.contains(w));
            let tw = significant(theme);
            let named: Vec<&Product> = ws
                .products
                .iter()
                .filter(|p| {
                    let nw = significant(&format!("{} {}", p.name, p.keywords.join(" ")));
                    let shared = overlap(&tw, &nw);
                    shared > 0 && significant(&p.name).iter().any(|w| tw.contains(w))
                })
                .collect();
            match (problem, named.as_slice()) {
                (true, [p]) => {
                    let answer = facts::limitation(p)
                        .map(|l| format!("say it plainly in the listing: \"{}\"", l.trim()));
                    findings.push(Finding {
                        area: "reviews",
                        severity: Severity::Medium,
                        finding: format!("Reviews of the {} say: \"{theme}\".", p.name),
                        fix: match answer {
                            Some(a) => format!("Answer it before the next buyer finds out: {a}"),
                            None => "Answer it in the listing (what to expect, how to size or care) and reply to the reviews.".into(),
                        },
                    });
                }
                _ => general.push(theme.clone()),
            }
        }
        let severity = if avg < 4.2 {
            Severity::Medium
        } else {
            Severity::Low
        };
        findings.push(Finding {
            area: "reviews",
            severity,
            finding: format!(
                "Reviews average {avg:.1} over {count}.{}",
                if general.is_empty() { String::new() } else { format!(" Other recent themes: {}.", general.join("; ")) }
            ),
            fix: "Quote the strongest praise in the bullets, and answer the complaint themes in the descriptions.".into(),
        });
    }

    // What the brief's notes already say about a finding ("The throw's
    // photography is being reshot next month") goes with it.
    if let Some(notes) = ctx.brief.notes() {
        for clause in crate::words::clauses(notes) {
            let cl = clause.to_lowercase();
            for f in findings.iter_mut() {
                let area_word = match f.area {
                    "photos" => ["photo", "reshoot", "reshot"].iter().any(|w| cl.contains(w)),
                    "banner" => cl.contains("banner"),
                    "bio" => cl.contains("bio "),
                    _ => false,
                };
                if !area_word {
                    continue;
                }
                let about_listing = ws.products.iter().find(|p| f.finding.starts_with(&p.name));
                let matches = match about_listing {
                    Some(p) => {
                        let distinct: Vec<String> = significant(&p.name)
                            .into_iter()
                            .filter(|w| {
                                ws.products
                                    .iter()
                                    .filter(|q| significant(&q.name).contains(w))
                                    .count()
                                    == 1
                            })
                            .collect();
                        overlap(&significant(&clause), &distinct) > 0
                    }
                    None => !f.finding.contains(':') || f.area != "photos",
                };
                if matches {
                    f.fix = format!("{} (The brief notes: \"{}\")", f.fix, clause.trim());
                    if f.area == "photos" && f.severity == Severity::High {
                        f.severity = Severity::Medium;
                    }
                }
            }
        }
    }

    // Order: the brief's focus (high and medium) first, then other high
    // findings, then the focus's low ones, then the rest.
    let focus = ctx.brief.str("focus").unwrap_or("");
    let areas = focus_areas(focus);
    let tier = |f: &Finding| -> u8 {
        let in_focus = areas.contains(&f.area);
        match (in_focus, f.severity) {
            (true, Severity::High) => 0,
            (true, Severity::Medium) => 1,
            (false, Severity::High) => 2,
            (true, Severity::Low) => 3,
            (false, Severity::Medium) => 4,
            (false, Severity::Low) => 5,
        }
    };
    findings.sort_by_key(|f| tier(f));

    // Score: high findings weigh most; lows together cost at most eight.
    let highs = findings.iter().filter(|f| f.severity == Severity::High).count();
    let meds = findings.iter().filter(|f| f.severity == Severity::Medium).count();
    let lows = findings.len() - highs - meds;
    let penalty = highs as i64 * Severity::High.penalty()
        + meds as i64 * Severity::Medium.penalty()
        + (lows as i64 * Severity::Low.penalty()).min(8);
    let score = (100 - penalty).clamp(0, 100);
    let mut summary = format!(
        "{} scores {score}/100: {} finding{} ({highs} high, {meds} medium, {lows} low) across {} listing{}.",
        shop.shop_name,
        findings.len(),
        plural(findings.len()),
        shop.listings.len(),
        plural(shop.listings.len())
    );
    if !areas.is_empty() {
        let in_focus = findings.iter().filter(|f| areas.contains(&f.area)).count();
        summary.push_str(&format!(
            " On the brief's focus ({}): {in_focus} finding{}, listed first.",
            areas.join(", "),
            plural(in_focus)
        ));
    }
    if let Some(top) = findings.first() {
        summary.push_str(&format!(" Start with: {}", top.fix));
    }

    let findings_json: Vec<Value> = findings
        .iter()
        .map(|f| {
            json!({
                "area": f.area,
                "severity": f.severity.as_str(),
                "finding": ctx.rules.clean_meta(&f.finding),
                "fix": ctx.rules.clean_meta(&f.fix),
            })
        })
        .collect();
    let output =
        json!({"findings": findings_json, "score": score, "summary": ctx.rules.clean_meta(&summary)});

    let shop_block = format!(
        "SHOP PROFILE (as it is today)\n{}\nFIELD LIMITS: title {} chars, {} bullets of {} chars, description {} chars; at least {} photos\n",
        serde_json::to_string_pretty(shop).unwrap_or_default(),
        limits.title_max_chars,
        limits.bullets_per_listing,
        limits.bullet_max_chars,
        limits.description_max_chars,
        MIN_PHOTOS
    );
    let products: Vec<&Product> = ctx.ws.products.iter().collect();
    let prompt = ctx.prompt(
        "Profile Auditor",
        "Audit the shop below against the brand's rules and the shop's field limits. List findings (area, severity, finding, fix), \
         most important first, honouring the brief's focus; score the shop out of 100 and summarise.",
        &products,
        &[shop_block],
    );
    ctx.llm(prompt, &output);
    Ok(ctx.finish(output))
}

fn fact_names(p: &Product) -> String {
    let mut names = Vec::new();
    if facts::material(p).is_some() {
        names.push("material".to_string());
    }
    if facts::sizes(p).is_some() {
        names.push("sizes".into());
    }
    if facts::colors(p).is_some() {
        names.push("colours".into());
    }
    if facts::care(p).is_some() {
        names.push("care".into());
    }
    for (k, _) in facts::other_attributes(p).into_iter().take(2) {
        names.push(k.to_lowercase());
    }
    if names.is_empty() {
        names.push("the description".into());
    }
    crate::text::join_list(&names)
}
