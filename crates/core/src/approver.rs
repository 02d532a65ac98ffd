//! The approver agent in the services: a model per (workspace, workflow,
//! gate) trained from the decision history and cached, the card's
//! suggestion (fixed when the gate opens, so every card is predicted whether
//! or not anyone looks), the shadow-mode statistics, the history's export,
//! and auto-approve where a workspace opted a gate in.

use crate::error::Error;
use crate::ids::*;
use crate::model::*;
use crate::money::Money;
use crate::ports::*;
use crate::proposal;
use crate::service::{DecideRequest, Greenlight};
use crate::time::Timestamp;
use crate::views::*;
use greenlight_approver as ml;
use greenlight_recipes::StepKind;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tracing::{info, warn};

/// A cached model is retrained after this long (another process may have
/// recorded decisions), or once the decisions made here since it was
/// trained reach 1/[`RETRAIN_SHARE`] of those it learnt from (at least one);
/// a gate with too few to learn from is looked at again only once there
/// could be enough.
const MODEL_TTL_SECONDS: i64 = 60;
const RETRAIN_SHARE: usize = 10;
/// A model learns from at most this many of a gate's newest decisions.
pub const MAX_TRAINING: usize = 500;
/// The approver agent's display name.
pub const APPROVER_AGENT_NAME: &str = "Approver agent";

type GateKey = (WorkspaceId, String, String);

/// Decisions recorded at a gate by this process, ever (never reset: a
/// cached model counts those since its history was read by difference).
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    decided: usize,
    rejected: usize,
}

struct Cached {
    model: Option<Arc<ml::Model>>,
    at: Timestamp,
    /// The decisions it was trained on (or found too few), and of them rejections.
    seen: usize,
    rejected: usize,
    /// The gate's tally when its history was read for this model.
    tally_at: Tally,
}

impl Cached {
    /// The decisions recorded here since its history was read.
    fn since(&self, now: Tally) -> Tally {
        Tally {
            decided: now.decided.saturating_sub(self.tally_at.decided),
            rejected: now.rejected.saturating_sub(self.tally_at.rejected),
        }
    }

    /// How many decisions since make a model due.
    fn retrain_after(m: &ml::Model) -> usize {
        (m.learnt_from / RETRAIN_SHARE).max(1)
    }

    /// Whether it is due for retraining.
    fn due(&self, age_seconds: i64, fresh: bool, since: Tally) -> bool {
        if age_seconds >= MODEL_TTL_SECONDS {
            return true;
        }
        if fresh {
            return since.decided > 0;
        }
        match &self.model {
            Some(m) => since.decided >= Cached::retrain_after(m),
            // Too few to learn from: retrain only once there could be enough.
            None => {
                let (n, r) = (self.seen + since.decided, self.rejected + since.rejected);
                since.decided > 0
                    && n >= ml::model::MIN_DECISIONS
                    && r >= ml::model::MIN_PER_VERDICT
                    && n - r >= ml::model::MIN_PER_VERDICT
            }
        }
    }

    /// Whether a card may be given it while its retraining runs: within
    /// twice what makes it due (no model, no suggestion: always).
    fn usable_while_training(&self, age_seconds: i64, since: Tally) -> bool {
        match &self.model {
            Some(m) => age_seconds < 2 * MODEL_TTL_SECONDS && since.decided < 2 * Cached::retrain_after(m),
            None => true,
        }
    }
}

/// The trained models, per (workspace, workflow, gate).
#[derive(Default)]
pub(crate) struct Models {
    cache: Mutex<HashMap<GateKey, Cached>>,
    tally: Mutex<HashMap<GateKey, Tally>>,
    /// Held while a gate's model trains: one training per gate at a time.
    training: Mutex<HashMap<GateKey, Arc<futures::lock::Mutex<()>>>>,
    /// Models trained since the process started (fits that succeeded).
    trained: AtomicUsize,
}

fn age_of(c: &Cached, now: Timestamp) -> i64 {
    now.datetime()
        .signed_duration_since(c.at.datetime())
        .num_seconds()
}

impl Models {
    /// The lock a gate's training holds.
    fn training_lock(&self, key: &GateKey) -> Arc<futures::lock::Mutex<()>> {
        let mut map = self.training.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(key.clone()).or_default().clone()
    }

    fn tally_of(&self, key: &GateKey) -> Tally {
        let tally = self.tally.lock().unwrap_or_else(|e| e.into_inner());
        tally.get(key).copied().unwrap_or_default()
    }

    /// The cached model, unless it is due for retraining (`fresh`: after
    /// any decision since).
    fn get(&self, key: &GateKey, now: Timestamp, fresh: bool) -> Option<Option<Arc<ml::Model>>> {
        let tally = self.tally_of(key);
        let cache = self.cache.lock().ok()?;
        let c = cache.get(key)?;
        (!c.due(age_of(c, now), fresh, c.since(tally))).then(|| c.model.clone())
    }

    /// The cached model while another retrains it, if not too far out of
    /// date (see [`Cached::usable_while_training`]).
    fn in_hand(&self, key: &GateKey, now: Timestamp) -> Option<Option<Arc<ml::Model>>> {
        let tally = self.tally_of(key);
        let cache = self.cache.lock().ok()?;
        let c = cache.get(key)?;
        c.usable_while_training(age_of(c, now), c.since(tally))
            .then(|| c.model.clone())
    }

    fn put(
        &self,
        key: GateKey,
        model: Option<Arc<ml::Model>>,
        at: Timestamp,
        seen: usize,
        rejected: usize,
        tally_at: Tally,
    ) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(
                key,
                Cached {
                    model,
                    at,
                    seen,
                    rejected,
                    tally_at,
                },
            );
        }
    }

    /// A decision was recorded at the gate: its model learns it at the next
    /// retraining (counted even while none is cached, or one trains).
    pub(crate) fn decided(&self, ws: &WorkspaceId, workflow: &str, gate: &str, rejected: bool) {
        let mut tally = self.tally.lock().unwrap_or_else(|e| e.into_inner());
        let t = tally
            .entry((ws.clone(), workflow.to_string(), gate.to_string()))
            .or_default();
        t.decided += 1;
        t.rejected += usize::from(rejected);
    }

    /// Imported decisions: retrain at the next use.
    pub(crate) fn forget(&self, ws: &WorkspaceId, workflow: &str, gate: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(&(ws.clone(), workflow.to_string(), gate.to_string()));
        }
    }
}

/// The brief's whole budget: `budget_usd_per_day` × `campaign_days`.
pub(crate) fn brief_budget(brief: &Value) -> Option<f64> {
    let per_day = brief.get("budget_usd_per_day")?.as_f64()?;
    let days = brief.get("campaign_days")?.as_f64()?;
    Some(per_day * days)
}

/// What a past decision teaches: its proposal with the verdict; for an
/// approval that sent an edit, the edit approved and the original as shown
/// not. The agent's own decisions teach nothing (it would learn from itself).
fn examples_of(e: &HistoryEntry) -> Vec<ml::Example> {
    if e.actor.member_id == APPROVER_AGENT {
        return Vec::new();
    }
    let example = |proposal: &Value, verdict: ml::Verdict| ml::Example {
        proposal: proposal.clone(),
        context: ml::SpendContext {
            brief_budget_usd: e.brief_budget_usd,
            cap_remaining_usd: e.spend_cap_remaining_usd,
        },
        verdict,
        feedback: e.feedback.clone().or_else(|| e.comment.clone()),
        at: e.at.to_string(),
    };
    match (e.verdict, &e.edited_proposal) {
        (Verdict::Approved, Some(edit)) => vec![
            example(edit, ml::Verdict::Approve),
            ml::Example {
                feedback: Some(
                    e.comment
                        .clone()
                        .unwrap_or_else(|| "Approved only as edited.".to_string()),
                ),
                ..example(&e.proposal, ml::Verdict::Reject)
            },
        ],
        (Verdict::Approved, None) => vec![example(&e.proposal, ml::Verdict::Approve)],
        (Verdict::Rejected, _) => vec![example(&e.proposal, ml::Verdict::Reject)],
    }
}

fn verdict_word(v: ml::Verdict) -> &'static str {
    match v {
        ml::Verdict::Approve => "approve",
        ml::Verdict::Reject => "reject",
    }
}

/// A share with three decimals, or `None` of nothing.
fn share(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| ((part as f64 / whole as f64) * 1000.0).round() / 1000.0)
}

/// What the stats and the evaluation need of a gate.
pub struct GateRef {
    pub workflow: String,
    pub gate: String,
    pub label: String,
}

impl Greenlight {
    /// Every gate of every loaded recipe.
    pub fn gates(&self) -> Vec<GateRef> {
        gates_of(self.recipes())
    }

    fn check_gate(&self, workflow: &str, gate: &str) -> Result<(), Error> {
        check_gate_in(self.recipes(), workflow, gate)
    }

    /// A gate's newest decisions, at most `limit`.
    pub async fn history_of(
        &self,
        ws: &WorkspaceId,
        workflow: &str,
        gate: &str,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let mut out = Vec::new();
        let mut cursor = None;
        while out.len() < limit {
            let page = self
                .store()
                .list_history(
                    ws,
                    workflow,
                    gate,
                    &PageRequest {
                        limit: 500.min(limit - out.len()),
                        cursor,
                    },
                )
                .await?;
            out.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        Ok(out)
    }

    /// The gate's model, trained from its history; `None` while the history
    /// is too short to learn from.
    pub(crate) async fn model_for(
        &self,
        ws: &WorkspaceId,
        workflow: &str,
        gate: &str,
        fresh: bool,
    ) -> Result<Option<Arc<ml::Model>>, Error> {
        let key = (ws.clone(), workflow.to_string(), gate.to_string());
        if let Some(m) = self.models().get(&key, self.now(), fresh) {
            return Ok(m);
        }
        // One training per gate at a time. While one runs, a card is given
        // the model in hand if it is not too far out of date; otherwise (or
        // for the stats, which say what the model knows now) the training
        // is waited for.
        let lock = self.models().training_lock(&key);
        // Owned: it goes with the training to its thread, so a call dropped
        // meanwhile does not let a second training of the gate start.
        let training = match lock.try_lock_owned() {
            Some(held) => held,
            None => match self.models().in_hand(&key, self.now()) {
                Some(m) if !fresh => return Ok(m),
                _ => lock.lock_owned().await,
            },
        };
        let now = self.now();
        if let Some(m) = self.models().get(&key, now, fresh) {
            return Ok(m);
        }
        // Read before the history: a decision recorded meanwhile counts
        // toward the next retraining.
        let tally_at = self.models().tally_of(&key);
        let history = self.history_of(ws, workflow, gate, MAX_TRAINING).await?;
        let mut held = None;
        let model = if history.is_empty() {
            held = Some(training);
            None
        } else {
            let workspace = self.workspace(ws).await?;
            let data = workspace.data()?.clone();
            let examples: Vec<ml::Example> = history.iter().flat_map(examples_of).collect();
            // Tens of milliseconds of arithmetic at 500 decisions: on a
            // thread of its own, not on the async worker other requests
            // share (the core runs on no particular runtime).
            let (tx, rx) = futures::channel::oneshot::channel();
            let spawned = std::thread::Builder::new()
                .name("approver-training".into())
                .spawn(move || {
                    let _ = tx.send((ml::Model::train(&data.brand, &examples), training));
                });
            let trained = match spawned {
                Ok(_) => match rx.await {
                    // Held until the model is cached.
                    Ok((trained, training)) => {
                        held = Some(training);
                        trained
                    }
                    Err(_) => Err(ml::TrainError::Fit(
                        "the training stopped before it finished".into(),
                    )),
                },
                Err(e) => Err(ml::TrainError::Fit(format!("no thread to train on: {e}"))),
            };
            match trained {
                Ok(m) => {
                    self.models().trained.fetch_add(1, Ordering::Relaxed);
                    info!(workspace = %ws, workflow, gate, learnt_from = m.learnt_from, "approver model trained");
                    Some(Arc::new(m))
                }
                Err(ml::TrainError::TooFew { .. }) => None,
                Err(e) => {
                    warn!(workspace = %ws, workflow, gate, error = %e, "approver model did not train");
                    None
                }
            }
        };
        let rejected = history.iter().filter(|e| e.verdict == Verdict::Rejected).count();
        self.models()
            .put(key, model.clone(), now, history.len(), rejected, tally_at);
        drop(held);
        Ok(model)
    }

    /// The card's suggestion: the prediction, and for a predicted rejection
    /// the pre-edited proposal; with what a language model's rewrite cost.
    /// `None` without a model; never fails the gate.
    pub(crate) async fn suggest(
        &self,
        run: &Run,
        gate: &greenlight_recipes::Step,
        field: &str,
        proposal: &Value,
        proposed_spend: Option<Money>,
    ) -> Option<(Suggestion, Money)> {
        let (gate, gate_label) = (gate.key.as_str(), gate.label.as_str());
        let model = match self
            .model_for(&run.workspace_id, &run.workflow, gate, false)
            .await
        {
            Ok(Some(m)) => m,
            Ok(None) => return None,
            Err(e) => {
                warn!(run_id = %run.id, gate, error = %e, "no suggestion: the history did not load");
                return None;
            }
        };
        let cap_remaining = match proposed_spend {
            Some(_) => match self.cap_left(&run.workspace_id).await {
                Ok(r) => Some(r.usd()),
                Err(e) => {
                    warn!(run_id = %run.id, gate, error = %e, "no suggestion: the month's spend did not load");
                    return None;
                }
            },
            None => None,
        };
        let context = ml::SpendContext {
            brief_budget_usd: brief_budget(&run.brief),
            cap_remaining_usd: cap_remaining,
        };
        let observed = ml::observe(proposal, model.brand(), context);
        let p = model.predict_observed(&observed);
        let edit = ml::pre_edit(&model, proposal, &observed, &p);
        let mut edited = edit.as_ref().and_then(|e| e.proposal.clone());
        let mut edits = edit.as_ref().map(|e| e.edits.clone()).unwrap_or_default();
        let mut could_not = edit.as_ref().map(|e| e.could_not.clone()).unwrap_or_default();
        let mut after = edit.as_ref().and_then(|e| e.after.clone());
        let mut cost = Money::ZERO;
        // The rules' edit must pass what an approver's would.
        if let Some(e) = &edited
            && let Err(err) = check_rewrite(field, proposal, e)
        {
            warn!(run_id = %run.id, gate, error = %err, "the rules' edit was dropped");
            could_not.push(format!("make its edits ({}): {err}", edits.join("; ")));
            edits.clear();
            edited = None;
            after = None;
        }
        let mut reasons: Vec<String> = p
            .weighed
            .iter()
            .filter(|w| !w.text.is_empty())
            .map(|w| capitalise(&w.text))
            .collect();
        for f in &p.similar {
            reasons.push(format!(
                "Past feedback on a similar proposal ({}): “{}”",
                f.at.get(..10).unwrap_or(&f.at),
                f.feedback
            ));
        }
        if p.verdict == ml::Verdict::Reject
            && let Some(editor) = self.editor()
        {
            let req = EditRequest {
                workflow_name: run.workflow_name.clone(),
                gate_label: gate_label.to_string(),
                field: field.to_string(),
                proposal: edited.clone().unwrap_or_else(|| proposal.clone()),
                feedback: p.similar.iter().map(|f| f.feedback.clone()).collect(),
                reasons: reasons.iter().chain(&could_not).cloned().collect(),
                brand_rules: ml::features::brand_rules(model.brand()),
            };
            match editor.edit(&req).await {
                Ok(answer) => {
                    // Paid for whether or not it is used.
                    cost = Money::from_micros(answer.cost_micros.max(0));
                    let checked = check_rewrite(field, proposal, &answer.proposal);
                    match checked {
                        Ok(()) if answer.proposal != req.proposal => {
                            info!(run_id = %run.id, gate, model = %answer.model, cost_micros = answer.cost_micros, "proposal rewritten for the approver agent");
                            edits.push(format!(
                                "rewrote it with {} from the past feedback and the brand's rules",
                                answer.model
                            ));
                            could_not.clear();
                            // As an approval would keep it (7.0 days is 7).
                            let mut rewritten = answer.proposal;
                            proposal::keep_whole(proposal, &mut rewritten);
                            after = Some(model.predict(&rewritten, context));
                            edited = Some(rewritten);
                        }
                        Ok(()) => {}
                        Err(e) => {
                            warn!(run_id = %run.id, gate, error = %e, "the rewrite was refused");
                            could_not.push(format!("use the language model's rewrite: {e}"));
                        }
                    }
                }
                Err(e) => {
                    warn!(run_id = %run.id, gate, error = %e, "no rewrite");
                    could_not.push(format!("rewrite it with the language model: {e}"));
                }
            }
        }
        if let Some(after) = &after {
            reasons.push(format!(
                "With the edits it predicts {} at {:.0}%.",
                verdict_word(after.verdict),
                after.confidence * 100.0
            ));
        }
        let suggestion = Suggestion {
            predicted_verdict: verdict_word(p.verdict).into(),
            confidence: (p.confidence * 1000.0).round() / 1000.0,
            edited_proposal_digest: edited.as_ref().map(proposal::digest),
            edited_proposal: edited,
            reasons,
            edits,
            could_not,
            similar_feedback: p
                .similar
                .iter()
                .map(|f| PastFeedbackView {
                    feedback: f.feedback.clone(),
                    at: f.at.clone(),
                })
                .collect(),
            rule_breaks: observed.rule_breaks(model.brand()),
            learnt_from: model.learnt_from,
        };
        Some((suggestion, cost))
    }

    /// What is left of the workspace's spend cap this month.
    pub(crate) async fn cap_left(&self, ws: &WorkspaceId) -> Result<Money, Error> {
        let workspace = self.workspace(ws).await?;
        let spent = self.store().month_spend(ws, &self.now().month()).await?;
        Ok(workspace.spend_cap.saturating_sub(spent))
    }

    /// Auto-approve, where the workspace opted this gate in: an ordinary
    /// decision by `approver-agent`, under every policy. Never a rejection;
    /// anything short of a confident approval waits for a person.
    pub(crate) async fn maybe_auto_approve(&self, approval: &Approval) {
        let Some(s) = &approval.suggestion else { return };
        let why_not = async {
            if s.predicted_verdict != "approve" {
                return Some("it predicts a rejection".to_string());
            }
            let settings = match self.store().approver_settings(&approval.workspace_id).await {
                Ok(s) => s,
                Err(e) => return Some(format!("the settings did not load: {e}")),
            };
            let Some(opt) = settings.for_gate(&approval.workflow, approval.step_key.as_str()) else {
                return Some("the gate is not opted in".into());
            };
            if s.confidence < opt.threshold {
                return Some(format!(
                    "confidence {:.3} is under the threshold {}",
                    s.confidence, opt.threshold
                ));
            }
            if let Some(role) = &approval.required_role {
                return Some(format!("the gate needs a person with the {role} role"));
            }
            if approval.proposed_spend.is_some_and(|x| x > Money::ZERO) && !opt.spend {
                return Some("the proposal commits spend and the gate is not opted in for spend".into());
            }
            if !s.rule_breaks.is_empty() {
                return Some(format!(
                    "it breaks the brand's rules: {}",
                    s.rule_breaks.join("; ")
                ));
            }
            None
        }
        .await;
        if let Some(reason) = why_not {
            tracing::debug!(step_id = %approval.step_id, reason, "not auto-approved");
            return;
        }
        let agent = Member {
            workspace_id: approval.workspace_id.clone(),
            id: match MemberId::parse(APPROVER_AGENT) {
                Ok(id) => id,
                Err(_) => return,
            },
            name: APPROVER_AGENT_NAME.into(),
            roles: vec!["member".into()],
        };
        let req = DecideRequest {
            verdict: Verdict::Approved,
            comment: Some(format!(
                "Approved by the approver agent at {:.0}% confidence, learnt from {} decisions.",
                s.confidence * 100.0,
                s.learnt_from
            )),
            feedback: None,
            proposal_digest: Some(approval.proposal_digest.clone()),
            edited_proposal: None,
        };
        match self.decide(&agent, &approval.step_id.to_string(), req).await {
            Ok(_) => info!(step_id = %approval.step_id, confidence = s.confidence, "auto-approved"),
            // The spend cap, a person deciding first, a changed proposal: a person decides.
            Err(e) => info!(step_id = %approval.step_id, error = %e, "not auto-approved"),
        }
    }

    // ---- the API's and the CLI's ------------------------------------------

    /// A gate's decision history, newest first (`GET /api/approver/history`).
    pub async fn history(
        &self,
        member: &Member,
        workflow: &str,
        gate: &str,
        page: &PageRequest,
    ) -> Result<Page<HistoryEntry>, Error> {
        self.check_gate(workflow, gate)?;
        Ok(self
            .store()
            .list_history(&member.workspace_id, workflow, gate, page)
            .await?)
    }

    /// Adds decisions to a workspace's history (sample data, imports).
    pub async fn import_history(&self, ws: &WorkspaceId, entries: &[HistoryEntry]) -> Result<(), Error> {
        for e in entries {
            self.check_gate(&e.workflow, &e.gate)?;
        }
        for chunk in entries.chunks(200) {
            self.store().add_history(ws, chunk).await?;
        }
        for e in entries {
            // Counted too: a model whose history was read before the import
            // (one training now) is due once it is cached.
            self.models()
                .decided(ws, &e.workflow, &e.gate, e.verdict == Verdict::Rejected);
            self.models().forget(ws, &e.workflow, &e.gate);
        }
        Ok(())
    }

    /// How many times the approver agent trained a model since the process
    /// started (the bench reports it).
    pub fn models_trained(&self) -> usize {
        self.models().trained.load(Ordering::Relaxed)
    }

    /// Per gate: what the agent learnt from and how it agreed with people.
    pub async fn approver_stats(&self, member: &Member) -> Result<Vec<GateStats>, Error> {
        let settings = self.store().approver_settings(&member.workspace_id).await?;
        let mut out = Vec::new();
        for g in self.gates() {
            let history = self
                .history_of(&member.workspace_id, &g.workflow, &g.gate, MAX_TRAINING)
                .await?;
            // The stats say what the model knows now: every decision counted.
            let model = self
                .model_for(&member.workspace_id, &g.workflow, &g.gate, true)
                .await?;
            let rejected = history.iter().filter(|e| e.verdict == Verdict::Rejected).count();
            let predicted: Vec<(bool, bool)> = history
                .iter()
                .filter(|e| e.actor.member_id != APPROVER_AGENT)
                .filter_map(|e| {
                    let p = e.prediction.as_ref()?;
                    Some((p.predicted_verdict == "reject", e.verdict == Verdict::Rejected))
                })
                .collect();
            let agree = predicted.iter().filter(|(p, r)| p == r).count();
            let caught = predicted.iter().filter(|(p, r)| *p && *r).count();
            let flagged = predicted.iter().filter(|(p, _)| *p).count();
            let people_rejected = predicted.iter().filter(|(_, r)| *r).count();
            out.push(GateStats {
                auto_approve: settings.for_gate(&g.workflow, &g.gate).cloned(),
                workflow: g.workflow,
                gate: g.gate,
                gate_label: g.label,
                decisions: history.len(),
                rejected,
                learnt_from: model.map(|m| m.learnt_from).unwrap_or(0),
                predicted: predicted.len(),
                agreement: share(agree, predicted.len()),
                precision: share(caught, flagged),
                recall: share(caught, people_rejected),
                auto_approved: history
                    .iter()
                    .filter(|e| e.actor.member_id == APPROVER_AGENT)
                    .count(),
            });
        }
        Ok(out)
    }
}

/// A rewrite is used only if it keeps the proposal's shape and commits no
/// more spend, as an approver's edit must.
fn check_rewrite(field: &str, original: &Value, rewrite: &Value) -> Result<(), String> {
    proposal::check_edit(field, original, rewrite)?;
    let spend = |v: &Value| proposal::spend(v).map(|(t, _)| t).unwrap_or_default();
    if spend(rewrite) > spend(original) {
        return Err(format!(
            "it commits {}, more than the {} proposed",
            spend(rewrite),
            spend(original)
        ));
    }
    Ok(())
}

/// Every gate of every recipe of the book.
pub fn gates_of(recipes: &crate::recipes::RecipeBook) -> Vec<GateRef> {
    let mut out = Vec::new();
    for loaded in recipes.iter() {
        for step in &loaded.recipe.steps {
            if step.kind == StepKind::ApprovalGate {
                out.push(GateRef {
                    workflow: loaded.recipe.id.clone(),
                    gate: step.key.clone(),
                    label: step.label.clone(),
                });
            }
        }
    }
    out
}

/// Checks auto-approve opt-ins: each names a gate of a loaded recipe, with
/// a threshold from 0.5 to 1.0. The error names the entry.
pub fn check_settings(
    recipes: &crate::recipes::RecipeBook,
    settings: &ApproverSettings,
) -> Result<(), Error> {
    for (i, a) in settings.auto_approve.iter().enumerate() {
        check_gate_in(recipes, &a.workflow, &a.gate)
            .map_err(|e| Error::invalid(format!("auto_approve[{i}]"), e.to_string()))?;
        if !(0.5..=1.0).contains(&a.threshold) {
            return Err(Error::invalid(
                format!("auto_approve[{i}].threshold"),
                format!("must be from 0.5 to 1.0, not {}", a.threshold),
            ));
        }
    }
    Ok(())
}

fn check_gate_in(recipes: &crate::recipes::RecipeBook, workflow: &str, gate: &str) -> Result<(), Error> {
    let Some(loaded) = recipes.get(workflow) else {
        return Err(Error::invalid("workflow", format!("no workflow `{workflow}`")));
    };
    match loaded.recipe.step(gate) {
        Some(s) if s.kind == StepKind::ApprovalGate => Ok(()),
        _ => Err(Error::invalid(
            "gate",
            format!("`{gate}` is not an approval gate of {workflow}"),
        )),
    }
}

/// Evaluates a gate's history with a time-ordered split (`greenlight approver eval`).
pub fn evaluate_history(
    brand: &greenlight_agents::BrandProfile,
    entries: &[HistoryEntry],
    train_share: f64,
) -> Result<ml::Evaluation, ml::TrainError> {
    let examples: Vec<ml::Example> = entries.iter().flat_map(examples_of).collect();
    ml::evaluate(brand, &examples, train_share)
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn model(learnt: usize) -> Arc<ml::Model> {
        let brand: greenlight_agents::BrandProfile = serde_json::from_value(json!({
            "brand_name": "Linen & Loom", "tagline": "", "description": "",
            "voice": {"tone": [], "do": [], "dont": [], "sample_phrases": []},
            "banned_words": [], "emoji_policy": "none",
            "hashtags": {"signature": [], "pool": [], "max_per_post": 3},
            "discount_language_allowed": false, "claims_requiring_proof": [],
            "colors": {"primary": "", "secondary": "", "accent": "", "text": ""},
            "audiences": [], "ad_placements": [], "creator_offer": "",
            "shop": {"platform": "Shopify", "title_max_chars": 140, "bullet_max_chars": 180,
                     "bullets_per_listing": 5, "description_max_chars": 1500}
        }))
        .expect("a brand");
        let examples: Vec<ml::Example> = (0..learnt)
            .map(|i| ml::Example {
                proposal: json!({"text": if i % 4 == 0 { "Linen ✨🎉" } else { "Linen throw." }}),
                context: ml::SpendContext::default(),
                verdict: if i % 4 == 0 {
                    ml::Verdict::Reject
                } else {
                    ml::Verdict::Approve
                },
                feedback: None,
                at: format!("2026-10-01T10:00:{:02}.000000Z", i % 60),
            })
            .collect();
        Arc::new(ml::Model::train(&brand, &examples).expect("a model"))
    }

    fn key() -> GateKey {
        (
            WorkspaceId::parse("demo").unwrap(),
            "campaign-launch".into(),
            "publish_gate".into(),
        )
    }

    fn decide(m: &Models, n: usize) {
        let (ws, workflow, gate) = key();
        for _ in 0..n {
            m.decided(&ws, &workflow, &gate, false);
        }
    }

    /// A decision recorded while the history was being read for a model
    /// still makes that model due: the stats never miss it.
    #[test]
    fn a_decision_made_while_a_model_trains_is_counted_against_it() {
        let m = Models::default();
        let now = Timestamp::from_datetime(chrono::Utc::now());
        let tally_at = m.tally_of(&key());
        decide(&m, 1);
        m.put(key(), Some(model(100)), now, 100, 25, tally_at);
        assert!(m.get(&key(), now, true).is_none(), "due for the stats");
        assert!(m.get(&key(), now, false).is_some(), "not yet for a card");
        // A model read after the decision owes it nothing.
        m.put(key(), Some(model(100)), now, 100, 25, m.tally_of(&key()));
        assert!(m.get(&key(), now, true).is_some());
    }

    /// While a model retrains, a card may be given the one in hand only
    /// within twice what makes it due.
    #[test]
    fn a_card_gets_the_model_in_hand_only_within_twice_its_limits() {
        let m = Models::default();
        let at = Timestamp::from_datetime(chrono::Utc::now());
        m.put(key(), Some(model(100)), at, 100, 25, m.tally_of(&key()));
        decide(&m, 10);
        assert!(m.get(&key(), at, false).is_none(), "10 of 100: due");
        assert!(m.in_hand(&key(), at).is_some());
        decide(&m, 9);
        assert!(m.in_hand(&key(), at).is_some(), "19 since");
        decide(&m, 1);
        assert!(m.in_hand(&key(), at).is_none(), "20 since");
        let fresh = Models::default();
        fresh.put(key(), Some(model(100)), at, 100, 25, Tally::default());
        let later = |s: i64| Timestamp::from_datetime(at.datetime() + chrono::Duration::seconds(s));
        assert!(fresh.get(&key(), later(60), false).is_none(), "a minute: due");
        assert!(fresh.in_hand(&key(), later(119)).is_some());
        assert!(fresh.in_hand(&key(), later(120)).is_none());
    }
}
