//! The application services: what the API, the CLI and the functions call.

use crate::brands::{LoadError, LoadedWorkspace};
use crate::error::{Error, TaskError, task_errors};
use crate::ids::*;
use crate::model::*;
use crate::money::Money;
use crate::ports::*;
use crate::proposal;
use crate::recipes::RecipeBook;
use crate::time::{Clock, Timestamp};
use crate::views::*;
use greenlight_agents::{AgentId, AgentInput, PriorStep, WorkspaceData};
use greenlight_recipes::{BriefType, StepKind, check_brief, errors};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tracing::{info, instrument, warn};

/// Settings read once at start.
#[derive(Debug, Clone)]
pub struct Config {
    /// The real model whose prices the offline estimates use.
    pub priced_model: String,
    /// Dev mode accepts the dev-only tokens of the sample workspaces.
    pub dev_mode: bool,
}

/// The ports the services drive.
pub struct Deps {
    pub store: Arc<dyn Store>,
    pub orchestrator: Arc<dyn Orchestrator>,
    pub agents: Arc<dyn AgentRunner>,
    /// Rewrites proposals predicted to be rejected (a language model); the
    /// approver agent's rules alone when `None`.
    pub editor: Option<Arc<dyn ProposalEditor>>,
    pub blobs: Arc<dyn BlobStore>,
    pub clock: Arc<dyn Clock>,
    pub recipes: Arc<RecipeBook>,
    /// Called after a decision commits, so the resumer delivers it now
    /// rather than at its next tick.
    pub resume_hint: Arc<dyn Fn() + Send + Sync>,
    /// Called after a call that may have appended events to a run, so live
    /// streams can send them at once. Must not block.
    pub on_change: Arc<dyn Fn(&RunId) + Send + Sync>,
    /// Crash-fault points for tests ([`faults`]): called with a point's name
    /// where a crash would hurt most. The calls are compiled out of release
    /// builds; a no-op anywhere else.
    pub fault: Arc<dyn Fn(&'static str) + Send + Sync>,
    pub config: Config,
}

/// The deterministic offline agents: the default `AgentRunner` when no LLM
/// is configured, here and on AWS. Pure: no IO.
pub struct OfflineAgents;

#[async_trait::async_trait]
impl AgentRunner for OfflineAgents {
    fn answers_at_once(&self) -> bool {
        true
    }

    async fn run(
        &self,
        input: greenlight_agents::AgentInput<'_>,
    ) -> Result<greenlight_agents::AgentOutput, greenlight_agents::AgentError> {
        greenlight_agents::run(&input)
    }
}

/// Event sequence numbers stay below this (stores keep them in 10 digits).
pub const MAX_EVENT_SEQ: u64 = 9_999_999_999;

/// The most characters a comment or feedback may hold.
pub const MAX_TEXT_CHARS: usize = 4000;

/// The hash under which a token is stored: SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The crash-fault points a test can arm (`GREENLIGHT_FAULT=<name>` on a
/// debug build of `greenlight dev`): the process stops there until killed.
pub mod faults {
    /// A decision is committed; the resumer has not been told.
    pub const DECISION_AFTER_COMMIT: &str = "decision.after_commit";
    /// An agent step is running and its output is computed, not stored.
    pub const AGENT_BEFORE_OUTPUT: &str = "agent.before_output";
    /// An action's task is under way; its effect is not recorded. (The
    /// effect and the step's success are one transaction, idempotent on the
    /// step id.)
    pub const ACTION_BEFORE_EFFECT: &str = "action.before_effect";
    /// An action's effect is recorded; the orchestrator has not been told
    /// the task finished, so it will run the task again.
    pub const ACTION_AFTER_EFFECT: &str = "action.after_effect";
    pub const ALL: [&str; 4] = [
        DECISION_AFTER_COMMIT,
        AGENT_BEFORE_OUTPUT,
        ACTION_BEFORE_EFFECT,
        ACTION_AFTER_EFFECT,
    ];
}

/// Reaches a crash-fault point; nothing in release builds.
macro_rules! fault_point {
    ($self:expr, $point:expr) => {
        #[cfg(debug_assertions)]
        ($self.d.fault)($point);
    };
}

/// How long a browser session lasts.
pub const SESSION_HOURS: i64 = 12;

/// What every session secret starts with.
pub const SESSION_PREFIX: &str = "gls_";

/// A browser session: the cookie's value and whose it is.
#[derive(Debug, Clone)]
pub struct Session {
    pub value: String,
    pub member: Member,
    pub expires_at: Timestamp,
}

/// A request to start a run (`POST /api/runs`).
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(example = json!({"workflow": "profile-audit", "brief": {"title": "Shop audit", "focus": "listings"}}))
)]
#[serde(deny_unknown_fields)]
pub struct StartRun {
    /// A workflow id of `GET /api/workflows`; may be omitted with `rerun_of`.
    pub workflow: Option<String>,
    /// The brief, per the workflow's `brief_schema`.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub brief: Option<Value>,
    /// Re-run with notes: a run of the caller's workspace to start again.
    pub rerun_of: Option<String>,
    /// With `rerun_of`: appended to the brief's notes with the rejection reason.
    pub notes: Option<String>,
}

/// A decision as a caller sends it.
#[derive(Debug, Clone)]
pub struct DecideRequest {
    pub verdict: Verdict,
    pub comment: Option<String>,
    pub feedback: Option<String>,
    pub proposal_digest: Option<String>,
    /// An approval's edit of the proposal, which the action then sends.
    pub edited_proposal: Option<Value>,
}

/// What a task's payload carries: references, never data.
#[derive(Debug, Clone, Deserialize)]
struct TaskPayload {
    run_id: String,
    step_key: String,
    /// The run's workflow, as the compiled ASL names it for agent, action
    /// and synthesis tasks (not for gates, nor in earlier versions' ASL).
    #[serde(default)]
    workflow: Option<String>,
    #[serde(default)]
    task_token: Option<String>,
}

/// How an execution ended.
#[derive(Debug, Clone)]
pub enum ExecutionOutcome {
    Succeeded,
    Failed { error: String, cause: String },
}

pub struct Greenlight {
    d: Deps,
    models: crate::approver::Models,
    brands: crate::brands::Brands,
    /// Each run's workflow, which never changes: a task that knows it reads
    /// its run once (bounded: cleared when full).
    workflows: std::sync::Mutex<std::collections::HashMap<RunId, String>>,
}

/// How many runs' workflows [`Greenlight`] remembers before starting over.
const MAX_REMEMBERED_WORKFLOWS: usize = 65_536;

fn not_found_run() -> Error {
    Error::NotFound("run".into())
}

fn not_found_approval() -> Error {
    Error::NotFound("approval".into())
}

/// A step's key and those of every step it depends on.
fn own_and_ancestors(recipe: &greenlight_recipes::Recipe, step: &greenlight_recipes::Step) -> Vec<StepKey> {
    std::iter::once(step)
        .chain(recipe.ancestors(&step.key))
        .filter_map(|s| StepKey::parse(&s.key).ok())
        .collect()
}

fn retryable(e: impl std::fmt::Display) -> TaskError {
    TaskError::new(errors::RETRYABLE, e.to_string())
}

impl Greenlight {
    pub fn new(deps: Deps) -> Greenlight {
        Greenlight {
            d: deps,
            models: Default::default(),
            brands: Default::default(),
            workflows: Default::default(),
        }
    }

    pub fn recipes(&self) -> &RecipeBook {
        &self.d.recipes
    }

    pub(crate) fn editor(&self) -> Option<&Arc<dyn ProposalEditor>> {
        self.d.editor.as_ref()
    }

    pub(crate) fn models(&self) -> &crate::approver::Models {
        &self.models
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.d.store
    }

    /// The time by this deployment's clock.
    pub fn now(&self) -> Timestamp {
        self.d.clock.now()
    }

    /// Whether this deployment accepts the sample workspaces' dev-only tokens.
    pub fn dev_mode(&self) -> bool {
        self.d.config.dev_mode
    }

    // ---- auth ------------------------------------------------------------

    /// The member a bearer token (or a session secret) belongs to.
    pub async fn authenticate(&self, token: &str) -> Result<Member, Error> {
        self.authenticate_with_flag(token).await.map(|(m, _)| m)
    }

    /// The member and whether the token is dev-only.
    async fn authenticate_with_flag(&self, token: &str) -> Result<(Member, bool), Error> {
        if token.is_empty() || token.len() > 512 {
            return Err(Error::Unauthorized);
        }
        if let Some(rest) = token.strip_prefix(SESSION_PREFIX) {
            // `gls_<secret>_<expiry unix seconds>`: the expiry is covered by
            // the stored hash, so it cannot be extended by editing it.
            let expires = rest
                .rsplit_once('_')
                .and_then(|(_, exp)| exp.parse::<i64>().ok())
                .ok_or(Error::Unauthorized)?;
            if expires <= self.now().datetime().timestamp() {
                return Err(Error::Unauthorized);
            }
        }
        match self.d.store.member_by_token(&token_hash(token)).await? {
            Some((_, true)) if !self.d.config.dev_mode => Err(Error::Unauthorized),
            Some(found) => Ok(found),
            None => Err(Error::Unauthorized),
        }
    }

    /// Exchanges an API token for a browser session (API.md, "Browser
    /// sessions"): a new secret, stored by its hash like a token, that ends
    /// after [`SESSION_HOURS`] or at sign-out. `secret` is 32 random bytes
    /// from the caller (the core does no IO).
    pub async fn open_session(&self, token: &str, secret: [u8; 32]) -> Result<Session, Error> {
        let (member, dev_only) = self.authenticate_with_flag(token).await?;
        let expires_at =
            Timestamp::from_datetime(self.now().datetime() + chrono::Duration::hours(SESSION_HOURS));
        let value = format!(
            "{SESSION_PREFIX}{}_{}",
            hex::encode(secret),
            expires_at.datetime().timestamp()
        );
        self.d
            .store
            .put_token(&token_hash(&value), &member, dev_only)
            .await?;
        info!(workspace = %member.workspace_id, member = %member.id, "session opened");
        Ok(Session {
            value,
            member,
            expires_at,
        })
    }

    /// Ends a session; `false` if it was not a live session.
    pub async fn close_session(&self, value: &str) -> Result<bool, Error> {
        if !value.starts_with(SESSION_PREFIX) || value.len() > 512 {
            return Ok(false);
        }
        Ok(self.d.store.delete_token(&token_hash(value)).await?)
    }

    fn changed(&self, run_id: &RunId) {
        (self.d.on_change)(run_id);
    }

    // ---- runs ------------------------------------------------------------

    /// Which workflow a run is of, for its tasks' reads (a run's workflow
    /// never changes; the map starts over when it is full).
    fn remember_workflow(&self, run_id: &RunId, workflow: &str) {
        if let Ok(mut w) = self.workflows.lock() {
            if w.len() >= MAX_REMEMBERED_WORKFLOWS {
                w.clear();
            }
            w.entry(run_id.clone()).or_insert_with(|| workflow.to_string());
        }
    }

    /// A run of the member's workspace, without its steps' trails.
    async fn run_of(&self, member: &Member, run_id: &str) -> Result<RunRecord, Error> {
        self.run_in(member, run_id, false).await
    }

    async fn run_in(&self, member: &Member, run_id: &str, trails: bool) -> Result<RunRecord, Error> {
        let id = RunId::parse(run_id).map_err(|_| not_found_run())?;
        let found = if trails {
            self.d.store.get_run(&id).await?
        } else {
            self.d.store.get_run_without_trails(&id).await?
        };
        match found {
            Some(r) if r.run.workspace_id == member.workspace_id => Ok(r),
            _ => Err(not_found_run()),
        }
    }

    /// The workspace with its brand data parsed (cached while unchanged).
    pub(crate) async fn workspace(&self, id: &WorkspaceId) -> Result<Arc<LoadedWorkspace>, Error> {
        Ok(self.brands.load(self.d.store.as_ref(), id).await?)
    }

    /// Starts a run of a workflow, or a re-run of an earlier one with notes.
    #[instrument(skip(self, req), fields(workspace = %member.workspace_id))]
    pub async fn start_run(&self, member: &Member, req: StartRun) -> Result<RunView, Error> {
        self.start_run_with_id(member, req, None).await
    }

    /// Starts a run under a given id (a run triggered by an event takes its
    /// id from the event's, so a redelivered event starts nothing new: the
    /// existing run is answered).
    pub async fn start_run_with_id(
        &self,
        member: &Member,
        req: StartRun,
        run_id: Option<RunId>,
    ) -> Result<RunView, Error> {
        if let Some(id) = &run_id
            && let Some(existing) = self.d.store.get_run(id).await?
        {
            if existing.run.workspace_id != member.workspace_id {
                return Err(Error::invalid("run_id", "is taken"));
            }
            return Ok(RunView::from(&existing));
        }
        let (workflow, brief, rerun_of) = match &req.rerun_of {
            Some(prev) => {
                let old = self
                    .run_of(member, prev)
                    .await
                    .map_err(|_| Error::NotFound(format!("run `{prev}` to re-run")))?;
                if let Some(w) = &req.workflow
                    && w != &old.run.workflow
                {
                    return Err(Error::invalid(
                        "workflow",
                        format!(
                            "`{w}` differs from the workflow of run {prev} ({})",
                            old.run.workflow
                        ),
                    ));
                }
                let mut brief = req.brief.clone().unwrap_or_else(|| old.run.brief.clone());
                let mut notes: Vec<String> = brief
                    .get("notes")
                    .and_then(Value::as_str)
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| vec![s.to_string()])
                    .unwrap_or_default();
                let given = req.notes.as_deref().filter(|n| !n.trim().is_empty());
                // A reason the caller's notes already quote is not added twice.
                let quoted = |reason: &str| given.is_some_and(|n| n.contains(reason));
                if let Some(err) = old.run.error.as_deref().filter(|e| !quoted(e)) {
                    notes.push(format!("Previous run {prev}: {err}"));
                }
                for r in rejections(&old) {
                    let line = format!("Rejected at {}: {}", r.step_label, r.feedback);
                    if old.run.error.as_deref().is_none_or(|e| e != line) && !quoted(&line) {
                        notes.push(format!("Previous run {prev}: {line}"));
                    }
                }
                if let Some(n) = given {
                    notes.push(n.to_string());
                }
                if let Value::Object(map) = &mut brief {
                    map.insert("notes".into(), Value::String(notes.join("\n\n")));
                }
                (old.run.workflow.clone(), brief, Some(old.run.id.clone()))
            }
            None => {
                if req.notes.is_some() {
                    return Err(Error::invalid(
                        "notes",
                        "is only for re-runs (with `rerun_of`); put notes in the brief",
                    ));
                }
                let workflow = req
                    .workflow
                    .clone()
                    .ok_or_else(|| Error::invalid("workflow", "is required"))?;
                let brief = req
                    .brief
                    .clone()
                    .ok_or_else(|| Error::invalid("brief", "is required"))?;
                (workflow, brief, None)
            }
        };
        let loaded = self
            .d
            .recipes
            .get(&workflow)
            .ok_or_else(|| Error::NotFound(format!("workflow `{workflow}`")))?;
        let recipe = &loaded.recipe;
        let rerun = req.rerun_of.is_some();
        let brief = check_brief(&recipe.brief, &brief).map_err(|e| {
            // The whole brief's size too: on a re-run, the notes are most of what grew.
            let message = if rerun && (e.field == "notes" || e.field.is_empty()) {
                format!("{} (a re-run's notes are the old brief's notes, the rejection reasons and your `notes` together)", e.message)
            } else {
                e.message
            };
            Error::invalid(format!("brief.{}", e.field).trim_end_matches('.'), message)
        })?;

        // References into the workspace.
        let ws = self.workspace(&member.workspace_id).await?;
        let data = ws.data()?;
        for (name, field) in &recipe.brief {
            match (field.ty, brief.get(name)) {
                (BriefType::ProductIds, Some(Value::Array(ids))) => {
                    for (i, id) in ids.iter().enumerate() {
                        let id = id.as_str().unwrap_or_default();
                        if !data.products.iter().any(|p| p.id == id) {
                            return Err(Error::invalid(
                                format!("brief.{name}[{i}]"),
                                format!(
                                    "`{id}` is not a product of this workspace (see GET /api/catalog/products)"
                                ),
                            ));
                        }
                    }
                }
                (BriefType::RunId, Some(Value::String(id))) => {
                    let ok = match self.run_of(member, id).await {
                        Ok(r) => {
                            r.run.status == RunStatus::Succeeded
                                && field.workflow.as_deref().is_none_or(|w| w == r.run.workflow)
                        }
                        Err(_) => false,
                    };
                    if !ok {
                        return Err(Error::invalid(
                            format!("brief.{name}"),
                            format!(
                                "`{id}` is not a succeeded {} run of this workspace",
                                field.workflow.as_deref().unwrap_or("")
                            ),
                        ));
                    }
                }
                _ => {}
            }
        }

        let now = self.now();
        let given_id = run_id.is_some();
        let run_id = run_id.unwrap_or_else(RunId::generate);
        let run = Run {
            id: run_id.clone(),
            workspace_id: member.workspace_id.clone(),
            workflow: recipe.id.clone(),
            workflow_name: recipe.name.clone(),
            brief: Value::Object(brief),
            status: RunStatus::Running,
            error: None,
            created_at: now,
            finished_at: None,
            created_by: member.actor(),
            rerun_of,
        };
        let steps = recipe
            .steps
            .iter()
            .filter_map(|s| {
                Some(StepRecord {
                    run_id: run_id.clone(),
                    key: StepKey::parse(&s.key).ok()?,
                    label: s.label.clone(),
                    kind: s.kind.as_str().to_string(),
                    status: StepStatus::Pending,
                    after: s.after.clone(),
                    output: None,
                    trail: Vec::new(),
                    cost: Money::ZERO,
                    started_at: None,
                    finished_at: None,
                    decision: None,
                })
            })
            .collect();
        let started = NewEvent {
            kind: EventType::RunStarted,
            data: json!({"run_id": run_id, "workflow": recipe.id, "title": run.brief.get("title"), "actor": member.actor()}),
        };
        let new = NewRun { run, steps, started };
        match self.d.store.create_run(&new).await {
            Ok(()) => {}
            // A concurrent twin of this request (same given id) created it first.
            Err(StoreError::AlreadyExists(_)) if given_id => {
                if let Some(existing) = self.d.store.get_run(&new.run.id).await?
                    && existing.run.workspace_id == member.workspace_id
                {
                    return Ok(RunView::from(&existing));
                }
                return Err(Error::invalid("run_id", "is taken"));
            }
            Err(e) => return Err(e.into()),
        }
        self.changed(&new.run.id);
        // Its tasks then read only the steps they depend on, from the first.
        self.remember_workflow(&new.run.id, &recipe.id);
        let input = json!({
            "run_id": run_id,
            "workspace_id": member.workspace_id,
            "workflow": recipe.id,
        });
        if let Err(e) = self.d.orchestrator.start(&recipe.id, &run_id, input).await {
            warn!(run_id = %run_id, error = %e, "the run could not be started");
            self.execution_finished(
                &run_id,
                ExecutionOutcome::Failed {
                    error: "Greenlight.StartFailed".into(),
                    cause: e.to_string(),
                },
            )
            .await?;
            return Err(e.into());
        }
        info!(run_id = %run_id, workflow = %recipe.id, "run started");
        let record = self.d.store.get_run(&run_id).await?.ok_or_else(not_found_run)?;
        Ok(RunView::from(&record))
    }

    pub async fn run_view(&self, member: &Member, run_id: &str) -> Result<RunView, Error> {
        Ok(RunView::from(&self.run_of(member, run_id).await?))
    }

    pub async fn list_runs(
        &self,
        member: &Member,
        status: Option<RunStatus>,
        page: &PageRequest,
    ) -> Result<Page<RunSummary>, Error> {
        let p = self.d.store.list_runs(&member.workspace_id, status, page).await?;
        Ok(Page {
            items: p.items.iter().map(RunSummary::from).collect(),
            next_cursor: p.next_cursor,
        })
    }

    pub async fn events(
        &self,
        member: &Member,
        run_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<EventView>, Error> {
        let record = self.run_of(member, run_id).await?;
        // No run has this many events (Step Functions' history stops at 25,000).
        if after >= MAX_EVENT_SEQ {
            return Ok(Vec::new());
        }
        let events = self.d.store.events_after(&record.run.id, after, limit).await?;
        Ok(events.iter().map(EventView::from).collect())
    }

    /// The synthesis report of a succeeded run.
    pub async fn report(&self, member: &Member, run_id: &str) -> Result<Value, Error> {
        let record = self.run_of(member, run_id).await?;
        let synthesis = record
            .steps
            .iter()
            .find(|s| s.kind == StepKind::Synthesis.as_str() && s.status == StepStatus::Succeeded);
        match (
            record.run.status,
            synthesis.and_then(|s| s.output.as_deref().cloned()),
        ) {
            (RunStatus::Succeeded, Some(output)) => Ok(output),
            (RunStatus::Running, _) => Err(Error::NoReport(
                "the run is still running; its report is written when it succeeds".into(),
            )),
            (RunStatus::Failed, _) => Err(Error::NoReport(format!(
                "the run failed ({}), so no report was written",
                record.run.error.as_deref().unwrap_or("no error recorded")
            ))),
            (RunStatus::Succeeded, None) => Err(Error::NoReport("this workflow writes no report".into())),
        }
    }

    pub async fn asset(&self, member: &Member, run_id: &str, name: &str) -> Result<(String, Vec<u8>), Error> {
        let record = self.run_of(member, run_id).await?;
        let valid = !name.is_empty()
            && name.len() <= 128
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
            && !name.starts_with('.')
            && !name.ends_with(".content-type")
            && !name.ends_with(".tmp");
        if !valid {
            return Err(Error::NotFound("asset".into()));
        }
        self.d
            .blobs
            .get(&asset_key(&record.run.id, name))
            .await
            .map_err(|e| Error::Unavailable(e.to_string()))?
            .ok_or_else(|| Error::NotFound("asset".into()))
    }

    // ---- catalog -----------------------------------------------------------

    pub fn workflows(&self) -> Vec<WorkflowView> {
        self.d
            .recipes
            .iter()
            .map(|l| {
                let r = &l.recipe;
                WorkflowView {
                    id: r.id.clone(),
                    name: r.name.clone(),
                    description: r.description.clone(),
                    brief_schema: serde_json::to_value(&r.brief).unwrap_or(Value::Null),
                    gates: r
                        .gates()
                        .map(|(s, g)| GateView {
                            step_key: s.key.clone(),
                            label: s.label.clone(),
                            target_output_field: g.target_output_field.clone(),
                            upstream_step_key: g.upstream_step_key.clone(),
                            blocking: g.blocking,
                            policy: g.policy.clone(),
                            checklist: checklist(&g.checklist),
                        })
                        .collect(),
                    graph: r.steps.clone(),
                }
            })
            .collect()
    }

    pub async fn products(&self, member: &Member) -> Result<Vec<greenlight_agents::Product>, Error> {
        let ws = self.workspace(&member.workspace_id).await?;
        Ok(ws.data()?.products.clone())
    }

    pub async fn outbox(&self, member: &Member, page: &PageRequest) -> Result<Page<OutboxView>, Error> {
        let p = self.d.store.list_outbox(&member.workspace_id, page).await?;
        Ok(Page {
            items: p.items.iter().map(OutboxView::from).collect(),
            next_cursor: p.next_cursor,
        })
    }

    pub async fn audit(&self, member: &Member, page: &PageRequest) -> Result<Page<AuditView>, Error> {
        let p = self.d.store.list_audit(&member.workspace_id, page).await?;
        Ok(Page {
            items: p.items.iter().map(AuditView::from).collect(),
            next_cursor: p.next_cursor,
        })
    }

    // ---- approvals ---------------------------------------------------------

    pub async fn queue(
        &self,
        member: &Member,
        filter: &QueueFilter,
        page: &PageRequest,
    ) -> Result<Page<ApprovalItem>, Error> {
        let p = self
            .d
            .store
            .list_pending(&member.workspace_id, filter, page)
            .await?;
        Ok(Page {
            items: p.items.iter().map(ApprovalItem::from).collect(),
            next_cursor: p.next_cursor,
        })
    }

    /// The gate step and its run, if the caller may see it.
    /// A gate of a run of the member's workspace (with the steps' trails if asked).
    async fn gate_of(
        &self,
        member: &Member,
        step_id: &str,
        trails: bool,
    ) -> Result<(StepId, RunRecord), Error> {
        let id = StepId::parse(step_id).map_err(|_| not_found_approval())?;
        let record = self
            .run_in(member, id.run_id().as_str(), trails)
            .await
            .map_err(|_| not_found_approval())?;
        match record.step(id.step_key().as_str()) {
            Some(s) if s.kind == StepKind::ApprovalGate.as_str() => Ok((id, record)),
            _ => Err(not_found_approval()),
        }
    }

    async fn remaining_cap(&self, ws: &WorkspaceId, now: Timestamp) -> Result<(Money, Money), Error> {
        let workspace = self.workspace(ws).await?;
        let spent = self.d.store.month_spend(ws, &now.month()).await?;
        Ok((workspace.spend_cap, workspace.spend_cap.saturating_sub(spent)))
    }

    /// The Review card.
    pub async fn card(&self, member: &Member, step_id: &str) -> Result<Card, Error> {
        let (id, record) = self.gate_of(member, step_id, true).await?;
        let loaded = self
            .d
            .recipes
            .get(&record.run.workflow)
            .ok_or_else(not_found_approval)?;
        let recipe = &loaded.recipe;
        let step = record
            .step(id.step_key().as_str())
            .ok_or_else(not_found_approval)?;
        let gate_def = recipe
            .step(id.step_key().as_str())
            .and_then(|s| s.gate.clone())
            .ok_or_else(not_found_approval)?;
        let approval = self.d.store.get_approval(&id).await?;
        let Some(approval) = approval else {
            return Err(Error::NotPending(format!(
                "the {} gate has not been reached yet (it is {})",
                step.label,
                step.status.as_str()
            )));
        };
        let proposal = proposal_of(&record, &gate_def).cloned().unwrap_or(Value::Null);
        let trail: Vec<Value> = recipe
            .ancestors(id.step_key().as_str())
            .iter()
            .filter(|s| matches!(s.kind, StepKind::Agent))
            .filter_map(|s| record.step(&s.key))
            .flat_map(|s| s.trail.iter().cloned())
            .collect();
        let (_, remaining) = self.remaining_cap(&member.workspace_id, self.now()).await?;
        let approved_edit = step
            .output
            .as_ref()
            .and_then(|o| o.get("edited_proposal"))
            .cloned();
        // Approved with an edit, the edit is what was committed (and what
        // the spend cap was charged); the summary says what it commits.
        let (summary, proposed_spend, proposed_daily) = match &approved_edit {
            Some(edit) => {
                let spend = proposal::spend(edit);
                (
                    proposal::summary(&gate_def.target_output_field, edit),
                    spend.map(|(t, _)| t),
                    spend.and_then(|(_, d)| d),
                )
            }
            None => (
                approval.summary.clone(),
                approval.proposed_spend,
                approval.proposed_daily,
            ),
        };
        Ok(Card {
            step_id: id.to_string(),
            run_id: record.run.id.to_string(),
            workflow: record.run.workflow.clone(),
            workflow_name: record.run.workflow_name.clone(),
            step_key: step.key.to_string(),
            step_label: step.label.clone(),
            status: step.status,
            target_output_field: gate_def.target_output_field.clone(),
            proposal_html: proposal::render_html(&proposal),
            proposal,
            upstream_step_key: gate_def.upstream_step_key.clone(),
            reasoning_trail: trail,
            checklist: checklist(&gate_def.checklist),
            summary,
            proposed_spend_usd: proposed_spend.map(Money::usd),
            proposed_daily_usd: proposed_daily.map(Money::usd),
            spend_cap_remaining_usd: remaining.usd(),
            run_cost_so_far_usd: record.cost().usd(),
            required_role: approval.required_role.clone(),
            blocking: gate_def.blocking,
            brief: record.run.brief.clone(),
            created_at: approval.created_at,
            proposal_digest: approval.proposal_digest.clone(),
            decision: step.decision.clone(),
            suggestion: approval.suggestion.clone(),
            approved_edit,
        })
    }

    /// Approve or reject a gate: the decision protocol of DESIGN.md.
    #[instrument(skip(self, req), fields(step_id = %step_id, member = %member.id))]
    pub async fn decide(
        &self,
        member: &Member,
        step_id: &str,
        req: DecideRequest,
    ) -> Result<DecideResponse, Error> {
        let (id, record) = self.gate_of(member, step_id, false).await?;
        let comment = clean_text("comment", req.comment)?;
        let feedback = clean_text("feedback", req.feedback)?;

        if req.verdict == Verdict::Rejected && feedback.is_none() {
            return Err(Error::invalid(
                "feedback",
                "is required to reject: say what should change",
            ));
        }
        let step = record
            .step(id.step_key().as_str())
            .ok_or_else(not_found_approval)?;
        check_waiting(step)?;
        let approval = self.d.store.get_approval(&id).await?.ok_or_else(|| {
            Error::NotPending(format!("the {} gate is not waiting for a decision", step.label))
        })?;
        if let Some(role) = &approval.required_role
            && !member.has_role(role)
        {
            return Err(Error::Forbidden(format!(
                "Deciding the {} gate{} needs the {role} role, which {} does not have.",
                step.label,
                approval
                    .proposed_spend
                    .map(|s| format!(" (proposed spend {s})"))
                    .unwrap_or_default(),
                member.name
            )));
        }
        if let Some(d) = &req.proposal_digest
            && d != &approval.proposal_digest
        {
            // A digest that is not one could never match: say so (in the
            // digest check's place in API.md's order), rather than that the
            // proposal changed.
            let is_digest = d
                .strip_prefix("sha256:")
                .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
            if !is_digest {
                return Err(Error::invalid(
                    "proposal_digest",
                    "must be the card's proposal_digest: sha256: and 64 lowercase hex digits",
                ));
            }
            return Err(Error::StaleProposal);
        }
        let loaded = self
            .d
            .recipes
            .get(&record.run.workflow)
            .ok_or_else(not_found_approval)?;
        let gate_def = loaded
            .recipe
            .step(id.step_key().as_str())
            .and_then(|s| s.gate.as_ref());
        let blocking = gate_def.is_none_or(|g| g.blocking);
        let original = gate_def
            .and_then(|g| proposal_of(&record, g))
            .cloned()
            .unwrap_or(Value::Null);
        let edited = match req.edited_proposal {
            None => None,
            Some(_) if req.verdict == Verdict::Rejected => {
                return Err(Error::invalid(
                    "edited_proposal",
                    "only an approval may carry an edited proposal",
                ));
            }
            Some(mut edit) => {
                proposal::check_edit(&approval.target_output_field, &original, &edit)
                    .map_err(|m| Error::invalid("edited_proposal", m))?;
                proposal::keep_whole(&original, &mut edit);
                let edited_spend = proposal::spend(&edit).map(|(t, _)| t).unwrap_or_default();
                let proposed = approval.proposed_spend.unwrap_or_default();
                if edited_spend > proposed {
                    return Err(Error::invalid(
                        "edited_proposal",
                        format!(
                            "commits {edited_spend}, more than the {proposed} proposed; an edit may only lower spend"
                        ),
                    ));
                }
                Some(edit)
            }
        };
        let spend = match &edited {
            Some(e) => proposal::spend(e).map(|(t, _)| t),
            None => approval.proposed_spend,
        };

        let now = self.now();
        let mut cap_remaining = None;
        let reserve = match (req.verdict, spend) {
            (Verdict::Approved, Some(amount)) if amount > Money::ZERO => {
                let (cap, remaining) = self.remaining_cap(&member.workspace_id, now).await?;
                cap_remaining = Some(remaining);
                if amount > remaining {
                    return Err(Error::SpendCapExceeded {
                        proposed: amount,
                        remaining,
                    });
                }
                Some(SpendReservation {
                    month: now.month(),
                    amount,
                    cap,
                })
            }
            _ => None,
        };
        let decision = Decision {
            verdict: req.verdict,
            actor: member.actor(),
            at: now,
            comment: if req.verdict == Verdict::Approved {
                comment
            } else {
                None
            },
            feedback: if req.verdict == Verdict::Rejected {
                feedback
            } else {
                None
            },
        };
        let base = json!({"step_id": id, "step_key": step.key, "label": step.label, "actor": member.actor()});
        let with = |extra: Value| {
            let mut v = base.clone();
            if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
                m.extend(e);
            }
            v
        };
        let error_text = decision
            .feedback
            .as_ref()
            .map(|f| format!("Rejected at {}: {f}", step.label));
        let edited_digest = edited.as_ref().map(proposal::digest);
        let (step_status, step_output, events, resume, fail_run, action) = match req.verdict {
            Verdict::Approved => (
                StepStatus::Succeeded,
                match &edited {
                    None => {
                        json!({"verdict": "approved", "comment": decision.comment, "proposal_digest": approval.proposal_digest})
                    }
                    Some(e) => json!({
                        "verdict": "approved", "comment": decision.comment, "proposal_digest": approval.proposal_digest,
                        "edited_proposal": e, "edited_proposal_digest": edited_digest,
                    }),
                },
                vec![
                    NewEvent {
                        kind: EventType::ApprovalApproved,
                        data: with(json!({"comment": decision.comment, "edited": edited.is_some()})),
                    },
                    NewEvent {
                        kind: EventType::StepSucceeded,
                        data: base.clone(),
                    },
                ],
                ResumeAction::Success {
                    output: json!({"verdict": "approved", "step_id": id}),
                },
                None,
                "approval.approved",
            ),
            Verdict::Rejected => {
                let cause = error_text.clone().unwrap_or_default();
                (
                    StepStatus::Failed,
                    json!({"verdict": "rejected", "feedback": decision.feedback, "proposal_digest": approval.proposal_digest, "blocking": blocking}),
                    vec![
                        NewEvent {
                            kind: EventType::ApprovalRejected,
                            data: with(json!({"feedback": decision.feedback, "blocking": blocking})),
                        },
                        NewEvent {
                            kind: EventType::StepFailed,
                            data: base.clone(),
                        },
                    ],
                    ResumeAction::Failure {
                        error: errors::REJECTED.into(),
                        cause: cause.clone(),
                    },
                    blocking.then(|| FailRun {
                        error: cause.clone(),
                        event: NewEvent {
                            kind: EventType::RunFailed,
                            data: json!({"run_id": record.run.id, "error": cause}),
                        },
                    }),
                    "approval.rejected",
                )
            }
        };
        if cap_remaining.is_none() && approval.proposed_spend.is_some() {
            cap_remaining = Some(self.remaining_cap(&member.workspace_id, now).await?.1);
        }
        let history = HistoryEntry {
            workflow: record.run.workflow.clone(),
            gate: step.key.to_string(),
            step_id: id.to_string(),
            at: now,
            proposal: original,
            proposal_digest: approval.proposal_digest.clone(),
            verdict: req.verdict,
            feedback: decision.feedback.clone(),
            comment: decision.comment.clone(),
            edited_proposal: edited.clone(),
            edited_proposal_digest: edited_digest.clone(),
            actor: member.actor(),
            brief_budget_usd: crate::approver::brief_budget(&record.run.brief),
            spend_cap_remaining_usd: cap_remaining.map(Money::usd),
            prediction: approval.suggestion.as_ref().map(|s| ShadowPrediction {
                predicted_verdict: s.predicted_verdict.clone(),
                confidence: s.confidence,
            }),
            synthetic: false,
        };
        let write = DecisionWrite {
            history,
            workspace_id: member.workspace_id.clone(),
            step_id: id.clone(),
            decision: decision.clone(),
            step_status,
            step_output,
            audit: AuditEntry {
                id: ulid::Ulid::new().to_string().to_lowercase(),
                workspace_id: member.workspace_id.clone(),
                at: now,
                actor: member.actor(),
                action: action.into(),
                run_id: record.run.id.clone(),
                step_id: id.clone(),
                text: decision.comment.clone().or(decision.feedback.clone()),
            },
            events,
            fail_run,
            resume,
            reserve,
        };
        match self.d.store.apply_decision(&write).await? {
            DecisionApplied::Applied { cancelled } => {
                info!(verdict = ?req.verdict, cancelled = cancelled.len(), "decision recorded");
                self.models.decided(
                    &member.workspace_id,
                    &record.run.workflow,
                    step.key.as_str(),
                    req.verdict == Verdict::Rejected,
                );
                fault_point!(self, faults::DECISION_AFTER_COMMIT);
                (self.d.resume_hint)();
                self.changed(id.run_id());
            }
            DecisionApplied::OverCap { remaining } => {
                return Err(Error::SpendCapExceeded {
                    proposed: spend.unwrap_or_default(),
                    remaining,
                });
            }
            DecisionApplied::Conflict => {
                // Someone else decided first, or the run ended: answer with what stands.
                let record = self
                    .d
                    .store
                    .get_run(id.run_id())
                    .await?
                    .ok_or_else(not_found_approval)?;
                let step = record
                    .step(id.step_key().as_str())
                    .ok_or_else(not_found_approval)?;
                check_waiting(step)?;
                return Err(Error::NotPending(format!(
                    "the {} gate is not waiting for a decision",
                    step.label
                )));
            }
        }
        // A rejection says what became of the run: failed by a blocking
        // gate, else going on without the gate's action.
        let (run_status, run_error) = match (req.verdict, blocking) {
            (Verdict::Approved, _) => (None, None),
            (Verdict::Rejected, true) => (Some(RunStatus::Failed), Some(error_text)),
            (Verdict::Rejected, false) => (Some(RunStatus::Running), Some(None)),
        };
        Ok(DecideResponse {
            step_id: id.to_string(),
            run_id: record.run.id.to_string(),
            status: step_status,
            decision,
            run_status,
            run_error,
        })
    }

    // ---- tasks (what the state machines invoke) ----------------------------

    /// Runs the function a state machine task names (`ListingOptimizerFunctionArn`, …)
    /// with its payload.
    #[instrument(skip(self, payload), fields(function = %function))]
    pub async fn handle_task(&self, function: &str, payload: &Value) -> Result<Value, TaskError> {
        let result = self.run_task(function, payload).await;
        if let Some(run_id) = payload
            .get("run_id")
            .and_then(Value::as_str)
            .and_then(|s| RunId::parse(s).ok())
        {
            self.changed(&run_id);
        }
        result
    }

    async fn run_task(&self, function: &str, payload: &Value) -> Result<Value, TaskError> {
        let p: TaskPayload = serde_json::from_value(payload.clone()).map_err(|e| {
            TaskError::new(
                task_errors::BAD_PAYLOAD,
                format!("the task payload is not {{run_id, step_key, workflow?, task_token?}}: {e}"),
            )
        })?;
        let run_id =
            RunId::parse(&p.run_id).map_err(|e| TaskError::new(task_errors::BAD_PAYLOAD, e.to_string()))?;
        let key = StepKey::parse(&p.step_key)
            .map_err(|e| TaskError::new(task_errors::BAD_PAYLOAD, e.to_string()))?;
        // The run with the outputs the step reads: those of the steps it
        // depends on (and its own); synthesis reports on every step. Where
        // the run's workflow is not known yet (neither named by the task nor
        // seen by this process), its states are read first.
        let known = match p.workflow.as_deref().and_then(|w| self.d.recipes.get(w)) {
            Some(named) => Some(named),
            None => self
                .workflows
                .lock()
                .ok()
                .and_then(|w| w.get(&run_id).cloned())
                .and_then(|w| self.d.recipes.get(&w)),
        };
        let (shape, partial) = match known {
            Some(l) => match l.recipe.step(key.as_str()) {
                Some(s) if s.kind == StepKind::Synthesis => {
                    (self.d.store.get_run_without_trails(&run_id).await, false)
                }
                Some(s) => {
                    let keys = own_and_ancestors(&l.recipe, s);
                    (self.d.store.get_run_with_steps(&run_id, &keys).await, false)
                }
                None => (self.d.store.get_run_with_outputs_of(&run_id, &[]).await, true),
            },
            None => (self.d.store.get_run_with_outputs_of(&run_id, &[]).await, true),
        };
        let shape = shape
            .map_err(retryable)?
            .ok_or_else(|| TaskError::new(task_errors::BAD_PAYLOAD, format!("no run {run_id}")))?;
        if let Some(named) = p.workflow.as_deref()
            && named != shape.run.workflow
        {
            return Err(TaskError::new(
                task_errors::BAD_PAYLOAD,
                format!(
                    "the task names workflow {named}, but run {run_id} runs {}",
                    shape.run.workflow
                ),
            ));
        }
        self.remember_workflow(&run_id, &shape.run.workflow);
        let loaded = self.d.recipes.get(&shape.run.workflow).ok_or_else(|| {
            TaskError::new(
                task_errors::BAD_PAYLOAD,
                format!("no workflow {}", shape.run.workflow),
            )
        })?;
        let step = loaded.recipe.step(key.as_str()).ok_or_else(|| {
            TaskError::new(
                task_errors::BAD_PAYLOAD,
                format!("no step {key} in {}", shape.run.workflow),
            )
        })?;
        let expected = greenlight_recipes::function_placeholder(step);
        if expected != function {
            return Err(TaskError::new(
                task_errors::BAD_PAYLOAD,
                format!("step {key} is run by {expected}, not {function}"),
            ));
        }
        if shape.run.status != RunStatus::Running {
            return Ok(json!({"run_id": run_id, "step_key": key, "skipped": "the run is not running"}));
        }
        let record = if !partial {
            shape
        } else {
            if step.kind == StepKind::Synthesis {
                self.d.store.get_run_without_trails(&run_id).await
            } else {
                // Only the steps that have run can have an output to read:
                // if none has, the run as read will do.
                let keys = own_and_ancestors(&loaded.recipe, step);
                let any_ran = keys.iter().any(|k| {
                    shape
                        .step(k.as_str())
                        .is_some_and(|s| s.status != StepStatus::Pending)
                });
                if any_ran {
                    self.d.store.get_run_with_steps(&run_id, &keys).await
                } else {
                    Ok(Some(shape))
                }
            }
            .map_err(retryable)?
            .ok_or_else(|| TaskError::new(task_errors::BAD_PAYLOAD, format!("no run {run_id}")))?
        };
        match step.kind {
            StepKind::Agent | StepKind::Synthesis => self.run_agent_step(&record, step).await,
            StepKind::ApprovalGate => {
                let token = p.task_token.filter(|t| !t.is_empty()).ok_or_else(|| {
                    TaskError::new(task_errors::BAD_PAYLOAD, "a gate task needs its task_token")
                })?;
                self.open_gate(&record, step, token).await
            }
            StepKind::Action => self.run_action(&record, step).await,
        }
    }

    /// For a Post-Launch Loop with `launch_run_id`, the post to triage is the
    /// one that launch sent: its caption, as the workspace's newest post, with
    /// the comments the platform gave it (in the sample data, those of the
    /// latest sample post: no real platform answers here).
    async fn put_launch_post_first(&self, run: &Run, data: &mut WorkspaceData) -> Result<(), StoreError> {
        let Some(launch) = run.brief.get("launch_run_id").and_then(Value::as_str) else {
            return Ok(());
        };
        let Ok(launch) = RunId::parse(launch) else {
            return Ok(());
        };
        let key = StepKey::parse("post").map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let page = PageRequest {
            limit: 200,
            cursor: None,
        };
        let mut cursor = None;
        loop {
            let p = self
                .d
                .store
                .list_outbox(
                    &run.workspace_id,
                    &PageRequest {
                        cursor,
                        ..page.clone()
                    },
                )
                .await?;
            if let Some(item) = p.items.iter().find(|i| i.run_id == launch && i.step_key == key) {
                let caption = item
                    .payload
                    .pointer("/post_caption/text")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let tags: Vec<&str> = item
                    .payload
                    .pointer("/post_caption/hashtags")
                    .and_then(Value::as_array)
                    .map(|t| t.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let comments = data.posts.first().map(|p| p.comments.clone()).unwrap_or_default();
                data.posts.insert(
                    0,
                    greenlight_agents::Post {
                        id: format!("post-{launch}"),
                        platform: "instagram".into(),
                        posted_at: item.sent_at.to_string(),
                        caption: format!("{caption}\n\n{}", tags.join(" ")).trim().to_string(),
                        product_ids: match self.d.store.get_run(&launch).await? {
                            Some(l) => run_products(&l.run),
                            None => Vec::new(),
                        },
                        comments,
                    },
                );
                return Ok(());
            }
            match p.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(()),
            }
        }
    }

    async fn run_agent_step(
        &self,
        record: &RunRecord,
        step: &greenlight_recipes::Step,
    ) -> Result<Value, TaskError> {
        let key =
            StepKey::parse(&step.key).map_err(|e| TaskError::new(task_errors::BAD_PAYLOAD, e.to_string()))?;
        let current = record
            .step(&step.key)
            .ok_or_else(|| TaskError::new(task_errors::BAD_PAYLOAD, "no such step"))?;
        let step_id = current.step_id();
        let reference = json!({"run_id": record.run.id, "step_key": key});
        if current.status == StepStatus::Succeeded {
            return Ok(reference);
        }
        let now = self.now();
        let ev = |kind, extra: Value| {
            let mut data = json!({"step_id": step_id, "step_key": key, "label": step.label});
            if let (Value::Object(m), Value::Object(e)) = (&mut data, extra) {
                m.extend(e);
            }
            NewEvent { kind, data }
        };
        // Shown running while the agent works, unless it answers at once:
        // then its start is written with its end.
        let started = current.status == StepStatus::Pending;
        let start_with_end = started && self.d.agents.answers_at_once();
        if started && !start_with_end {
            self.d
                .store
                .update_step(&StepUpdate {
                    run_id: record.run.id.clone(),
                    key: key.clone(),
                    from: vec![StepStatus::Pending],
                    to: StepStatus::Running,
                    result: None,
                    started_at: Some(now),
                    finished_at: None,
                    events: vec![ev(EventType::StepStarted, json!({}))],
                })
                .await
                .map_err(retryable)?;
        }
        let (started_at, mut events) = if start_with_end {
            (Some(now), vec![ev(EventType::StepStarted, json!({}))])
        } else {
            (None, Vec::new())
        };
        let agent_id =
            match step.kind {
                StepKind::Synthesis => AgentId::Synthesis,
                _ => step.agent.as_deref().and_then(AgentId::parse).ok_or_else(|| {
                    TaskError::new(task_errors::BAD_PAYLOAD, "the step names no known agent")
                })?,
            };
        let ws = self
            .brands
            .load(self.d.store.as_ref(), &record.run.workspace_id)
            .await
            .map_err(|e| match e {
                LoadError::Store(e) => retryable(e),
                LoadError::Missing => {
                    TaskError::new(task_errors::AGENT_FAILED, "the run's workspace is gone")
                }
                e @ LoadError::Unreadable(..) => TaskError::new(task_errors::AGENT_FAILED, e.to_string()),
            })?;
        let mut data = ws
            .data()
            .map_err(|e| TaskError::new(task_errors::AGENT_FAILED, e.to_string()))?
            .clone();
        // Both read the launch's post: triage its comments, recommend for its products.
        if matches!(agent_id, AgentId::CommentTriage | AgentId::NextMoveRecommender) {
            self.put_launch_post_first(&record.run, Arc::make_mut(&mut data))
                .await
                .map_err(retryable)?;
        }
        // What came before this step: its finished ancestors (every finished
        // step, for synthesis), not whatever another branch has done so far.
        let recipe = self.d.recipes.get(&record.run.workflow).map(|l| &l.recipe);
        let ancestors: Vec<&str> = match recipe {
            Some(r) if step.kind != StepKind::Synthesis => r
                .ancestors(&step.key)
                .into_iter()
                .map(|s| s.key.as_str())
                .collect(),
            _ => record.steps.iter().map(|s| s.key.as_str()).collect(),
        };
        let mut finished: Vec<&StepRecord> = record
            .steps
            .iter()
            .filter(|s| s.status.is_final() && ancestors.contains(&s.key.as_str()))
            .collect();
        finished.sort_by_key(|s| s.finished_at);
        let prior: Vec<PriorStep> = finished
            .iter()
            .map(|s| PriorStep {
                key: s.key.to_string(),
                label: s.label.clone(),
                kind: s.kind.clone(),
                agent: self
                    .d
                    .recipes
                    .get(&record.run.workflow)
                    .and_then(|l| l.recipe.step(s.key.as_str()).and_then(|d| d.agent.clone())),
                status: s.status.as_str().to_string(),
                output: s.output.clone(),
                cost_micros: s.cost.micros(),
                decision: s.decision.as_ref().and_then(|d| serde_json::to_value(d).ok()),
            })
            .collect();
        let asset_prefix = format!("/api/runs/{}/assets/", record.run.id);
        let input = AgentInput {
            agent: agent_id,
            run_id: record.run.id.as_str(),
            step_key: key.as_str(),
            step_label: &step.label,
            workflow: &record.run.workflow,
            workflow_name: &record.run.workflow_name,
            brief: &record.run.brief,
            workspace: &data,
            prior_steps: &prior,
            asset_url_prefix: &asset_prefix,
            priced_model: &self.d.config.priced_model,
        };
        let result = self.d.agents.run(input).await;
        fault_point!(self, faults::AGENT_BEFORE_OUTPUT);
        let now = self.now();
        let mut ev_end = |kind, extra| {
            events.push(ev(kind, extra));
            std::mem::take(&mut events)
        };
        match result {
            Ok(out) => {
                for asset in out.assets {
                    self.d
                        .blobs
                        .put(
                            &asset_key(&record.run.id, &asset.name),
                            &asset.content_type,
                            asset.bytes,
                        )
                        .await
                        .map_err(retryable)?;
                }
                let cost = Money::from_micros(out.cost_micros);
                self.d
                    .store
                    .update_step(&StepUpdate {
                        run_id: record.run.id.clone(),
                        key: key.clone(),
                        from: vec![StepStatus::Pending, StepStatus::Running],
                        to: StepStatus::Succeeded,
                        result: Some(StepResult {
                            output: Arc::new(out.output),
                            trail: out.trail,
                            cost,
                        }),
                        started_at,
                        finished_at: Some(now),
                        events: ev_end(EventType::StepSucceeded, json!({"cost_usd": cost.usd()})),
                    })
                    .await
                    .map_err(retryable)?;
                Ok(reference)
            }
            Err(e) => {
                let cause = format!("{}: {e}", step.label);
                warn!(run_id = %record.run.id, step = %key, error = %e, "agent failed");
                self.d
                    .store
                    .update_step(&StepUpdate {
                        run_id: record.run.id.clone(),
                        key: key.clone(),
                        from: vec![StepStatus::Pending, StepStatus::Running],
                        to: StepStatus::Failed,
                        result: Some(StepResult {
                            output: Arc::new(json!({"error": cause})),
                            trail: Vec::new(),
                            cost: Money::ZERO,
                        }),
                        started_at,
                        finished_at: Some(now),
                        events: ev_end(EventType::StepFailed, json!({"error": cause})),
                    })
                    .await
                    .map_err(retryable)?;
                Err(TaskError::new(task_errors::AGENT_FAILED, cause))
            }
        }
    }

    async fn open_gate(
        &self,
        record: &RunRecord,
        step: &greenlight_recipes::Step,
        token: String,
    ) -> Result<Value, TaskError> {
        let gate = step
            .gate
            .as_ref()
            .ok_or_else(|| TaskError::new(task_errors::BAD_PAYLOAD, "not a gate"))?;
        let key =
            StepKey::parse(&step.key).map_err(|e| TaskError::new(task_errors::BAD_PAYLOAD, e.to_string()))?;
        let step_id = StepId::new(&record.run.id, &key);
        let proposal = proposal_of(record, gate).ok_or_else(|| {
            TaskError::new(
                task_errors::AGENT_FAILED,
                format!(
                    "{}: the output of {} has no `{}` to review",
                    step.label, gate.upstream_step_key, gate.target_output_field
                ),
            )
        })?;
        let spend = proposal::spend(proposal);
        let required_role = gate.policy.as_ref().and_then(|p| {
            let over = match p.when_spend_over_usd {
                None => true,
                Some(limit) => {
                    spend.is_some_and(|(total, _)| Money::from_usd(limit).is_some_and(|l| total > l))
                }
            };
            over.then(|| p.required_role.clone())
        });
        let summary = proposal::summary(&gate.target_output_field, proposal);
        // A retried gate task finds its approval already open: the suggestion
        // stays the one the card showed (and the history will record). A gate
        // still pending in the run has none to look up (were one opened
        // meanwhile, the store keeps it, suggestion and all).
        let pending = record
            .step(&step.key)
            .is_some_and(|s| s.status == StepStatus::Pending);
        let existing = if pending {
            None
        } else {
            self.d.store.get_approval(&step_id).await.map_err(retryable)?
        };
        let (suggestion, card_cost) = match existing {
            Some(a) => (a.suggestion, Money::ZERO),
            None => self
                .suggest(
                    &record.run,
                    step,
                    &gate.target_output_field,
                    proposal,
                    spend.map(|(t, _)| t),
                )
                .await
                .map_or((None, Money::ZERO), |(s, cost)| (Some(s), cost)),
        };
        let approval = Approval {
            step_id: step_id.clone(),
            workspace_id: record.run.workspace_id.clone(),
            run_id: record.run.id.clone(),
            step_key: key.clone(),
            step_label: step.label.clone(),
            workflow: record.run.workflow.clone(),
            workflow_name: record.run.workflow_name.clone(),
            target_output_field: gate.target_output_field.clone(),
            upstream_step_key: gate.upstream_step_key.clone(),
            created_at: self.now(),
            status: ApprovalStatus::Pending,
            summary: summary.clone(),
            proposed_spend: spend.map(|(t, _)| t),
            proposed_daily: spend.and_then(|(_, d)| d),
            required_role: required_role.clone(),
            proposal_digest: proposal::digest(proposal),
            run_title: record
                .run
                .brief
                .get("title")
                .and_then(Value::as_str)
                .map(str::to_string),
            suggestion,
        };
        let events = vec![NewEvent {
            kind: EventType::ApprovalRequested,
            data: json!({
                "step_id": step_id, "step_key": key, "label": step.label,
                "summary": summary,
                "proposed_spend_usd": approval.proposed_spend.map(Money::usd),
                "required_role": required_role,
            }),
        }];
        let opened = self
            .d
            .store
            .open_gate(&OpenGate {
                approval: approval.clone(),
                task_token: token,
                events,
                cost: card_cost,
            })
            .await
            .map_err(retryable)?;
        match opened {
            GateOpened::AlreadyDecided => (self.d.resume_hint)(),
            GateOpened::Waiting if approval.suggestion.is_some() => self.maybe_auto_approve(&approval).await,
            // Opened before (a retried task, or a twin that won a race):
            // auto-approve looks at the approval the queue has, whose
            // suggestion is the one its card shows, not at this task's.
            GateOpened::StillWaiting => match self.d.store.get_approval(&step_id).await {
                Ok(Some(kept)) if kept.status == ApprovalStatus::Pending && kept.suggestion.is_some() => {
                    self.maybe_auto_approve(&kept).await
                }
                Ok(_) => {}
                Err(e) => {
                    warn!(step_id = %step_id, error = %e, "the kept approval could not be read: not auto-approved now")
                }
            },
            GateOpened::Waiting | GateOpened::Closed => {}
        }
        Ok(json!({"run_id": record.run.id, "step_key": key, "gate": format!("{opened:?}")}))
    }

    async fn run_action(
        &self,
        record: &RunRecord,
        step: &greenlight_recipes::Step,
    ) -> Result<Value, TaskError> {
        let key =
            StepKey::parse(&step.key).map_err(|e| TaskError::new(task_errors::BAD_PAYLOAD, e.to_string()))?;
        let step_id = StepId::new(&record.run.id, &key);
        let reference = json!({"run_id": record.run.id, "step_key": key});
        if record
            .step(&step.key)
            .is_some_and(|s| s.status == StepStatus::Succeeded)
        {
            return Ok(reference);
        }
        let loaded = self
            .d
            .recipes
            .get(&record.run.workflow)
            .ok_or_else(|| TaskError::new(task_errors::BAD_PAYLOAD, "no such workflow"))?;
        // The gate this action is behind: its nearest gate upstream.
        let gate_step = loaded
            .recipe
            .ancestors(&step.key)
            .into_iter()
            .rev()
            .find(|s| s.kind == StepKind::ApprovalGate)
            .ok_or_else(|| TaskError::new(task_errors::BAD_PAYLOAD, "an action without a gate"))?;
        let gate = gate_step
            .gate
            .as_ref()
            .ok_or_else(|| TaskError::new(task_errors::BAD_PAYLOAD, "not a gate"))?;
        let decided = record.step(&gate_step.key).and_then(|s| s.decision.clone());
        let Some(decision) = decided.filter(|d| d.verdict == Verdict::Approved) else {
            return Err(TaskError::new(
                task_errors::AGENT_FAILED,
                format!(
                    "{} was reached without an approval of {}; nothing was sent",
                    step.label, gate_step.label
                ),
            ));
        };
        let gate_output = record.step(&gate_step.key).and_then(|s| s.output.clone());
        let proposal = gate_output
            .as_ref()
            .and_then(|o| o.get("edited_proposal"))
            .cloned()
            .or_else(|| proposal_of(record, gate).cloned())
            .unwrap_or(Value::Null);
        let mut payload = serde_json::Map::new();
        payload.insert(gate.target_output_field.clone(), proposal);
        if let Some(asset) = record
            .step(&gate.upstream_step_key)
            .and_then(|s| s.output.as_ref())
            .and_then(|o| o.get("asset_url"))
        {
            payload.insert("asset_url".into(), asset.clone());
        }
        payload.insert("approved_by".into(), json!(decision.actor));
        payload.insert("approved_at".into(), json!(decision.at));
        let now = self.now();
        let item = OutboxItem {
            step_id: step_id.clone(),
            workspace_id: record.run.workspace_id.clone(),
            run_id: record.run.id.clone(),
            step_key: key.clone(),
            action: step.action.clone().unwrap_or_default(),
            payload: Value::Object(payload),
            sent_at: now,
        };
        let base = json!({"step_id": step_id, "step_key": key, "label": step.label});
        let update = StepUpdate {
            run_id: record.run.id.clone(),
            key: key.clone(),
            from: vec![StepStatus::Pending, StepStatus::Running],
            to: StepStatus::Succeeded,
            result: Some(StepResult {
                output: Arc::new(json!({"action": item.action, "sent_at": now, "outbox_step_id": step_id})),
                trail: Vec::new(),
                cost: Money::ZERO,
            }),
            started_at: Some(now),
            finished_at: Some(now),
            events: vec![
                NewEvent {
                    kind: EventType::StepStarted,
                    data: base.clone(),
                },
                NewEvent {
                    kind: EventType::StepSucceeded,
                    data: base,
                },
            ],
        };
        let gate_key = StepKey::parse(&gate_step.key)
            .map_err(|e| TaskError::new(task_errors::BAD_PAYLOAD, e.to_string()))?;
        let gate_id = StepId::new(&record.run.id, &gate_key);
        fault_point!(self, faults::ACTION_BEFORE_EFFECT);
        self.d
            .store
            .complete_action(&item, &update, &gate_id)
            .await
            .map_err(retryable)?;
        fault_point!(self, faults::ACTION_AFTER_EFFECT);
        Ok(reference)
    }

    /// An execution ended: record the run's outcome (idempotent, order-free).
    pub async fn execution_finished(&self, run_id: &RunId, outcome: ExecutionOutcome) -> Result<(), Error> {
        let now = self.now();
        let (status, error) = match &outcome {
            ExecutionOutcome::Succeeded => (RunStatus::Succeeded, None),
            ExecutionOutcome::Failed { error, cause } if error == errors::REJECTED => (
                RunStatus::Failed,
                Some(if cause.is_empty() {
                    "Rejected".to_string()
                } else {
                    cause.clone()
                }),
            ),
            ExecutionOutcome::Failed { error, cause } => (
                RunStatus::Failed,
                Some(if cause.is_empty() {
                    error.clone()
                } else {
                    format!("{cause} ({error})")
                }),
            ),
        };
        let event = NewEvent {
            kind: if status == RunStatus::Succeeded {
                EventType::RunSucceeded
            } else {
                EventType::RunFailed
            },
            data: json!({"run_id": run_id, "error": error}),
        };
        let changed = self
            .d
            .store
            .finish_run(&FinishRun {
                run_id: run_id.clone(),
                status,
                error,
                at: now,
                event,
            })
            .await?;
        if changed {
            info!(run_id = %run_id, status = status.as_str(), "run finished");
            self.changed(run_id);
        }
        Ok(())
    }

    /// Delivers committed decisions to the orchestrator; returns how many were settled.
    pub async fn resume_pending(&self) -> Result<usize, Error> {
        let pending = self.d.store.pending_resumes(100).await?;
        let mut settled = 0;
        for r in pending {
            let sent = match &r.action {
                ResumeAction::Success { output } => {
                    self.d
                        .orchestrator
                        .send_task_success(&r.task_token, output.clone())
                        .await
                }
                ResumeAction::Failure { error, cause } => {
                    self.d
                        .orchestrator
                        .send_task_failure(&r.task_token, error, cause)
                        .await
                }
            };
            match sent {
                Ok(()) => {
                    self.d.store.resume_done(&r.step_id).await?;
                    settled += 1;
                }
                Err(OrchestratorError::InvalidToken) => {
                    // The branch may have been closed by a sibling's rejection: look at the execution.
                    let workflow = match self.d.store.get_run(r.step_id.run_id()).await? {
                        Some(record) => record.run.workflow,
                        None => {
                            self.d.store.resume_done(&r.step_id).await?;
                            continue;
                        }
                    };
                    match self
                        .d
                        .orchestrator
                        .execution_status(&workflow, r.step_id.run_id())
                        .await
                    {
                        Ok(ExecutionStatus::Running) => {
                            self.d.store.resume_failed_attempt(&r.step_id).await?
                        }
                        Ok(_) | Err(OrchestratorError::NoExecution(_)) => {
                            self.d.store.resume_done(&r.step_id).await?;
                            settled += 1;
                        }
                        Err(e) => {
                            warn!(step_id = %r.step_id, error = %e, "could not read the execution");
                            self.d.store.resume_failed_attempt(&r.step_id).await?;
                        }
                    }
                }
                Err(e) => {
                    warn!(step_id = %r.step_id, error = %e, "resume failed; will retry");
                    self.d.store.resume_failed_attempt(&r.step_id).await?;
                }
            }
        }
        Ok(settled)
    }
}

/// The proposal a gate reviews: its `target_output_field` in the output of
/// its upstream agent.
fn proposal_of<'r>(record: &'r RunRecord, gate: &greenlight_recipes::Gate) -> Option<&'r Value> {
    record
        .step(&gate.upstream_step_key)
        .and_then(|s| s.output.as_ref())
        .and_then(|o| o.get(&gate.target_output_field))
}

fn check_waiting(step: &StepRecord) -> Result<(), Error> {
    match (step.status, &step.decision) {
        (StepStatus::WaitingForApproval, _) => Ok(()),
        (status, Some(d)) => Err(Error::AlreadyDecided {
            status,
            decision: Box::new(d.clone()),
        }),
        (StepStatus::Cancelled, None) => Err(Error::NotPending(format!(
            "the {} gate was cancelled: its run ended before anyone decided it",
            step.label
        ))),
        (status, None) => Err(Error::NotPending(format!(
            "the {} gate is not waiting for a decision (it is {})",
            step.label,
            status.as_str()
        ))),
    }
}

/// Blank: nothing but whitespace and invisible format characters (zero-width
/// spaces and joiners, word joiner, byte-order mark).
fn is_blank(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_whitespace() || matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}'))
}

fn clean_text(field: &str, text: Option<String>) -> Result<Option<String>, Error> {
    match text {
        None => Ok(None),
        Some(t) if is_blank(&t) => Ok(None),
        Some(t) => {
            let n = t.chars().count();
            if n > MAX_TEXT_CHARS {
                Err(Error::invalid(
                    field,
                    format!("is {n} characters long; at most {MAX_TEXT_CHARS}"),
                ))
            } else {
                Ok(Some(t.trim().to_string()))
            }
        }
    }
}

/// The generic four, then the gate's own items.
pub fn checklist(own: &[String]) -> Vec<String> {
    proposal::GENERIC_CHECKLIST
        .iter()
        .map(|s| s.to_string())
        .chain(own.iter().cloned())
        .collect()
}

fn run_products(run: &Run) -> Vec<String> {
    run.brief
        .get("products")
        .and_then(Value::as_array)
        .map(|p| p.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

/// Where a run's rendered asset is kept in the blob store.
pub fn asset_key(run: &RunId, name: &str) -> String {
    format!("runs/{run}/{name}")
}
