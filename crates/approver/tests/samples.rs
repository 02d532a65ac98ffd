//! The approver agent on the sample brands' synthetic histories, with a
//! time-ordered split: the targets the README quotes.

use greenlight_approver::{Example, SpendContext, Verdict, evaluate};
use serde_json::Value;
use std::path::PathBuf;

fn samples() -> PathBuf {
    let mut dir = std::env::current_dir().expect("a working directory");
    loop {
        if dir.join("samplesdata/workspaces").is_dir() {
            return dir.join("samplesdata/workspaces");
        }
        assert!(dir.pop(), "no samplesdata/ above the working directory");
    }
}

fn load(ws: &str) -> (greenlight_agents::BrandProfile, Vec<(String, Example)>) {
    let dir = samples().join(ws);
    let brand =
        serde_json::from_str(&std::fs::read_to_string(dir.join("brand-profile.json")).unwrap()).unwrap();
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("decision-history.json")).unwrap()).unwrap();
    assert_eq!(doc["synthetic"], true, "the sample history is labelled synthetic");
    let examples = doc["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["gate"].as_str().unwrap().to_string(),
                Example {
                    proposal: d["proposal"].clone(),
                    context: SpendContext {
                        brief_budget_usd: d["brief_budget_usd"].as_f64(),
                        cap_remaining_usd: d["spend_cap_remaining_usd"].as_f64(),
                    },
                    verdict: if d["verdict"] == "rejected" {
                        Verdict::Reject
                    } else {
                        Verdict::Approve
                    },
                    feedback: d["feedback"].as_str().map(str::to_string),
                    at: d["at"].as_str().unwrap().to_string(),
                },
            )
        })
        .collect();
    (brand, examples)
}

#[test]
fn each_sample_brand_meets_the_targets_on_a_time_ordered_split() {
    for ws in ["demo", "harbor", "rival"] {
        let (brand, all) = load(ws);
        assert!(all.len() >= 300, "{ws}: {} decisions", all.len());
        let (mut caught, mut alarms, mut missed) = (0, 0, 0);
        // Per threshold: auto-approved and false accepts, over the gates.
        let mut by_threshold = vec![(0usize, 0usize, 0usize); greenlight_approver::eval::THRESHOLDS.len()];
        for gate in ["listings_gate", "publish_gate", "ad_spend_gate", "outreach_gate"] {
            let examples: Vec<Example> = all
                .iter()
                .filter(|(g, _)| g == gate)
                .map(|(_, e)| e.clone())
                .collect();
            let e = evaluate(&brand, &examples, 0.7).unwrap();
            println!(
                "{ws} {gate}: train {} test {} precision {:.3} recall {:.3} agreement {:.3} brier {:.3}",
                e.train, e.test, e.precision, e.recall, e.agreement, e.brier
            );
            for (i, t) in e.thresholds.iter().enumerate() {
                by_threshold[i].0 += t.auto_approved;
                by_threshold[i].1 += t.false_accepts;
                by_threshold[i].2 += e.test;
            }
            caught += e.caught;
            alarms += e.false_alarms;
            missed += e.missed;
        }
        let precision = caught as f64 / (caught + alarms) as f64;
        let recall = caught as f64 / (caught + missed) as f64;
        println!("{ws}: precision {precision:.3} recall {recall:.3}");
        let mut safe = None;
        for (t, (auto, false_accepts, test)) in
            greenlight_approver::eval::THRESHOLDS.iter().zip(&by_threshold)
        {
            let rate = *false_accepts as f64 / (*auto).max(1) as f64;
            println!("  ≥{t:.2}: {auto} of {test} auto-approved, {false_accepts} false ({rate:.3})");
            if safe.is_none() && *auto > 0 && rate <= 0.01 {
                safe = Some(*t);
            }
        }
        assert!(precision >= 0.9, "{ws}: precision {precision:.3}");
        assert!(recall >= 0.6, "{ws}: recall {recall:.3}");
        assert!(
            safe.is_some(),
            "{ws}: no threshold keeps false accepts at 1% or under"
        );
    }
}

#[test]
fn a_pattern_rejected_before_is_predicted_quoted_and_edited_out() {
    let (brand, _) = load("demo");
    let caption = |i: usize, emoji: bool, tags: usize| {
        let mut text = format!("Linen napkins, set {i}. Softer with every wash.");
        if emoji {
            text.push_str(" ✨🌿");
        }
        let tags: Vec<String> = (0..tags).map(|t| format!("#tag{t}")).collect();
        serde_json::json!({"text": text, "hashtags": tags})
    };
    let mut history = Vec::new();
    for i in 0..40 {
        let emoji = i % 3 == 0;
        history.push(Example {
            proposal: caption(i, emoji, 3),
            context: SpendContext::default(),
            verdict: if emoji { Verdict::Reject } else { Verdict::Approve },
            feedback: emoji.then(|| "No emoji, please: it isn't our voice.".to_string()),
            at: format!("2026-10-{:02}T10:00:00.000000Z", 1 + i % 28),
        });
    }
    let model = greenlight_approver::Model::train(&brand, &history).unwrap();
    let card = caption(99, true, 3);
    let p = model.predict(&card, SpendContext::default());
    assert_eq!(p.verdict, Verdict::Reject);
    assert!(p.confidence > 0.8, "{p:?}");
    assert_eq!(p.similar[0].feedback, "No emoji, please: it isn't our voice.");
    assert!(
        p.weighed.iter().any(|w| w.text.contains("emoji")),
        "{:?}",
        p.weighed
    );
    let seen = greenlight_approver::observe(&card, &brand, SpendContext::default());
    let edit = greenlight_approver::pre_edit(&model, &card, &seen, &p).expect("an edit");
    let edited = edit.proposal.expect("an edited proposal");
    let text = edited["text"].as_str().unwrap();
    assert!(!text.contains('✨') && !text.contains('🌿'), "{text}");
    assert!(text.starts_with("Linen napkins, set 99."), "{text}");
    assert_eq!(
        edit.after.as_ref().unwrap().verdict,
        Verdict::Approve,
        "{:?}",
        edit.after
    );
    assert!(edit.edits.iter().any(|e| e.contains("emoji")), "{:?}", edit.edits);
    // A clean caption is predicted approved, with no edit.
    let clean = caption(100, false, 3);
    let p = model.predict(&clean, SpendContext::default());
    assert_eq!(p.verdict, Verdict::Approve);
    let seen = greenlight_approver::observe(&clean, &brand, SpendContext::default());
    assert!(greenlight_approver::pre_edit(&model, &clean, &seen, &p).is_none());
}
