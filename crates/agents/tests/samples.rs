//! Every agent over every sample brief in `samplesdata/briefs/`, against the
//! workspace the brief's file name names (`demo-…`, `rival-…`, `harbor-…`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use greenlight_agents::rules::BrandRules;
use greenlight_agents::text::count_emoji;
use greenlight_agents::{
    AgentError, AgentId, AgentInput, AgentOutput, EmojiPolicy, PriorStep, Product, WorkspaceData,
    load_workspace_dir, run,
};
use serde_json::{Value, json};

const RUN_ID: &str = "run-01JTESTSAMPLES";
const PREFIX: &str = "/api/runs/run-01JTESTSAMPLES/assets/";
const MODEL: &str = "claude-sonnet-4-5";

fn samples() -> PathBuf {
    // The package's directory as cargo gives it to the running test, not the
    // one compiled in: a cached test binary may come from another checkout.
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    dir.join("../../samplesdata")
}

struct Brief {
    file: String,
    workspace: String,
    value: Value,
}

fn briefs() -> Vec<Brief> {
    let dir = samples().join("briefs");
    let mut out = Vec::new();
    let entries = std::fs::read_dir(&dir).expect("samplesdata/briefs exists");
    for e in entries {
        let path = e.expect("dir entry").path();
        if path.extension().and_then(|x| x.to_str()) != Some("json") {
            continue;
        }
        let file = path
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or_default()
            .to_string();
        let workspace = ["demo", "rival", "harbor"]
            .into_iter()
            .find(|w| file.starts_with(&format!("{w}-")))
            .unwrap_or_else(|| panic!("{file}: unknown workspace prefix"))
            .to_string();
        let text = std::fs::read_to_string(&path).expect("readable brief");
        let value: Value = serde_json::from_str(&text).expect("brief is JSON");
        out.push(Brief {
            file,
            workspace,
            value,
        });
    }
    out.sort_by(|a, b| a.file.cmp(&b.file));
    assert!(out.len() >= 3, "expected sample briefs in {}", dir.display());
    out
}

fn workspaces() -> BTreeMap<String, WorkspaceData> {
    ["demo", "rival", "harbor"]
        .into_iter()
        .filter(|w| samples().join("workspaces").join(w).is_dir())
        .map(|w| {
            (
                w.to_string(),
                load_workspace_dir(&samples().join("workspaces").join(w)).expect("workspace loads"),
            )
        })
        .collect()
}

fn call(
    agent: AgentId,
    ws: &WorkspaceData,
    brief: &Value,
    prior: &[PriorStep],
) -> Result<AgentOutput, AgentError> {
    let input = AgentInput {
        agent,
        run_id: RUN_ID,
        step_key: agent.as_str(),
        step_label: "Step",
        workflow: "campaign-launch",
        workflow_name: "Campaign Launch",
        brief,
        workspace: ws,
        prior_steps: prior,
        asset_url_prefix: PREFIX,
        priced_model: MODEL,
    };
    run(&input)
}

fn prior(agent: AgentId, out: &AgentOutput) -> PriorStep {
    PriorStep {
        key: agent.as_str().into(),
        label: agent.as_str().into(),
        kind: "agent".into(),
        agent: Some(agent.as_str().into()),
        status: "succeeded".into(),
        output: Some(std::sync::Arc::new(out.output.clone())),
        cost_micros: out.cost_micros,
        decision: None,
    }
}

/// Every agent over one brief, upstream outputs fed forward as the engine
/// would. `None` where the agent refused the brief (with the error checked).
fn run_all(ws: &WorkspaceData, brief: &Value) -> BTreeMap<&'static str, AgentOutput> {
    let mut out = BTreeMap::new();
    let has_products = brief.get("products").is_some();
    let has_budget = brief.get("budget_usd_per_day").is_some();
    for agent in [
        AgentId::ListingOptimizer,
        AgentId::ContentProducer,
        AgentId::AdCampaignDirector,
        AgentId::CreatorOutreach,
        AgentId::ProfileAuditor,
        AgentId::CommentTriage,
    ] {
        match call(agent, ws, brief, &[]) {
            Ok(o) => {
                out.insert(agent.as_str(), o);
            }
            Err(AgentError::MissingBriefField(f)) => {
                assert!(
                    !has_products || (agent == AgentId::AdCampaignDirector && !has_budget),
                    "{agent:?}: missing {f}"
                );
            }
            Err(e) => panic!("{agent:?}: {e}"),
        }
    }
    match out.get("content_producer") {
        Some(content) => {
            let p = [prior(AgentId::ContentProducer, content)];
            let c = call(AgentId::Compliance, ws, brief, &p).expect("compliance runs");
            out.insert("compliance", c);
        }
        None => assert!(matches!(
            call(AgentId::Compliance, ws, brief, &[]),
            Err(AgentError::MissingUpstream("content_producer"))
        )),
    }
    let triage = out.get("comment_triage").expect("triage always runs");
    let p = [prior(AgentId::CommentTriage, triage)];
    let n = call(AgentId::NextMoveRecommender, ws, brief, &p).expect("next moves run");
    out.insert("next_move_recommender", n);
    out
}

// ------------------------------------------------------------ rule checks

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Independent whole-word, case-insensitive search.
fn has_word(text: &str, word: &str) -> bool {
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let w: Vec<char> = word.to_lowercase().chars().collect();
    if w.is_empty() || t.len() < w.len() {
        return false;
    }
    (0..=t.len() - w.len()).any(|i| {
        t[i..i + w.len()] == w[..]
            && (i == 0 || !is_word(t[i - 1]) || !is_word(w[0]))
            && (i + w.len() == t.len() || !is_word(t[i + w.len()]) || !is_word(w[w.len() - 1]))
    })
}

const DISCOUNT: &[&str] = &[
    "% off",
    "sale",
    "discount",
    "deal",
    "coupon",
    "promo code",
    "save $",
];

fn discount_forbidden(ws: &WorkspaceData, brief: &Value) -> bool {
    let notes = brief
        .get("notes")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_lowercase();
    !ws.brand.discount_language_allowed
        || notes.contains("no discount")
        || notes.contains("no bundle discount")
}

fn emoji_max(ws: &WorkspaceData, brief: &Value) -> usize {
    let notes = brief
        .get("notes")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_lowercase();
    if notes.contains("no emoji") {
        return 0;
    }
    match ws.brand.emoji_policy {
        EmojiPolicy::None => 0,
        EmojiPolicy::Sparing => 1,
        EmojiPolicy::Expressive => 5,
    }
}

/// (path, string) for every string in a JSON value.
fn strings<'a>(v: &'a Value, path: String, out: &mut Vec<(String, &'a str)>) {
    match v {
        Value::String(s) => out.push((path, s)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| strings(x, format!("{path}[{i}]"), out)),
        Value::Object(o) => o.iter().for_each(|(k, x)| strings(x, format!("{path}.{k}"), out)),
        _ => {}
    }
}

/// Strings the agent wrote (not ids, URLs or quoted customer comments).
fn authored(agent: &str, v: &Value) -> Vec<(String, String)> {
    let mut all = Vec::new();
    strings(v, String::new(), &mut all);
    all.into_iter()
        .filter(|(p, _)| {
            let last = p.rsplit('.').next().unwrap_or("");
            let last = last.split('[').next().unwrap_or(last);
            let id_like = matches!(
                last,
                "product_id"
                    | "creator_id"
                    | "comment_id"
                    | "post_id"
                    | "handle"
                    | "author"
                    | "asset_url"
                    | "platform"
                    | "placement"
            );
            // Quoted customer comments and the creators' own notes are data.
            let quoted = agent == "comment_triage" && (last == "text" || last == "flags");
            !id_like && !quoted
        })
        .map(|(p, s)| (p, s.to_string()))
        .collect()
}

fn check_brand_rules(file: &str, agent: &str, ws: &WorkspaceData, brief: &Value, out: &Value) {
    let forbid = discount_forbidden(ws, brief);
    let max_emoji = emoji_max(ws, brief);
    for (path, s) in authored(agent, out) {
        for w in &ws.brand.banned_words {
            assert!(
                !has_word(&s, w),
                "{file} {agent}{path}: banned word {w:?} in {s:?}"
            );
        }
        if forbid {
            for d in DISCOUNT {
                assert!(
                    !has_word(&s, d),
                    "{file} {agent}{path}: discount language {d:?} in {s:?}"
                );
            }
        }
        assert!(
            count_emoji(&s) <= max_emoji,
            "{file} {agent}{path}: {} emoji in {s:?}",
            count_emoji(&s)
        );
    }
}

fn products_of<'a>(ws: &'a WorkspaceData, brief: &Value) -> Vec<&'a Product> {
    brief
        .get("products")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|id| ws.products.iter().find(|p| Some(p.id.as_str()) == id.as_str()))
                .collect()
        })
        .unwrap_or_default()
}

fn assert_no_unproven(
    file: &str,
    what: &str,
    ws: &WorkspaceData,
    brief: &Value,
    text: &str,
    products: &[&Product],
) {
    let rules = BrandRules::new(&ws.brand, brief.get("notes").and_then(Value::as_str));
    let proven = rules.proven_claims(products);
    let unproven = rules.unproven_claims_in(text, &proven);
    assert!(
        unproven.is_empty(),
        "{file} {what}: unproven claim(s) {unproven:?} in {text:?}"
    );
}

fn s<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("string at {p} in {v}"))
}

fn a<'a>(v: &'a Value, p: &str) -> &'a Vec<Value> {
    v.pointer(p)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("array at {p} in {v}"))
}

fn cents(v: &Value) -> i64 {
    let f = v.as_f64().unwrap_or_else(|| panic!("number, got {v}"));
    let c = (f * 100.0).round();
    assert!((f * 100.0 - c).abs() < 1e-6, "{f} has more than two decimals");
    c as i64
}

// ------------------------------------------------------------ the tests

#[test]
fn every_agent_over_every_brief_keeps_the_schema_and_the_rules() {
    let wss = workspaces();
    for b in briefs() {
        let ws = wss.get(&b.workspace).expect("workspace present");
        let outs = run_all(ws, &b.value);
        let products = products_of(ws, &b.value);
        for (agent, o) in &outs {
            check_brand_rules(&b.file, agent, ws, &b.value, &o.output);
            check_trail(&b.file, agent, o);
        }

        if let Some(o) = outs.get("listing_optimizer") {
            let limits = &ws.brand.shop;
            let variants = a(&o.output, "/variants");
            assert_eq!(
                variants.len(),
                products.len(),
                "{}: one entry per product",
                b.file
            );
            assert!(!s(&o.output, "/notes").is_empty());
            for (v, p) in variants.iter().zip(&products) {
                assert_eq!(s(v, "/product_id"), p.id);
                assert_eq!(s(v, "/product_name"), p.name);
                let options = a(v, "/options");
                assert_eq!(options.len(), 3, "{}: three options", b.file);
                let mut angles: Vec<&str> = options.iter().map(|o| s(o, "/angle")).collect();
                angles.sort();
                angles.dedup();
                assert_eq!(angles.len(), 3, "{}: three different angles", b.file);
                for opt in options {
                    let title = s(opt, "/title");
                    assert!(
                        !title.is_empty() && title.chars().count() <= limits.title_max_chars,
                        "{}: title {title:?}",
                        b.file
                    );
                    let bullets = a(opt, "/bullets");
                    assert_eq!(bullets.len(), limits.bullets_per_listing, "{}: bullets", b.file);
                    for bl in bullets {
                        let t = bl.as_str().expect("bullet string");
                        assert!(
                            !t.is_empty() && t.chars().count() <= limits.bullet_max_chars,
                            "{}: bullet {t:?}",
                            b.file
                        );
                        assert_no_unproven(&b.file, "bullet", ws, &b.value, t, &[p]);
                    }
                    let d = s(opt, "/description");
                    assert!(
                        d.chars().count() <= limits.description_max_chars && d.chars().count() > 100,
                        "{}: description",
                        b.file
                    );
                    assert_no_unproven(&b.file, "title", ws, &b.value, title, &[p]);
                    assert_no_unproven(&b.file, "description", ws, &b.value, d, &[p]);
                }
            }
        }

        if let Some(o) = outs.get("content_producer") {
            let out = &o.output;
            for f in [
                "/post_brief/platform",
                "/post_brief/hook",
                "/post_brief/visual",
                "/post_caption/text",
            ] {
                assert!(!s(out, f).is_empty(), "{}: {f}", b.file);
            }
            assert!(!a(out, "/post_brief/products").is_empty());
            let tags = a(out, "/post_caption/hashtags");
            assert!(tags.len() <= ws.brand.hashtags.max_per_post);
            for (t, sig) in tags.iter().zip(&ws.brand.hashtags.signature) {
                assert_eq!(t.as_str(), Some(sig.as_str()), "{}: signature tags first", b.file);
            }
            for t in tags {
                let t = t.as_str().expect("hashtag string");
                assert!(t.starts_with('#') && !t.contains(' '));
                assert!(
                    ws.brand
                        .hashtags
                        .signature
                        .iter()
                        .chain(&ws.brand.hashtags.pool)
                        .any(|h| h.eq_ignore_ascii_case(t)),
                    "{}: {t} from the brand's lists",
                    b.file
                );
            }
            let url = s(out, "/asset_url");
            assert!(
                url.starts_with(&format!("{PREFIX}post-")) && url.ends_with(".svg"),
                "{url}"
            );
            assert_eq!(o.assets.len(), 1);
            let asset = &o.assets[0];
            assert_eq!(format!("{PREFIX}{}", asset.name), url);
            check_svg(&b.file, asset, ws, s(out, "/post_brief/hook"));
            assert_no_unproven(
                &b.file,
                "caption",
                ws,
                &b.value,
                s(out, "/post_caption/text"),
                &products,
            );
            assert!(s(out, "/post_caption/text").contains(s(out, "/post_brief/hook")));
        }

        if let Some(o) = outs.get("compliance") {
            let out = &o.output;
            assert!(
                out.get("passed")
                    .and_then(Value::as_bool)
                    .expect("passed is a bool")
            );
            for i in a(out, "/issues") {
                assert!(!s(i, "/rule").is_empty() && !s(i, "/detail").is_empty());
                assert!(["high", "medium", "low"].contains(&s(i, "/severity")));
                assert_eq!(i.get("fixed"), Some(&Value::Bool(true)));
            }
            let content = outs
                .get("content_producer")
                .expect("compliance ran after content");
            assert_eq!(s(out, "/asset_url"), s(&content.output, "/asset_url"));
            let text = s(out, "/post_caption/text");
            assert!(!text.is_empty() && text.chars().count() <= 2200);
            assert!(a(out, "/post_caption/hashtags").len() <= ws.brand.hashtags.max_per_post.min(30));
            assert_no_unproven(&b.file, "compliant caption", ws, &b.value, text, &products);
            let rules: Vec<&Value> = o.trail.iter().filter(|t| t["kind"] == "rule").collect();
            assert!(rules.len() >= 6, "{}: one rule entry per check", b.file);
            for r in rules {
                assert!(!s(r, "/rule").is_empty() && !s(r, "/result").is_empty());
                assert_eq!(s(r, "/step_key"), "compliance");
            }
        }

        if let Some(o) = outs.get("ad_campaign_director") {
            let out = &o.output;
            let daily = (b.value["budget_usd_per_day"].as_f64().expect("budget") * 100.0).round() as i64;
            let days = b.value["campaign_days"].as_i64().expect("days");
            let campaigns = a(out, "/campaigns");
            assert!(
                (2..=4).contains(&campaigns.len()),
                "{}: {} campaigns",
                b.file,
                campaigns.len()
            );
            let mut sum_daily = 0;
            let mut sum_total = 0;
            for c in campaigns {
                assert!(!s(c, "/name").is_empty());
                let audience = s(c, "/audience");
                assert!(
                    ws.brand.audiences.iter().any(|x| x.name == audience),
                    "{audience}"
                );
                let placement = s(c, "/placement");
                assert!(
                    ws.brand.ad_placements.iter().any(|x| x == placement),
                    "{placement}"
                );
                assert_eq!(c["days"].as_i64(), Some(days));
                let d = cents(&c["daily_budget_usd"]);
                let t = cents(&c["total_usd"]);
                assert!(d > 0);
                assert_eq!(t, d * days, "{}: total = daily × days", b.file);
                sum_daily += d;
                sum_total += t;
                let headline = s(c, "/creative/headline");
                assert!(
                    !headline.is_empty() && headline.chars().count() <= 40,
                    "{headline}"
                );
                assert_no_unproven(&b.file, "headline", ws, &b.value, headline, &products);
                assert_eq!(
                    s(c, "/creative/asset_url"),
                    format!("{PREFIX}{}", o.assets[0].name)
                );
            }
            assert_eq!(sum_daily, daily, "{}: daily budgets sum to the brief's", b.file);
            assert_eq!(sum_total, daily * days, "{}: totals sum to budget × days", b.file);
            assert_eq!(cents(&out["daily_budget_usd"]), daily);
            assert_eq!(cents(&out["total_usd"]), daily * days);
            assert_eq!(out["days"].as_i64(), Some(days));
            assert_eq!(o.assets.len(), 1);
            check_svg(&b.file, &o.assets[0], ws, "");
            if b.value["notes"].as_str().unwrap_or("").contains("skip Facebook") {
                assert!(
                    campaigns.iter().all(|c| !s(c, "/placement").contains("facebook")),
                    "{}: notes skip Facebook",
                    b.file
                );
            }
        }

        if let Some(o) = outs.get("creator_outreach") {
            let drafts = a(&o.output, "/drafts");
            assert_eq!(drafts.len(), ws.creators.len().min(5));
            let mut messages = Vec::new();
            for (d, c) in drafts.iter().zip(&ws.creators) {
                assert_eq!(s(d, "/creator_id"), c.id);
                assert_eq!(s(d, "/handle"), c.handle);
                let m = s(d, "/message");
                assert!(
                    m.contains(c.name.split(' ').next().unwrap_or("")),
                    "{}: greets by name",
                    b.file
                );
                assert!(
                    products.iter().any(|p| m.contains(&p.name)),
                    "{}: names a brief product: {m}",
                    b.file
                );
                assert!(m.chars().count() <= 1000);
                assert!(!s(d, "/offer").is_empty());
                assert_no_unproven(&b.file, "DM", ws, &b.value, m, &products);
                messages.push(m.to_string());
            }
            let before = messages.len();
            messages.sort();
            messages.dedup();
            assert_eq!(before, messages.len(), "messages are personal");
        }

        if let Some(o) = outs.get("profile_auditor") {
            let out = &o.output;
            let findings = a(out, "/findings");
            assert!(findings.len() >= 5, "{}: the samples have flaws to find", b.file);
            for f in findings {
                assert!(
                    !s(f, "/area").is_empty() && !s(f, "/finding").is_empty() && !s(f, "/fix").is_empty()
                );
                assert!(["high", "medium", "low"].contains(&s(f, "/severity")));
            }
            let score = out["score"].as_i64().expect("score");
            assert!((0..=100).contains(&score));
            assert!(!s(out, "/summary").is_empty());
            // Over-long live titles are found.
            for l in &ws.shop.listings {
                if l.title.chars().count() > ws.brand.shop.title_max_chars {
                    let name = ws
                        .products
                        .iter()
                        .find(|p| p.id == l.product_id)
                        .map(|p| p.name.as_str())
                        .unwrap_or("");
                    assert!(
                        findings
                            .iter()
                            .any(|f| s(f, "/area") == "titles" && s(f, "/finding").contains(name)),
                        "{}: long title of {name} found",
                        b.file
                    );
                }
            }
        }

        let triage = outs.get("comment_triage").expect("triage");
        check_triage(&b.file, ws, triage);
        let moves = a(&outs["next_move_recommender"].output, "/moves");
        assert!((3..=5).contains(&moves.len()));
        for (i, m) in moves.iter().enumerate() {
            assert_eq!(m["rank"].as_u64(), Some(i as u64 + 1));
            assert!(!s(m, "/title").is_empty() && !s(m, "/rationale").is_empty());
            assert!(!a(m, "/evidence").is_empty());
        }

        // Nothing anywhere repeats the budget a comment asked for.
        for (agent, o) in &outs {
            let all = serde_json::to_string(&o.output).expect("json");
            assert!(
                !all.contains("10,000") && !all.contains("10000"),
                "{}: {agent} mentions the injected budget",
                b.file
            );
        }
    }
}

fn check_trail(file: &str, agent: &str, o: &AgentOutput) {
    let llm: Vec<&Value> = o.trail.iter().filter(|t| t["kind"] == "llm").collect();
    assert_eq!(llm.len(), 1, "{file} {agent}: one llm entry");
    let e = llm[0];
    assert_eq!(s(e, "/step_key"), agent);
    assert_eq!(s(e, "/model"), "offline");
    assert_eq!(s(e, "/priced_as"), MODEL);
    assert_eq!(e["estimated"], Value::Bool(true));
    let prompt = s(e, "/prompt");
    let response = s(e, "/response");
    assert_eq!(
        e["input_tokens"].as_i64(),
        Some((prompt.chars().count() as i64 + 3) / 4)
    );
    assert_eq!(
        e["output_tokens"].as_i64(),
        Some((response.chars().count() as i64 + 3) / 4)
    );
    let micros = e["input_tokens"].as_i64().unwrap_or(0) * 3 + e["output_tokens"].as_i64().unwrap_or(0) * 15;
    assert!(
        (e["cost_usd"].as_f64().unwrap_or(0.0) - micros as f64 / 1e6).abs() < 1e-9,
        "{file} {agent}: sonnet prices"
    );
    let response_json: Value = serde_json::from_str(response).expect("response is the output JSON");
    assert_eq!(response_json, o.output, "{file} {agent}: response is the output");
    let studio: Vec<&Value> = o.trail.iter().filter(|t| t["kind"] == "studio").collect();
    let uses_studio = agent == "content_producer" || agent == "ad_campaign_director";
    assert_eq!(
        studio.len(),
        usize::from(uses_studio),
        "{file} {agent}: studio entries"
    );
    for st in &studio {
        assert_eq!(st["cost_usd"].as_f64(), Some(0.04));
        assert!(!s(st, "/brief").is_empty());
        assert!(s(st, "/asset_url").starts_with(PREFIX));
    }
    let total: i64 = o
        .trail
        .iter()
        .filter_map(|t| t.get("cost_usd").and_then(Value::as_f64))
        .map(|c| (c * 1e6).round() as i64)
        .sum();
    assert_eq!(total, o.cost_micros, "{file} {agent}: cost is the trail's sum");
    assert!(o.cost_micros > 0);
}

/// A small XML well-formedness check: balanced tags, quoted attributes,
/// entities only as `&name;`, no stray `<` in text.
fn check_svg(file: &str, asset: &greenlight_agents::Asset, ws: &WorkspaceData, hook: &str) {
    assert_eq!(asset.content_type, "image/svg+xml");
    let svg = String::from_utf8(asset.bytes.clone()).expect("utf-8");
    assert!(svg.starts_with("<svg"), "{file}: starts with <svg");
    for attr in [
        "width=\"",
        "height=\"",
        "viewBox=\"",
        "xmlns=\"http://www.w3.org/2000/svg\"",
    ] {
        assert!(svg.contains(attr), "{file}: svg has {attr}");
    }
    assert!(
        svg.contains(&ws.brand.colors.primary.to_uppercase()),
        "{file}: brand colour"
    );
    let esc = |t: &str| {
        t.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('\'', "&apos;")
            .replace('"', "&quot;")
    };
    assert!(
        svg.contains(&esc(&ws.brand.brand_name.to_uppercase())),
        "{file}: brand name"
    );
    if !hook.is_empty() {
        assert!(
            svg.contains(&format!("<desc id=\"desc\">{}</desc>", esc(hook))),
            "{file}: hook in the svg"
        );
    }
    if ws.brand.brand_name.contains('&') {
        assert!(svg.contains("&amp;"), "{file}: & escaped");
    }
    let mut stack: Vec<String> = Vec::new();
    let mut rest = svg.as_str();
    while let Some(i) = rest.find(['<', '&']) {
        let text = &rest[..i];
        assert!(!text.contains('>'), "{file}: stray > in text {text:?}");
        rest = &rest[i..];
        if rest.starts_with('&') {
            let end = rest.find(';').expect("entity ends with ;");
            let name = &rest[1..end];
            assert!(
                ["amp", "lt", "gt", "quot", "apos"].contains(&name),
                "{file}: entity {name}"
            );
            rest = &rest[end + 1..];
            continue;
        }
        let end = rest.find('>').expect("tag closes");
        let tag = &rest[1..end];
        assert!(!tag.contains('<'), "{file}: < inside a tag");
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name.trim()), "{file}: balanced tags");
        } else {
            let self_closing = tag.ends_with('/');
            let name = tag
                .trim_end_matches('/')
                .split_whitespace()
                .next()
                .expect("tag name")
                .to_string();
            assert_eq!(
                tag.matches('"').count() % 2,
                0,
                "{file}: quoted attributes in <{name}>"
            );
            if !self_closing {
                stack.push(name);
            }
        }
        rest = &rest[end + 1..];
    }
    assert!(stack.is_empty(), "{file}: unclosed {stack:?}");
}

fn check_triage(file: &str, ws: &WorkspaceData, o: &AgentOutput) {
    let out = &o.output;
    let post = ws
        .posts
        .iter()
        .max_by(|a, b| a.posted_at.cmp(&b.posted_at))
        .expect("posts");
    assert_eq!(s(out, "/post_id"), post.id, "{file}: newest post");
    let comments = a(out, "/comments");
    assert_eq!(comments.len(), post.comments.len());
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    let mut injections = 0;
    for (c, orig) in comments.iter().zip(&post.comments) {
        assert_eq!(s(c, "/comment_id"), orig.id);
        assert_eq!(s(c, "/author"), orig.author);
        let cat = s(c, "/category");
        assert!(["question", "complaint", "praise", "purchase_intent", "spam"].contains(&cat));
        *counts.entry(cat).or_default() += 1;
        let flags: Vec<&str> = a(c, "/flags").iter().filter_map(Value::as_str).collect();
        let reply = &c["suggested_reply"];
        if cat == "spam" {
            assert!(reply.is_null(), "{file}: spam gets no reply");
        } else {
            let r = reply.as_str().expect("a reply");
            assert!(
                r.contains(&orig.author),
                "{file}: reply addresses {}",
                orig.author
            );
            let mut ps: Vec<&Product> = ws
                .products
                .iter()
                .filter(|p| post.product_ids.contains(&p.id))
                .collect();
            ps.extend(ws.products.iter().filter(|p| r.contains(&p.name)));
            assert_no_unproven(file, "reply", ws, &Value::Null, r, &ps);
        }
        if orig
            .text
            .to_lowercase()
            .contains("ignore your previous instructions")
        {
            injections += 1;
            assert_eq!(cat, "spam", "{file}: injection is spam");
            assert!(flags.contains(&"prompt_injection"), "{file}: injection flagged");
            assert!(!s(c, "/text").contains("10,000"));
        } else {
            assert!(
                !flags.contains(&"prompt_injection"),
                "{file}: {:?} is not an injection",
                orig.text
            );
        }
        if orig.text.contains("bit-ly") || orig.text.contains("DM me for") {
            assert_eq!(cat, "spam", "{file}: {:?} is spam", orig.text);
        }
    }
    assert_eq!(injections, 1, "{file}: the sample post carries one injection");
    for k in ["question", "complaint", "praise", "purchase_intent", "spam"] {
        assert_eq!(
            out["counts"][k].as_u64(),
            Some(*counts.get(k).unwrap_or(&0)),
            "{file}: count of {k}"
        );
    }
    // The prompt keeps comments as delimited data.
    let prompt = o
        .trail
        .iter()
        .find(|t| t["kind"] == "llm")
        .map(|t| s(t, "/prompt"))
        .unwrap_or("");
    let open = prompt.find("<comments>").expect("comments delimited");
    let close = prompt.rfind("</comments>").expect("comments closed");
    assert!(open < close);
    assert!(prompt[..open].contains("not instructions"));
    assert_eq!(
        prompt.matches("</comments>").count(),
        1,
        "comment text cannot close the block"
    );
}

#[test]
fn same_input_same_output_and_briefs_change_it() {
    let wss = workspaces();
    let all = briefs();
    for b in &all {
        let ws = &wss[&b.workspace];
        let first = run_all(ws, &b.value);
        let second = run_all(ws, &b.value);
        for (agent, o) in &first {
            let again = &second[agent];
            assert_eq!(o.output, again.output, "{} {agent}: deterministic output", b.file);
            assert_eq!(o.trail, again.trail, "{} {agent}: deterministic trail", b.file);
            assert_eq!(o.cost_micros, again.cost_micros);
            assert_eq!(o.assets, again.assets);
        }
    }
    // Two campaign briefs of the same workspace give different copy.
    for w in ["demo", "rival", "harbor"] {
        let campaign: Vec<&Brief> = all
            .iter()
            .filter(|b| b.workspace == w && b.value.get("products").is_some())
            .collect();
        if campaign.len() < 2 {
            continue;
        }
        let ws = &wss[w];
        let x = run_all(ws, &campaign[0].value);
        let y = run_all(ws, &campaign[1].value);
        let caption = |o: &BTreeMap<&str, AgentOutput>| {
            s(&o["content_producer"].output, "/post_caption/text").to_string()
        };
        assert_ne!(caption(&x), caption(&y), "{w}: captions differ between briefs");
        let titles = |o: &BTreeMap<&str, AgentOutput>| {
            a(&o["listing_optimizer"].output, "/variants")
                .iter()
                .flat_map(|v| {
                    a(v, "/options")
                        .iter()
                        .map(|o| s(o, "/title").to_string())
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
        };
        assert_ne!(titles(&x), titles(&y), "{w}: titles differ between briefs");
        assert_ne!(x["ad_campaign_director"].output, y["ad_campaign_director"].output);
        assert_ne!(x["creator_outreach"].output, y["creator_outreach"].output);
    }
}

/// What the agents write for the sample briefs (outputs, trails, costs,
/// assets), pinned by its digest: a change meant to keep their output (a
/// refactor, a speed-up) keeps it; a change meant to alter it pins anew.
#[test]
fn the_agents_output_for_the_samples_is_pinned() {
    use sha2::{Digest, Sha256};
    let wss = workspaces();
    let mut h = Sha256::new();
    let mut n = 0;
    for b in briefs() {
        for (agent, o) in run_all(&wss[&b.workspace], &b.value) {
            let assets: Vec<(&str, &[u8])> = o
                .assets
                .iter()
                .map(|a| (a.name.as_str(), a.bytes.as_slice()))
                .collect();
            let all = json!({"brief": b.file, "agent": agent, "output": o.output, "trail": o.trail,
                             "cost": o.cost_micros, "assets": assets});
            h.update(all.to_string().as_bytes());
            n += 1;
        }
    }
    assert!(n >= 30, "only {n} agent outputs");
    assert_eq!(
        hex::encode(h.finalize()),
        "26e3ff8af93b9539e10d16b4a902889090a35f4c3f0837af1587f314168f340d",
        "the agents' output for the sample briefs changed: if that is meant, pin the new digest"
    );
}

#[test]
fn a_different_run_id_reseeds() {
    let wss = workspaces();
    let b = briefs()
        .into_iter()
        .find(|b| b.value.get("products").is_some())
        .expect("a campaign brief");
    let ws = &wss[&b.workspace];
    let mut outputs = Vec::new();
    for run_id in ["run-a", "run-b", "run-c", "run-d"] {
        let input = AgentInput {
            agent: AgentId::ContentProducer,
            run_id,
            step_key: "content_producer",
            step_label: "Content",
            workflow: "campaign-launch",
            workflow_name: "Campaign Launch",
            brief: &b.value,
            workspace: ws,
            prior_steps: &[],
            asset_url_prefix: PREFIX,
            priced_model: MODEL,
        };
        outputs.push(run(&input).expect("runs").output);
    }
    outputs.dedup();
    assert!(outputs.len() > 1, "the seed takes the run id");
}

/// The steps of a Campaign Launch run that reached its report: the agents'
/// real outputs, four decided gates (one rejected, non-blocking) and the
/// actions.
fn campaign_steps(ws: &WorkspaceData, brief: &Value) -> Vec<PriorStep> {
    let outs = run_all(ws, brief);
    let agent_step = |agent: AgentId, label: &str| PriorStep {
        label: label.into(),
        ..prior(agent, &outs[agent.as_str()])
    };
    let gate = |key: &str, label: &str, status: &str, decision: Value| PriorStep {
        key: key.into(),
        label: label.into(),
        kind: "approval_gate".into(),
        agent: None,
        status: status.into(),
        output: if status == "failed" {
            Some(std::sync::Arc::new(
                json!({"feedback": decision["feedback"].clone()}),
            ))
        } else {
            Some(std::sync::Arc::new(json!({})))
        },
        cost_micros: 0,
        decision: Some(decision),
    };
    let action = |key: &str, label: &str, status: &str| PriorStep {
        key: key.into(),
        label: label.into(),
        kind: "action".into(),
        agent: None,
        status: status.into(),
        output: None,
        cost_micros: 0,
        decision: None,
    };
    vec![
        agent_step(AgentId::ListingOptimizer, "Listing Optimizer"),
        agent_step(AgentId::ContentProducer, "Content Producer"),
        agent_step(AgentId::Compliance, "Compliance"),
        agent_step(AgentId::AdCampaignDirector, "Ad Campaign Director"),
        agent_step(AgentId::CreatorOutreach, "Creator Outreach"),
        gate(
            "listings_gate",
            "Listings",
            "succeeded",
            json!({"verdict": "approved", "actor": {"member_id": "alice", "name": "Alice Moreau"}, "at": "2026-04-20T10:00:00Z", "comment": "Use option B for the duvet <b>please</b>", "feedback": null}),
        ),
        gate(
            "publish_gate",
            "Publish",
            "succeeded",
            json!({"verdict": "approved", "actor": {"member_id": "alice", "name": "Alice Moreau"}, "at": "2026-04-20T10:05:00Z", "comment": null, "feedback": null}),
        ),
        gate(
            "ad_spend_gate",
            "Ad Spend",
            "succeeded",
            json!({"verdict": "approved", "actor": {"member_id": "olivia", "name": "Olivia Chen"}, "at": "2026-04-20T11:00:00Z", "comment": "Fine for five days; review CPC on day 3.", "feedback": null}),
        ),
        gate(
            "outreach_gate",
            "Outreach",
            "failed",
            json!({"verdict": "rejected", "actor": {"member_id": "olivia", "name": "Olivia Chen"}, "at": "2026-04-20T11:30:00Z", "comment": null, "feedback": "Too long for Pinterest; hold Devon until the price question is settled."}),
        ),
        action("publish_listings", "Publish listings", "succeeded"),
        action("post", "Post", "succeeded"),
        action("launch_ads", "Launch ads", "succeeded"),
        action("send_dms", "Send DMs", "skipped"),
    ]
}

#[test]
fn synthesis_reports_decisions_comments_rejections_and_cost() {
    let wss = workspaces();
    let b = briefs()
        .into_iter()
        .find(|b| b.file.contains("campaign-launch"))
        .expect("a campaign brief");
    let ws = &wss[&b.workspace];
    let steps = campaign_steps(ws, &b.value);
    let prior_total: i64 = steps.iter().map(|s| s.cost_micros).sum();
    let input = AgentInput {
        agent: AgentId::Synthesis,
        run_id: RUN_ID,
        step_key: "synthesis",
        step_label: "Run report",
        workflow: "campaign-launch",
        workflow_name: "Campaign Launch",
        brief: &b.value,
        workspace: ws,
        prior_steps: &steps,
        asset_url_prefix: PREFIX,
        priced_model: "claude-haiku-4-5",
    };
    let o = run(&input).expect("synthesis runs");
    let md = s(&o.output, "/markdown");
    assert!(
        md.starts_with(&format!(
            "# Campaign Launch: {}",
            b.value["title"].as_str().unwrap_or("")
        )),
        "{md}"
    );
    assert!(md.contains(b.value["goal"].as_str().unwrap_or("")));
    assert!(md.contains("Alice Moreau") && md.contains("Olivia Chen"));
    assert!(md.contains("Fine for five days; review CPC on day 3."));
    assert!(
        md.contains("Use option B for the duvet &lt;b&gt;please&lt;/b&gt;"),
        "comments quoted, HTML escaped"
    );
    assert!(!md.contains("<b>"));
    assert!(md.contains("## Partial failures"));
    assert!(md.contains("Too long for Pinterest; hold Devon until the price question is settled."));
    assert!(md.contains("Send DMs**: skipped"));
    assert!(md.contains("Launch ads**: ran"));
    for st in &steps {
        assert!(
            md.contains(&format!("| {} |", st.label)),
            "cost row for {}",
            st.label
        );
    }
    let comments = a(&o.output, "/approver_comments");
    assert_eq!(comments.len(), 2);
    assert_eq!(s(&comments[0], "/step_label"), "Listings");
    assert_eq!(s(&comments[0], "/actor"), "Alice Moreau");
    assert_eq!(
        s(&comments[1], "/comment"),
        "Fine for five days; review CPC on day 3."
    );
    let rejections = a(&o.output, "/rejections");
    assert_eq!(rejections.len(), 1);
    assert_eq!(s(&rejections[0], "/step_label"), "Outreach");
    assert_eq!(
        s(&rejections[0], "/feedback"),
        "Too long for Pinterest; hold Devon until the price question is settled."
    );
    let total = o.output["cost_usd"].as_f64().expect("cost");
    assert!(o.cost_micros > 0);
    assert_eq!((total * 1e6).round() as i64, prior_total + o.cost_micros);
    assert!(
        md.contains(&format!("**{:.4}**", (prior_total + o.cost_micros) as f64 / 1e6)),
        "total in the table"
    );
    assert!(md.contains(&format!(
        "| Run report (this report) | synthesis | succeeded | {:.4} |",
        o.cost_micros as f64 / 1e6
    )));
    // Haiku prices.
    let e = &o.trail[0];
    let micros = e["input_tokens"].as_i64().unwrap_or(0) + e["output_tokens"].as_i64().unwrap_or(0) * 5;
    assert_eq!(micros, o.cost_micros);
}

#[test]
fn missing_fields_and_unknown_products_are_errors() {
    let wss = workspaces();
    let ws = &wss["demo"];
    let no_products = json!({"title": "x", "goal": "y", "budget_usd_per_day": 10, "campaign_days": 3});
    for agent in [
        AgentId::ListingOptimizer,
        AgentId::ContentProducer,
        AgentId::AdCampaignDirector,
        AgentId::CreatorOutreach,
    ] {
        assert!(
            matches!(
                call(agent, ws, &no_products, &[]),
                Err(AgentError::MissingBriefField("products"))
            ),
            "{agent:?}"
        );
    }
    let unknown = json!({"title": "x", "goal": "y", "products": ["lnl-nope"], "budget_usd_per_day": 10, "campaign_days": 3});
    assert!(
        matches!(call(AgentId::ListingOptimizer, ws, &unknown, &[]), Err(AgentError::UnknownProduct(p)) if p == "lnl-nope")
    );
    let rival_product = json!({"title": "x", "goal": "y", "products": ["ckc-diner-mug"], "budget_usd_per_day": 10, "campaign_days": 3});
    assert!(matches!(
        call(AgentId::ContentProducer, ws, &rival_product, &[]),
        Err(AgentError::UnknownProduct(_))
    ));
    let no_budget = json!({"title": "x", "goal": "y", "products": ["lnl-duvet-cover"], "campaign_days": 3});
    assert!(matches!(
        call(AgentId::AdCampaignDirector, ws, &no_budget, &[]),
        Err(AgentError::MissingBriefField("budget_usd_per_day"))
    ));
    let no_days =
        json!({"title": "x", "goal": "y", "products": ["lnl-duvet-cover"], "budget_usd_per_day": 10});
    assert!(matches!(
        call(AgentId::AdCampaignDirector, ws, &no_days, &[]),
        Err(AgentError::MissingBriefField("campaign_days"))
    ));
    assert!(matches!(
        call(AgentId::Compliance, ws, &no_days, &[]),
        Err(AgentError::MissingUpstream("content_producer"))
    ));
    assert!(matches!(
        call(AgentId::NextMoveRecommender, ws, &no_days, &[]),
        Err(AgentError::MissingUpstream("comment_triage"))
    ));
}

#[test]
fn odd_budgets_split_exactly() {
    let wss = workspaces();
    let ws = &wss["rival"];
    for (budget, days) in [
        (0.01, 1),
        (0.03, 7),
        (1.0, 90),
        (33.33, 3),
        (47.99, 13),
        (150.0, 10),
        (9999.99, 90),
        (12.345, 2),
    ] {
        let brief = json!({"title": "Budget", "goal": "Test", "products": ["ckc-diner-mug"], "budget_usd_per_day": budget, "campaign_days": days});
        let o = call(AgentId::AdCampaignDirector, ws, &brief, &[]).expect("runs");
        let daily = (budget * 100.0_f64).round() as i64;
        let campaigns = a(&o.output, "/campaigns");
        assert!(!campaigns.is_empty() && campaigns.len() <= 4);
        if daily >= 2 {
            assert!(campaigns.len() >= 2, "{budget}");
        }
        let sum: i64 = campaigns.iter().map(|c| cents(&c["daily_budget_usd"])).sum();
        let total: i64 = campaigns.iter().map(|c| cents(&c["total_usd"])).sum();
        assert_eq!(sum, daily, "{budget}");
        assert_eq!(total, daily * days, "{budget} × {days}");
        assert_eq!(cents(&o.output["total_usd"]), daily * days);
    }
}
