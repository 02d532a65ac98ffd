//! The approver agent through the API: predictions that quote past
//! feedback, pre-edits an approver can send, shadow-mode statistics, the
//! history's export, and auto-approve only where opted in and within policy.

use greenlight_core::ids::WorkspaceId;
use greenlight_core::model::{ApproverSettings, AutoApprove, Verdict};
use greenlight_tests::approver::*;
use greenlight_tests::*;
use serde_json::{Value, json};
use std::time::Duration;

async fn card(app: &TestApp, token: &str, step_id: &str) -> Value {
    let (status, card) = app
        .get(token, &format!("/api/dashboard/approvals/{step_id}"))
        .await;
    assert_eq!(status, 200, "{card}");
    card
}

#[tokio::test]
async fn a_pattern_rejected_before_is_predicted_with_its_feedback_and_the_edit_reaches_the_outbox() {
    let app = TestApp::spawn().await;
    let (fran, run_id, run) = hashtag_launch(&app).await;
    let gate = step_id(&run, "publish_gate");
    let c = card(&app, &fran, &gate).await;
    assert_eq!(
        c["proposal"]["hashtags"].as_array().unwrap().len(),
        5,
        "the agent proposes five: {c}"
    );
    let s = &c["suggestion"];
    assert_eq!(s["predicted_verdict"], "reject", "{s:#}");
    assert!(s["confidence"].as_f64().unwrap() > 0.7, "{s:#}");
    assert_eq!(s["learnt_from"], 48);
    let reasons: Vec<&str> = s["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains(TOO_MANY)),
        "the past feedback is quoted: {reasons:#?}"
    );
    assert!(reasons.iter().any(|r| r.contains("hashtags")), "{reasons:#?}");
    // The pre-edit takes the hashtags down to what people approved, signature first.
    let edited = &s["edited_proposal"];
    let tags = edited["hashtags"].as_array().expect("an edited proposal");
    assert_eq!(tags.len(), 3, "{edited:#}");
    assert_eq!(tags[0], "#LinenAndLoom");
    assert_eq!(edited["text"], c["proposal"]["text"], "the text needed no edit");
    assert!(
        s["edits"][0].as_str().unwrap().contains("hashtags from 5 to 3"),
        "{s:#}"
    );
    assert_eq!(
        s["edited_proposal_digest"],
        json!(greenlight_core::proposal::digest(edited))
    );
    // The other cards, with no history, carry no suggestion.
    assert_eq!(
        card(&app, &fran, &step_id(&run, "listings_gate")).await["suggestion"],
        Value::Null
    );

    // An edit that does not fit the proposal's shape is refused, naming the field; nothing changes.
    for (bad, field) in [
        (
            json!({"text": "x", "hashtags": ["#a"], "extra": 1}),
            "post_caption.extra",
        ),
        (json!({"text": "  ", "hashtags": []}), "post_caption.text"),
        (json!({"text": "x", "hashtags": [1]}), "post_caption.hashtags[0]"),
        (json!("just text"), "post_caption must be an object"),
    ] {
        let (status, body) = app
            .post(
                &fran,
                &format!("/api/dashboard/approvals/{gate}/approve"),
                json!({"edited_proposal": bad}),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(field),
            "{body}"
        );
    }
    assert_eq!(card(&app, &fran, &gate).await["status"], "waiting_for_approval");
    // A rejection cannot carry an edit.
    let (status, body) = app
        .post(
            &fran,
            &format!("/api/dashboard/approvals/{gate}/reject"),
            json!({"feedback": "no", "edited_proposal": edited}),
        )
        .await;
    assert_eq!(status, 400, "{body}");

    // Approving with the suggested edit: the action sends the edit.
    let (status, body) = app
        .post(
            &fran,
            &format!("/api/dashboard/approvals/{gate}/approve"),
            json!({"edited_proposal": edited, "proposal_digest": c["proposal_digest"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let sent = app.outbox_item(&fran, &run_id, "post").await;
    assert_eq!(sent["payload"]["post_caption"], *edited, "{sent:#}");
    // The decided card says what was approved and sent.
    let decided = card(&app, &fran, &gate).await;
    assert_eq!(decided["approved_edit"], *edited);
    assert_eq!(
        decided["proposal"], c["proposal"],
        "the proposal stays what was shown"
    );

    // The history keeps the original, the edit with its digest, and the prediction.
    let (status, h) = app
        .get(
            &fran,
            "/api/approver/history?workflow=campaign-launch&gate=publish_gate&limit=1",
        )
        .await;
    assert_eq!(status, 200, "{h}");
    let d = &h["decisions"][0];
    assert_eq!(d["step_id"], gate);
    assert_eq!(d["verdict"], "approved");
    assert_eq!(d["proposal"], c["proposal"]);
    assert_eq!(d["proposal_digest"], c["proposal_digest"]);
    assert_eq!(d["edited_proposal"], *edited);
    assert_eq!(d["edited_proposal_digest"], s["edited_proposal_digest"]);
    assert_eq!(d["prediction"]["predicted_verdict"], "reject");
    assert_eq!(d["actor"]["member_id"], "fran");
    assert!(h["next_cursor"].is_string(), "48 more behind it");

    // Shadow mode: the person approved what the agent predicted rejected.
    let (status, stats) = app.get(&fran, "/api/approver/stats").await;
    assert_eq!(status, 200, "{stats}");
    let g = stats["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["gate"] == "publish_gate" && g["workflow"] == "campaign-launch")
        .unwrap();
    assert_eq!(g["decisions"], 49, "{g}");
    // The approval with an edit taught both ways: the edit approved, the original not.
    assert_eq!(g["learnt_from"], 50, "{g}");
    assert_eq!(g["predicted"], 1, "{g}");
    assert_eq!(g["agreement"], 0.0, "{g}");
    assert_eq!(g["precision"], 0.0, "{g}");
    assert_eq!(
        g["recall"],
        Value::Null,
        "no person rejected a predicted card yet: {g}"
    );
    assert_eq!(g["auto_approve"], Value::Null);

    // The history API names what is wrong.
    let (status, body) = app
        .get(&fran, "/api/approver/history?workflow=campaign-launch")
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("gate"),
        "{body}"
    );
    let (status, body) = app
        .get(&fran, "/api/approver/history?workflow=campaign-launch&gate=post")
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not an approval gate"),
        "{body}"
    );
    // And another workspace sees none of it.
    let (_, other) = app
        .get(
            OLIVIA,
            "/api/approver/history?workflow=campaign-launch&gate=publish_gate&limit=200",
        )
        .await;
    assert!(
        other["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["step_id"] != gate)
    );
}

/// A new workspace `id` with the demo brand and this spend cap, and its
/// member Fran's token. Its history has every gate's proposals approved many
/// times and rejected a few times with emoji added: the agent predicts
/// approval of the same proposals, confidently.
async fn approving_workspace(app: &TestApp, id: &str, spend_cap_usd: f64) -> (WorkspaceId, String) {
    let ws = fresh_workspace(app, id, spend_cap_usd).await;
    let token = tok(id, FRAN);
    let (_, run) = app.launch(&token, "demo-campaign-launch-spring-linen").await;
    let mut entries = Vec::new();
    let mut n = 0;
    for gate in ["listings_gate", "publish_gate", "ad_spend_gate", "outreach_gate"] {
        let c = card(app, &token, &step_id(&run, gate)).await;
        assert_eq!(c["suggestion"], Value::Null, "no history yet");
        for i in 0..30 {
            n += 1;
            if i % 6 == 0 {
                let mut emoji = c["proposal"].clone();
                add_emoji(&mut emoji);
                entries.push(past(gate, n, emoji, Verdict::Rejected, Some("No emoji, ever.")));
            } else {
                entries.push(past(gate, n, c["proposal"].clone(), Verdict::Approved, None));
            }
        }
    }
    app.local.app.import_history(&ws, &entries).await.unwrap();
    (ws, token)
}

/// Emoji in place of each long text's first three characters: the same
/// length, so only the emoji tell the rejected apart.
fn add_emoji(v: &mut Value) {
    match v {
        Value::String(s) if s.chars().count() > 20 && !s.starts_with('/') => {
            *s = format!("✨🎉🔥{}", s.chars().skip(3).collect::<String>())
        }
        Value::Array(items) => items.iter_mut().for_each(add_emoji),
        Value::Object(m) => m.iter_mut().for_each(|(_, v)| add_emoji(v)),
        _ => {}
    }
}

async fn set_auto(app: &TestApp, ws: &WorkspaceId, gates: &[(&str, f64, bool)]) {
    app.local
        .app
        .store()
        .put_approver_settings(
            ws,
            &ApproverSettings {
                auto_approve: gates
                    .iter()
                    .map(|(g, t, spend)| AutoApprove {
                        workflow: "campaign-launch".into(),
                        gate: (*g).into(),
                        threshold: *t,
                        spend: *spend,
                    })
                    .collect(),
            },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn without_an_opt_in_nothing_is_ever_auto_approved() {
    let app = TestApp::spawn().await;
    let (_, fran) = approving_workspace(&app, "quiet", 5000.0).await;
    for brief in [
        "demo-campaign-launch-spring-linen",
        "demo-campaign-launch-napkin-restock",
    ] {
        let (_, run) = app.launch(&fran, brief).await;
        for gate in ["listings_gate", "publish_gate", "ad_spend_gate", "outreach_gate"] {
            let c = card(&app, &fran, &step_id(&run, gate)).await;
            assert_eq!(
                c["suggestion"]["predicted_verdict"], "approve",
                "{gate}: {:#}",
                c["suggestion"]
            );
            assert!(
                c["suggestion"]["confidence"].as_f64().unwrap() > 0.9,
                "{brief} {gate}: {:#}",
                c["suggestion"]
            );
        }
        // Give an auto-approval every chance to happen; none does.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            waiting(&app.run(&fran, run["run_id"].as_str().unwrap()).await).len(),
            4
        );
    }
    let (_, audit) = app.get(&fran, "/api/audit?limit=200").await;
    assert!(audit["entries"].as_array().unwrap().is_empty(), "{audit:#}");
    let (_, stats) = app.get(&fran, "/api/approver/stats").await;
    for g in stats["gates"].as_array().unwrap() {
        assert_eq!(g["auto_approve"], Value::Null);
        assert_eq!(g["auto_approved"], 0);
    }
}

#[tokio::test]
async fn auto_approval_is_an_ordinary_decision_within_every_policy() {
    let app = TestApp::spawn().await;
    let (ws, fran) = approving_workspace(&app, "auto", 5000.0).await;
    set_auto(
        &app,
        &ws,
        &[
            ("listings_gate", 0.9, false),
            ("publish_gate", 0.9, false),
            ("ad_spend_gate", 0.9, false),
        ],
    )
    .await;
    // Spring linen: $300 of ads, under the ops-lead threshold.
    let run_id = app.start_launch(&fran, "demo-campaign-launch-spring-linen").await;
    let run = app
        .wait_run(
            &fran,
            &run_id,
            "listings and publish auto-approved, the rest waiting",
            |r| {
                step(r, "listings_gate")["status"] == "succeeded"
                    && step(r, "publish_gate")["status"] == "succeeded"
                    && waiting(r).len() == 2
            },
        )
        .await;
    // Spend needs its own opt-in; a gate not opted in is left to a person.
    let waiting_now = waiting(&run);
    assert!(
        waiting_now.contains(&"ad_spend_gate".to_string()),
        "{waiting_now:?}"
    );
    assert!(
        waiting_now.contains(&"outreach_gate".to_string()),
        "{waiting_now:?}"
    );
    for gate in ["listings_gate", "publish_gate"] {
        let id = step_id(&run, gate);
        let audit = app.audit_of(&fran, &id).await;
        assert_eq!(audit.len(), 1, "{audit:#?}");
        assert_eq!(audit[0]["actor"]["member_id"], "approver-agent");
        assert_eq!(audit[0]["action"], "approval.approved");
        let c = card(&app, &fran, &id).await;
        assert_eq!(c["decision"]["actor"]["member_id"], "approver-agent");
        assert!(
            c["decision"]["comment"].as_str().unwrap().contains("confidence"),
            "{c:#}"
        );
        let (_, events) = app.get(&fran, &format!("/api/runs/{run_id}/events")).await;
        assert!(
            events["events"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["type"] == "approval.approved"
                    && e["data"]["step_key"] == gate
                    && e["data"]["actor"]["member_id"] == "approver-agent"),
            "{events:#}"
        );
        // Bound to the digest of what it predicted on.
        let (_, h) = app
            .get(
                &fran,
                &format!("/api/approver/history?workflow=campaign-launch&gate={gate}&limit=1"),
            )
            .await;
        assert_eq!(h["decisions"][0]["proposal_digest"], c["proposal_digest"]);
        assert_eq!(h["decisions"][0]["actor"]["member_id"], "approver-agent");
    }
    // Their actions ran on the agent's approval.
    app.outbox_item(&fran, &run_id, "publish_listings").await;
    app.outbox_item(&fran, &run_id, "post").await;

    // With spend opted in: the holiday table's $1,500 needs an ops-lead, so no.
    set_auto(&app, &ws, &[("ad_spend_gate", 0.9, true)]).await;
    let (holiday, run) = app.launch(&fran, "demo-campaign-launch-holiday-table").await;
    let c = card(&app, &fran, &step_id(&run, "ad_spend_gate")).await;
    assert_eq!(c["required_role"], "ops-lead");
    // It would have qualified but for the role.
    assert_eq!(
        c["suggestion"]["predicted_verdict"], "approve",
        "{:#}",
        c["suggestion"]
    );
    assert!(
        c["suggestion"]["confidence"].as_f64().unwrap() >= 0.9,
        "{:#}",
        c["suggestion"]
    );
    assert_eq!(c["suggestion"]["rule_breaks"], json!([]), "{:#}", c["suggestion"]);
    // Spring linen's $300 needs no role: approved, and reserved against the cap.
    let spring = app.start_launch(&fran, "demo-campaign-launch-spring-linen").await;
    app.wait_run(&fran, &spring, "ad spend auto-approved", |r| {
        step(r, "ad_spend_gate")["status"] == "succeeded" && waiting(r).len() == 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let run = app.run(&fran, &holiday).await;
    assert_eq!(
        step(&run, "ad_spend_gate")["status"],
        "waiting_for_approval",
        "a role gate is never auto-approved"
    );

    // The spend cap: a workspace with $200 a month left gets no $300
    // auto-approval. (Spend beyond what is left is a rule break the agent
    // sees before it decides; `decide`'s own cap check stands behind it.)
    let (tight, tight_fran) = approving_workspace(&app, "tight", 200.0).await;
    set_auto(&app, &tight, &[("ad_spend_gate", 0.9, true)]).await;
    let (capped, _) = app.launch(&tight_fran, "demo-campaign-launch-spring-linen").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let run = app.run(&tight_fran, &capped).await;
    assert_eq!(step(&run, "ad_spend_gate")["status"], "waiting_for_approval");
    let c = card(&app, &tight_fran, &step_id(&run, "ad_spend_gate")).await;
    assert!(
        c["suggestion"]["rule_breaks"].to_string().contains("monthly cap"),
        "{:#}",
        c["suggestion"]
    );
    let (_, audit) = app.get(&tight_fran, "/api/audit?limit=200").await;
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"]["member_id"] != "approver-agent"),
        "{audit:#}"
    );

    // Stats count the agent's approvals and show the settings.
    let (_, stats) = app.get(&fran, "/api/approver/stats").await;
    let spend = stats["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["gate"] == "ad_spend_gate")
        .unwrap();
    assert_eq!(spend["auto_approved"], 1, "{spend}");
    // Its own approvals are not training data.
    let listings = stats["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["gate"] == "listings_gate")
        .unwrap();
    assert_eq!(listings["decisions"], 31, "{listings}");
    assert_eq!(listings["learnt_from"], 30, "{listings}");
    assert_eq!(spend["auto_approve"]["spend"], true);
}

#[tokio::test]
async fn a_predicted_rejection_is_never_auto_rejected() {
    let app = TestApp::spawn().await;
    let ws = fresh_workspace(&app, "strict", 5000.0).await;
    hashtag_history(&app, &ws).await;
    set_auto(&app, &ws, &[("publish_gate", 0.5, false)]).await;
    let fran = tok("strict", FRAN);
    let (run_id, run) = app.launch(&fran, "demo-campaign-launch-holiday-table").await;
    let c = card(&app, &fran, &step_id(&run, "publish_gate")).await;
    assert_eq!(c["suggestion"]["predicted_verdict"], "reject");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let run = app.run(&fran, &run_id).await;
    assert_eq!(step(&run, "publish_gate")["status"], "waiting_for_approval");
    assert_eq!(run["status"], "running");
}

#[tokio::test]
async fn the_sample_brands_arrive_with_their_synthetic_history() {
    let app = TestApp::spawn().await;
    let (_, stats) = app.get(RITA, "/api/approver/stats").await;
    let gates = stats["gates"].as_array().unwrap();
    let publish = gates.iter().find(|g| g["gate"] == "publish_gate").unwrap();
    assert_eq!(publish["decisions"], 150, "{publish}");
    assert_eq!(publish["learnt_from"], 150, "{publish}");
    let (_, h) = app
        .get(
            RITA,
            "/api/approver/history?workflow=campaign-launch&gate=publish_gate&limit=5",
        )
        .await;
    assert!(
        h["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["synthetic"] == true)
    );
    // A card of a sample brand gets a suggestion out of the box.
    let (_, run) = app.launch(RITA, "rival-campaign-launch-autumn-roast").await;
    let c = card(&app, RITA, &step_id(&run, "publish_gate")).await;
    assert!(c["suggestion"]["predicted_verdict"].is_string(), "{c:#}");
    assert_eq!(c["suggestion"]["learnt_from"], 150);
}

/// A language model stand-in: answers every edit with `answer(proposal)`
/// and keeps the requests.
struct Scripted {
    answer: fn(&Value) -> Value,
    seen: std::sync::Mutex<Vec<greenlight_core::ports::EditRequest>>,
}

#[async_trait::async_trait]
impl greenlight_core::ports::ProposalEditor for Scripted {
    async fn edit(
        &self,
        req: &greenlight_core::ports::EditRequest,
    ) -> Result<greenlight_core::ports::EditAnswer, String> {
        self.seen.lock().unwrap().push(req.clone());
        Ok(greenlight_core::ports::EditAnswer {
            proposal: (self.answer)(&req.proposal),
            model: "scripted-model".into(),
            cost_micros: 2_500,
        })
    }
}

async fn with_editor(answer: fn(&Value) -> Value) -> (TestApp, std::sync::Arc<Scripted>) {
    let editor = std::sync::Arc::new(Scripted {
        answer,
        seen: std::sync::Mutex::new(Vec::new()),
    });
    let e = editor.clone();
    let app = TestApp::spawn_configured(Vec::new(), move |o| o.editor = Some(e)).await;
    (app, editor)
}

#[tokio::test]
async fn a_language_model_rewrites_the_proposal_from_the_past_feedback() {
    let (app, editor) = with_editor(|p| {
        let mut p = p.clone();
        p["text"] = json!("Linen for slow mornings. Softer with every wash.");
        p
    })
    .await;
    let (fran, _, run) = hashtag_launch(&app).await;
    let c = card(&app, &fran, &step_id(&run, "publish_gate")).await;
    let s = &c["suggestion"];
    assert_eq!(s["predicted_verdict"], "reject");
    // The model got the rules' edit, the feedback and the brand's rules.
    let seen = editor.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "only the predicted rejection is rewritten");
    assert_eq!(seen[0].feedback, vec![TOO_MANY.to_string()]);
    assert_eq!(seen[0].proposal["hashtags"].as_array().unwrap().len(), 3);
    assert!(
        seen[0].brand_rules.iter().any(|r| r.contains("No emoji")),
        "{:?}",
        seen[0].brand_rules
    );
    assert_eq!(seen[0].gate_label, "Publish");
    // Its rewrite is the suggestion's edit, with its own digest.
    assert_eq!(
        s["edited_proposal"]["text"],
        "Linen for slow mornings. Softer with every wash."
    );
    assert_eq!(s["edited_proposal"]["hashtags"].as_array().unwrap().len(), 3);
    assert_eq!(
        s["edited_proposal_digest"],
        json!(greenlight_core::proposal::digest(&s["edited_proposal"]))
    );
    assert!(
        s["edits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e.as_str().unwrap().contains("scripted-model")),
        "{s:#}"
    );
    // What the model's rewrite cost is the gate step's compute cost.
    let run = app.run(&fran, run["run_id"].as_str().unwrap()).await;
    assert_eq!(
        step(&run, "publish_gate")["cost_usd"],
        0.0025,
        "{:#}",
        step(&run, "publish_gate")
    );
}

#[tokio::test]
async fn a_rewrite_of_another_shape_is_not_used() {
    let (app, _) =
        with_editor(|p| json!({"text": p["text"], "hashtags": p["hashtags"], "cta": "Buy now"})).await;
    let (fran, _, run) = hashtag_launch(&app).await;
    let s = card(&app, &fran, &step_id(&run, "publish_gate")).await["suggestion"].clone();
    // The rules' edit stands; the refusal is said.
    assert_eq!(s["edited_proposal"]["hashtags"].as_array().unwrap().len(), 3);
    assert!(s["edited_proposal"].get("cta").is_none());
    assert!(
        s["could_not"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c.as_str().unwrap().contains("post_caption.cta")),
        "{s:#}"
    );
}

/// A gate task run again while its approval waits (a retry, or a twin that
/// lost a race) keeps the card as it was, and auto-approve then acts on
/// that card's suggestion, once.
#[tokio::test]
async fn a_gate_opened_again_keeps_its_card_and_auto_approves_it_once() {
    let app = TestApp::spawn().await;
    let (ws, fran) = approving_workspace(&app, "again", 5000.0).await;
    // Not opted in yet: the gate waits for a person.
    let (run_id, run) = app.launch(&fran, "demo-campaign-launch-spring-linen").await;
    let gate = step_id(&run, "publish_gate");
    let before = card(&app, &fran, &gate).await;
    assert_eq!(before["suggestion"]["predicted_verdict"], "approve", "{before:#}");
    set_auto(&app, &ws, &[("publish_gate", 0.9, false)]).await;
    // The gate's task again, as a retry runs it (with a new token), and
    // the audit log's entries for the gate afterwards.
    let open_again = |token: &'static str| {
        let (app, run_id, gate, fran) = (&app, &run_id, &gate, &fran);
        async move {
            let out = app
                .local
                .app
                .handle_task(
                    "ApprovalGateFunctionArn",
                    &json!({"run_id": run_id, "step_key": "publish_gate", "task_token": token}),
                )
                .await
                .expect("the gate task");
            let (_, audit) = app.get(fran, "/api/audit?limit=200").await;
            let entries: Vec<Value> = audit["entries"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["step_id"] == gate.as_str())
                .cloned()
                .collect();
            (out, entries)
        }
    };
    let (out, decided) = open_again("a-retried-task").await;
    assert_eq!(out["gate"], "StillWaiting", "{out}");
    // Auto-approved once, as the agent, on the card the queue kept.
    assert_eq!(decided.len(), 1, "{decided:#?}");
    assert_eq!(decided[0]["action"], "approval.approved", "{decided:#?}");
    assert_eq!(decided[0]["actor"]["member_id"], "approver-agent", "{decided:#?}");
    let after = card(&app, &fran, &gate).await;
    assert_eq!(after["suggestion"], before["suggestion"]);
    assert_eq!(after["proposal_digest"], before["proposal_digest"]);
    // Run again: nothing is decided twice.
    let (out, decided) = open_again("a-second-retry").await;
    assert_eq!(decided.len(), 1, "{out}: {decided:#?}");
}

/// Eight readers of four due models at once (the stats, which wait for the
/// model that knows every decision) train each model once, not eight times.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_model_is_trained_once_however_many_ask_for_it_at_once() {
    let app = TestApp::spawn().await;
    let (ws, _) = approving_workspace(&app, "once", 10_000.0).await;
    let fran = app
        .local
        .app
        .store()
        .get_member(&ws, &greenlight_core::ids::MemberId::parse("fran").unwrap())
        .await
        .unwrap()
        .expect("fran is a member");
    let before = app.local.app.models_trained();
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let (core, fran) = (app.local.app.clone(), fran.clone());
            tokio::spawn(async move { core.approver_stats(&fran).await })
        })
        .collect();
    for r in futures::future::join_all(readers).await {
        let stats = r.expect("the reader ran").expect("the stats");
        let learnt: Vec<usize> = stats.iter().map(|g| g.learnt_from).filter(|&n| n > 0).collect();
        assert_eq!(learnt, vec![30; 4], "every reader sees the four trained models");
    }
    assert_eq!(app.local.app.models_trained() - before, 4);
}
