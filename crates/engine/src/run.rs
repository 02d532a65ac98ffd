//! The interpreter and the engine that owns running executions.

use crate::asl::{self, Kind, Machine, State};
use crate::*;
use futures::FutureExt;
use futures::future::{BoxFuture, try_join_all};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, oneshot};
use tracing::{debug, info, warn};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no state machine named `{0}`")]
    UnknownMachine(String),
    #[error("state machine `{0}`: {1}")]
    Definition(String, DefinitionError),
    #[error("state machine `{0}`: {1}")]
    Placeholder(String, String),
    #[error("an execution named `{0}` already exists with a different input")]
    ExecutionAlreadyExists(String),
    #[error("no execution named `{0}`")]
    NoExecution(String),
    #[error("the task token is not valid (the task is not waiting)")]
    InvalidToken,
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// Most state transitions one execution may make (Step Functions' history
/// limit is 25,000 events).
const MAX_TRANSITIONS: u64 = 25_000;

/// A task waiting on its token: in memory with its execution, or parked
/// (the execution was dropped from memory; completing the task replays it).
enum Waiter {
    Live(oneshot::Sender<TaskOutcome>),
    Parked,
}

/// By token; ordered, so an execution's tokens (`gl1|<execution>|…`) are a range.
type Waiters = Mutex<BTreeMap<String, Waiter>>;

/// How many paused executions stay in memory by default; older ones are
/// parked (dropped, and replayed from the journal when a task completes).
pub const DEFAULT_LIVE_PAUSED: usize = 128;

/// What one in-memory run of an execution shares with the engine.
#[derive(Default)]
struct Control {
    /// Tasks in progress (and retry waits), waiting ones included.
    in_task: AtomicUsize,
    /// Tasks waiting on a token.
    waiting: AtomicUsize,
    /// Set when the engine asks the execution to park.
    parking: AtomicBool,
    park: Notify,
    /// The tokens its waiting tasks wait on.
    tokens: Mutex<Vec<String>>,
}

impl Control {
    /// Every task in progress waits on a token: nothing moves until a decision.
    fn paused(&self) -> bool {
        let waiting = self.waiting.load(Ordering::SeqCst);
        waiting > 0 && waiting == self.in_task.load(Ordering::SeqCst)
    }
}

/// An execution with a run in memory (or about to have one).
struct Active {
    control: Arc<Control>,
    /// A task completed while the execution was parking: run it again.
    wake: bool,
}

struct Inner {
    machines: HashMap<String, Arc<Machine>>,
    journal: Arc<dyn Journal>,
    invoker: Arc<dyn Invoker>,
    listener: Arc<dyn Listener>,
    waiters: Waiters,
    /// At most one in-memory run per execution.
    active: Mutex<HashMap<String, Active>>,
    /// Executions that paused, oldest first (may hold stale entries).
    paused: Mutex<VecDeque<String>>,
    live_paused: usize,
    /// Whether retry intervals are waited (tests may shorten them).
    retry_scale: f64,
}

impl Inner {
    /// An execution paused: keep it in memory unless more than
    /// `live_paused` are; then park the oldest that is still paused.
    fn note_paused(&self, execution: &str) {
        let Ok(mut queue) = self.paused.lock() else { return };
        queue.push_back(execution.to_string());
        while queue.len() > self.live_paused {
            let Some(oldest) = queue.pop_front() else { break };
            let Ok(active) = self.active.lock() else { return };
            if let Some(a) = active.get(&oldest)
                && a.control.paused()
                && !a.control.parking.swap(true, Ordering::SeqCst)
            {
                // The run itself decides, under the waiters' lock (park_now).
                debug!(execution = %oldest, "parking a paused execution");
                a.control.park.notify_one();
            }
        }
    }
}

/// The local engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

/// The token of a waiting task: its execution and task key.
fn token_for(execution: &str, task_key: &str) -> String {
    format!("gl1|{execution}|{task_key}")
}

fn parse_token(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix("gl1|")?;
    rest.split_once('|')
}

impl Engine {
    /// Builds an engine over the given definitions (`name` → ASL with
    /// `${Placeholders}`), substituting placeholders from `table`. Refuses
    /// any construct outside the supported subset, naming the state.
    pub fn new(
        definitions: &[(String, Value)],
        table: &HashMap<String, String>,
        journal: Arc<dyn Journal>,
        invoker: Arc<dyn Invoker>,
        listener: Arc<dyn Listener>,
    ) -> Result<Engine, EngineError> {
        let mut machines = HashMap::new();
        for (name, def) in definitions {
            let def = asl::substitute(def, table).map_err(|e| EngineError::Placeholder(name.clone(), e))?;
            let machine =
                asl::parse_definition(&def).map_err(|e| EngineError::Definition(name.clone(), e))?;
            machines.insert(name.clone(), Arc::new(machine));
        }
        Ok(Engine {
            inner: Arc::new(Inner {
                machines,
                journal,
                invoker,
                listener,
                waiters: Mutex::new(BTreeMap::new()),
                active: Mutex::new(HashMap::new()),
                paused: Mutex::new(VecDeque::new()),
                live_paused: DEFAULT_LIVE_PAUSED,
                retry_scale: 1.0,
            }),
        })
    }

    /// How many paused executions stay in memory (0 parks every one as soon
    /// as it pauses); call before starting executions.
    pub fn with_live_paused(self, n: usize) -> Engine {
        self.configure(|inner| inner.live_paused = n)
    }

    /// Scales retry intervals (0.0 retries at once); for tests.
    pub fn with_retry_scale(self, scale: f64) -> Engine {
        self.configure(|inner| inner.retry_scale = scale)
    }

    /// Changes a setting; only before the engine is shared (then a no-op).
    fn configure(self, set: impl FnOnce(&mut Inner)) -> Engine {
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                set(&mut inner);
                Engine {
                    inner: Arc::new(inner),
                }
            }
            Err(inner) => Engine { inner },
        }
    }

    /// Starts an execution; starting one that exists with the same input is a no-op.
    pub async fn start(&self, machine: &str, name: &str, input: Value) -> Result<(), EngineError> {
        if !self.inner.machines.contains_key(machine) {
            return Err(EngineError::UnknownMachine(machine.to_string()));
        }
        let record = ExecutionRecord {
            name: name.to_string(),
            machine: machine.to_string(),
            input: input.clone(),
            start_time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            status: ExecutionStatus::Running,
            output: None,
            failure: None,
            notified: false,
        };
        if !self.inner.journal.create_execution(&record).await? {
            let existing = self.inner.journal.get_execution(name).await?;
            return match existing {
                Some(e) if e.machine == machine && e.input == input => Ok(()),
                _ => Err(EngineError::ExecutionAlreadyExists(name.to_string())),
            };
        }
        info!(execution = name, machine, "execution started");
        spawn_execution(&self.inner, record, true);
        Ok(())
    }

    /// Resumes every execution the journal has unfinished (after a restart).
    pub async fn recover(&self) -> Result<usize, EngineError> {
        let list = self.inner.journal.unfinished().await?;
        let n = list.len();
        for record in list {
            if record.status == ExecutionStatus::Running {
                info!(execution = %record.name, "resuming execution after restart");
                self.spawn(record);
            } else {
                let inner = self.inner.clone();
                tokio::spawn(async move { notify(&inner, &record).await });
            }
        }
        Ok(n)
    }

    /// Runs an execution in memory, unless it already runs: then that run
    /// is told to go on (if it is parking) instead.
    fn spawn(&self, record: ExecutionRecord) {
        spawn_execution(&self.inner, record, false);
    }

    pub async fn status(&self, name: &str) -> Result<ExecutionStatus, EngineError> {
        self.inner
            .journal
            .get_execution(name)
            .await?
            .map(|e| e.status)
            .ok_or_else(|| EngineError::NoExecution(name.to_string()))
    }

    pub async fn send_task_success(&self, token: &str, output: Value) -> Result<(), EngineError> {
        self.complete(token, TaskOutcome::Succeeded(output)).await
    }

    pub async fn send_task_failure(&self, token: &str, error: &str, cause: &str) -> Result<(), EngineError> {
        self.complete(
            token,
            TaskOutcome::Failed(Failure {
                error: error.to_string(),
                cause: cause.to_string(),
            }),
        )
        .await
    }

    async fn complete(&self, token: &str, outcome: TaskOutcome) -> Result<(), EngineError> {
        let (execution, task_key) = parse_token(token).ok_or(EngineError::InvalidToken)?;
        let Some(record) = self.inner.journal.get_execution(execution).await? else {
            return Err(EngineError::InvalidToken);
        };
        if record.status != ExecutionStatus::Running {
            return Err(EngineError::InvalidToken);
        }
        // Completing the same task again is a no-op: the resumer may retry
        // after a crash between its send and its bookkeeping.
        if self
            .inner
            .journal
            .task_outcome(execution, task_key)
            .await?
            .is_some()
        {
            return Ok(());
        }
        let waiting = self
            .inner
            .waiters
            .lock()
            .map(|w| w.contains_key(token))
            .unwrap_or(false);
        if !waiting {
            return Err(EngineError::InvalidToken);
        }
        if !self
            .inner
            .journal
            .record_task(execution, task_key, &outcome)
            .await?
        {
            // Another completion of this task won: the journal holds it.
            return Ok(());
        }
        // Under the waiters' lock, so an ending run cannot slip away between
        // the waiter's removal and the spawn (it purges its waiters, and
        // leaves `active`, under this lock too).
        let Ok(mut waiters) = self.inner.waiters.lock() else {
            return Ok(());
        };
        match waiters.remove(token) {
            Some(Waiter::Live(sender)) => {
                let _ = sender.send(outcome);
            }
            // Parked: run the execution again; the journal holds the outcome.
            Some(Waiter::Parked) => spawn_execution(&self.inner, record, false),
            None => {}
        }
        Ok(())
    }

    /// How many executions have a run in memory (paused ones past the
    /// limit are parked, and not counted).
    pub fn in_memory(&self) -> usize {
        self.inner.active.lock().map(|a| a.len()).unwrap_or(0)
    }

    /// How many tasks are waiting on a token right now.
    pub fn waiting_tasks(&self) -> usize {
        self.inner.waiters.lock().map(|w| w.len()).unwrap_or(0)
    }
}

async fn notify(inner: &Inner, record: &ExecutionRecord) {
    for attempt in 0..10u32 {
        match inner.listener.execution_finished(record).await {
            Ok(()) => {
                if let Err(e) = inner.journal.mark_notified(&record.name).await {
                    warn!(execution = %record.name, error = %e, "could not mark execution notified");
                }
                return;
            }
            Err(e) => {
                warn!(execution = %record.name, attempt, error = %e, "execution listener failed; retrying");
                tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt.min(6)))).await;
            }
        }
    }
}

/// `fresh`: the execution was created just now, so the journal holds no
/// outcome of it yet (its tasks need not look one up).
fn spawn_execution(inner: &Arc<Inner>, record: ExecutionRecord, fresh: bool) {
    let control = Arc::new(Control::default());
    {
        let Ok(mut active) = inner.active.lock() else {
            return;
        };
        if let Some(a) = active.get_mut(&record.name) {
            a.wake = true;
            return;
        }
        active.insert(
            record.name.clone(),
            Active {
                control: control.clone(),
                wake: false,
            },
        );
    }
    let inner = inner.clone();
    tokio::spawn(async move { run_execution(inner, record, control, fresh).await });
}

/// Takes an execution's in-memory entry away if its run ends by panicking,
/// so a later decision can run it again.
struct ActiveEntry {
    inner: Arc<Inner>,
    name: String,
}

impl Drop for ActiveEntry {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Ok(mut active) = self.inner.active.lock()
        {
            active.remove(&self.name);
        }
    }
}

async fn run_execution(
    inner: Arc<Inner>,
    mut record: ExecutionRecord,
    mut control: Arc<Control>,
    mut fresh: bool,
) {
    let _entry = ActiveEntry {
        inner: inner.clone(),
        name: record.name.clone(),
    };
    let Some(machine) = inner.machines.get(&record.machine).cloned() else {
        if let Ok(mut active) = inner.active.lock() {
            active.remove(&record.name);
        }
        // Not loaded in this process (a custom recipe started without it):
        // the execution stays as it is, to resume when a process that has the
        // state machine recovers it. Failing it would lose its waiting gates.
        warn!(
            execution = %record.name,
            machine = %record.machine,
            "this process does not have the state machine; the execution stays paused until one that has it starts"
        );
        return;
    };
    let result = loop {
        let run = run_in_memory(&inner, &record, &machine, control.clone(), fresh).await;
        // Once parked, a decision may be in the journal.
        fresh = false;
        match run {
            Some(result) => break result,
            None => {
                // Parked. Unless a task completed meanwhile, the execution
                // leaves memory until one does.
                let Ok(mut active) = inner.active.lock() else {
                    return;
                };
                match active.get_mut(&record.name) {
                    Some(a) if a.wake => {
                        control = Arc::new(Control::default());
                        a.control = control.clone();
                        a.wake = false;
                    }
                    _ => {
                        active.remove(&record.name);
                        return;
                    }
                }
            }
        }
    };
    forget_execution(&inner, &record.name);
    let (status, output, failure) = match result {
        Ok(v) => (ExecutionStatus::Succeeded, Some(v), None),
        Err(f) => (ExecutionStatus::Failed, None, Some(f)),
    };
    loop {
        match inner
            .journal
            .finish_execution(&record.name, status, output.as_ref(), failure.as_ref())
            .await
        {
            Ok(()) => break,
            Err(e) => {
                warn!(execution = %record.name, error = %e, "could not record the end of the execution; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    info!(execution = %record.name, status = status.as_str(), "execution finished");
    record.status = status;
    record.output = output;
    record.failure = failure;
    notify(&inner, &record).await;
}

/// Runs the execution (replaying the journal) until it ends, or until it is
/// parked (`None`).
async fn run_in_memory(
    inner: &Arc<Inner>,
    record: &ExecutionRecord,
    machine: &Machine,
    control: Arc<Control>,
    fresh: bool,
) -> Option<Result<Value, Failure>> {
    let ctx = Ctx {
        inner: inner.clone(),
        control: control.clone(),
        execution: record.name.clone(),
        context: json!({
            "Execution": {
                "Id": format!("arn:greenlight:local:execution:{}:{}", record.machine, record.name),
                "Name": record.name,
                "StartTime": record.start_time,
                "Input": record.input,
            },
            "StateMachine": {"Id": format!("arn:greenlight:local:stateMachine:{}", record.machine), "Name": record.machine},
        }),
        transitions: std::sync::atomic::AtomicU64::new(0),
        // Read once: a replay finds its tasks' outcomes here. An outcome
        // recorded later is read from the journal when its task comes.
        journaled: Mutex::new(if fresh {
            HashMap::new()
        } else {
            inner
                .journal
                .task_outcomes(&record.name)
                .await
                .unwrap_or_default()
        }),
        fresh,
    };
    let run = run_machine(&ctx, machine, record.input.clone(), String::new());
    tokio::pin!(run);
    loop {
        tokio::select! {
            biased;
            result = &mut run => return Some(result),
            () = control.park.notified() => {
                if park_now(inner, &control) {
                    return None;
                }
                control.parking.store(false, Ordering::SeqCst);
            }
        }
    }
}

/// An execution ended: drops what is left of its waiters (gates parked when
/// a sibling's rejection ended the run before the replay reached them) and
/// its in-memory entry, together under the waiters' lock, so a decision
/// either finds a waiter while the run is known or finds neither.
fn forget_execution(inner: &Inner, execution: &str) {
    let prefix = token_for(execution, "");
    let Ok(mut waiters) = inner.waiters.lock() else {
        return;
    };
    let stale: Vec<String> = waiters
        .range(prefix.clone()..)
        .take_while(|(t, _)| t.starts_with(&prefix))
        .map(|(t, _)| t.clone())
        .collect();
    for t in stale {
        waiters.remove(&t);
    }
    if let Ok(mut active) = inner.active.lock() {
        active.remove(execution);
    }
}

/// Whether the execution can leave memory now: every task in progress
/// waits on a token and no decision has taken one of them. Decided under
/// the waiters' lock, where the waiters become parked, so a decision either
/// reaches the run in memory or finds the task parked (and replays it).
fn park_now(inner: &Inner, control: &Control) -> bool {
    let Ok(mut waiters) = inner.waiters.lock() else {
        return false;
    };
    let Ok(tokens) = control.tokens.lock() else {
        return false;
    };
    let all_waiting = control.paused()
        && !tokens.is_empty()
        && tokens
            .iter()
            .all(|t| matches!(waiters.get(t), Some(Waiter::Live(_))));
    if all_waiting {
        for t in tokens.iter() {
            waiters.insert(t.clone(), Waiter::Parked);
        }
    }
    all_waiting
}

struct Ctx {
    inner: Arc<Inner>,
    control: Arc<Control>,
    execution: String,
    context: Value,
    transitions: std::sync::atomic::AtomicU64,
    /// The outcomes journaled when this run began, taken as tasks replay.
    journaled: Mutex<HashMap<String, TaskOutcome>>,
    /// The execution began in this run, and has not been parked: only this
    /// run records its tasks' outcomes (a waiting task's arrives on its
    /// channel), so none is looked up in the journal.
    fresh: bool,
}

impl Ctx {
    /// A task's journaled outcome: from what this run read when it began,
    /// else from the journal.
    async fn outcome(&self, key: &str) -> Result<Option<TaskOutcome>, JournalError> {
        if let Some(o) = self.journaled.lock().ok().and_then(|mut j| j.remove(key)) {
            return Ok(Some(o));
        }
        if self.fresh {
            return Ok(None);
        }
        self.inner.journal.task_outcome(&self.execution, key).await
    }
}

fn runtime(cause: impl Into<String>) -> Failure {
    Failure {
        error: "States.Runtime".into(),
        cause: cause.into(),
    }
}

/// Runs a machine or branch from its start; `scope` keys its tasks.
fn run_machine<'a>(
    ctx: &'a Ctx,
    machine: &'a Machine,
    input: Value,
    scope: String,
) -> BoxFuture<'a, Result<Value, Failure>> {
    async move {
        let mut visits: HashMap<String, u32> = HashMap::new();
        let mut name = machine.start_at.clone();
        let mut input = input;
        loop {
            let n = ctx.transitions.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if n >= MAX_TRANSITIONS {
                return Err(runtime(format!(
                    "the execution exceeded {MAX_TRANSITIONS} state transitions"
                )));
            }
            let state = machine
                .states
                .get(&name)
                .ok_or_else(|| runtime(format!("no state `{name}`")))?;
            let visit = visits.entry(name.clone()).or_insert(0);
            *visit += 1;
            let key = format!("{scope}/{name}#{visit}");
            debug!(execution = %ctx.execution, state = %name, "entering state");
            match run_state(ctx, state, input, &key).await? {
                Step::Next(next, output) => {
                    name = next;
                    input = output;
                }
                Step::End(output) => return Ok(output),
            }
        }
    }
    .boxed()
}

enum Step {
    Next(String, Value),
    End(Value),
}

fn finish(state: &State, output: Value) -> Step {
    match &state.common.next {
        Some(n) => Step::Next(n.clone(), output),
        None => Step::End(output),
    }
}

/// The context object (`$$`) as `state` sees it; null for a state that
/// never reads it (most: a copy per state was a measurable share of a run).
fn state_context(ctx: &Ctx, state: &State, retry_count: u32, token: Option<&str>) -> Value {
    if !state.uses_context {
        return Value::Null;
    }
    let mut c = ctx.context.clone();
    if let Value::Object(m) = &mut c {
        m.insert(
            "State".into(),
            json!({"Name": state.name, "RetryCount": retry_count}),
        );
        if let Some(t) = token {
            m.insert("Task".into(), json!({"Token": t}));
        }
    }
    c
}

async fn run_state(ctx: &Ctx, state: &State, raw_input: Value, key: &str) -> Result<Step, Failure> {
    let c = &state.common;
    match &state.kind {
        Kind::Succeed => {
            let ctxv = state_context(ctx, state, 0, None);
            let v = c.input_path.apply(raw_input, &ctxv).map_err(runtime)?;
            return Ok(Step::End(c.output_path.apply(v, &ctxv).map_err(runtime)?));
        }
        Kind::Fail { error, cause } => {
            return Err(Failure {
                error: error.clone(),
                cause: cause.clone(),
            });
        }
        Kind::Pass { result } => {
            let ctxv = state_context(ctx, state, 0, None);
            let effective = c.input_path.apply(raw_input.clone(), &ctxv).map_err(runtime)?;
            let res = match (&c.parameters, result) {
                (_, Some(r)) => r.clone(),
                (Some(p), None) => p.render(&effective, &ctxv).map_err(runtime)?,
                (None, None) => effective,
            };
            let out = c.result_path.apply(raw_input, res).map_err(runtime)?;
            return Ok(finish(state, c.output_path.apply(out, &ctxv).map_err(runtime)?));
        }
        Kind::Task { .. } | Kind::Parallel { .. } => {}
    }

    // Task and Parallel: attempts under Retry, then Catch.
    let mut attempts: Vec<u32> = vec![0; c.retry.len()];
    let mut attempt: u32 = 0;
    loop {
        let attempt_key = format!("{key}@{attempt}");
        let result = attempt_state(ctx, state, raw_input.clone(), &attempt_key, attempt).await;
        let failure = match result {
            Ok(out) => return Ok(finish(state, out)),
            Err(f) => f,
        };
        // Retry?
        let retrier = c
            .retry
            .iter()
            .position(|r| asl::matches(&r.errors, &failure.error));
        if let Some(i) = retrier {
            let r = &c.retry[i];
            if attempts[i] < r.max_attempts {
                let mut delay = r.interval_seconds * r.backoff_rate.powi(attempts[i] as i32);
                if let Some(max) = r.max_delay_seconds {
                    delay = delay.min(max);
                }
                attempts[i] += 1;
                attempt += 1;
                // Between attempts is work in progress (the lookup and the
                // wait): the execution is not paused.
                let _busy = Busy::enter(ctx);
                // A retry whose outcome is already journaled (replay) need not wait.
                let next = format!("{key}@{attempt}");
                let replayed = ctx.journaled.lock().is_ok_and(|j| j.contains_key(&next))
                    || !ctx.fresh
                        && matches!(
                            ctx.inner.journal.task_outcome(&ctx.execution, &next).await,
                            Ok(Some(_))
                        );
                if !replayed {
                    warn!(execution = %ctx.execution, state = %state.name, error = %failure.error, attempt, "retrying");
                    let secs = (delay * ctx.inner.retry_scale).max(0.0);
                    tokio::time::sleep(Duration::from_secs_f64(secs.min(3600.0))).await;
                }
                continue;
            }
        }
        // Catch?
        if let Some(catcher) = c.catch.iter().find(|k| asl::matches(&k.errors, &failure.error)) {
            let error_output = json!({"Error": failure.error, "Cause": failure.cause});
            let out = catcher
                .result_path
                .apply(raw_input, error_output)
                .map_err(runtime)?;
            return Ok(Step::Next(catcher.next.clone(), out));
        }
        return Err(failure);
    }
}

/// One attempt of a Task or Parallel state: input processing, the work,
/// result processing.
async fn attempt_state(
    ctx: &Ctx,
    state: &State,
    raw_input: Value,
    key: &str,
    retry_count: u32,
) -> Result<Value, Failure> {
    let c = &state.common;
    let token = match state.kind {
        Kind::Task { wait_for_token: true } => Some(token_for(&ctx.execution, key)),
        _ => None,
    };
    let ctxv = state_context(ctx, state, retry_count, token.as_deref());
    let effective = c.input_path.apply(raw_input.clone(), &ctxv).map_err(runtime)?;
    let params = match &c.parameters {
        Some(p) => p.render(&effective, &ctxv).map_err(runtime)?,
        None => effective,
    };
    let result = match &state.kind {
        Kind::Task { wait_for_token } => {
            run_task(ctx, state, params, key, token.filter(|_| *wait_for_token)).await?
        }
        Kind::Parallel { branches } => {
            let futures = branches
                .iter()
                .enumerate()
                .map(|(i, b)| run_machine(ctx, b, params.clone(), format!("{key}[{i}]")));
            Value::Array(try_join_all(futures).await?)
        }
        _ => unreachable!("only Task and Parallel states have attempts"),
    };
    let selected = match &c.result_selector {
        Some(s) => s.render(&result, &ctxv).map_err(runtime)?,
        None => result,
    };
    let out = c.result_path.apply(raw_input, selected).map_err(runtime)?;
    c.output_path.apply(out, &ctxv).map_err(runtime)
}

/// Removes a waiter when its task stops waiting for any reason (a sibling
/// branch failed and this one was dropped, or it completed), unless its
/// execution was parked.
struct WaiterGuard<'a> {
    ctx: &'a Ctx,
    token: String,
}

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        // A parked waiter (park_now marked it, under this lock) outlives the
        // run in memory; a live one goes with its task.
        if let Ok(mut w) = self.ctx.inner.waiters.lock()
            && matches!(w.get(&self.token), Some(Waiter::Live(_)))
        {
            w.remove(&self.token);
        }
    }
}

/// A task (or retry wait) in progress, counted while it lasts; when only
/// token waits are left, the execution is paused.
struct Busy<'a> {
    ctx: &'a Ctx,
}

impl<'a> Busy<'a> {
    fn enter(ctx: &'a Ctx) -> Busy<'a> {
        ctx.control.in_task.fetch_add(1, Ordering::SeqCst);
        Busy { ctx }
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.ctx.control.in_task.fetch_sub(1, Ordering::SeqCst);
        if self.ctx.control.paused() {
            self.ctx.inner.note_paused(&self.ctx.execution);
        }
    }
}

/// A task waiting on its token, counted while it waits.
struct Waiting<'a> {
    ctx: &'a Ctx,
    token: String,
}

impl<'a> Waiting<'a> {
    fn enter(ctx: &'a Ctx, token: &str) -> Waiting<'a> {
        if let Ok(mut tokens) = ctx.control.tokens.lock() {
            tokens.push(token.to_string());
        }
        ctx.control.waiting.fetch_add(1, Ordering::SeqCst);
        if ctx.control.paused() {
            ctx.inner.note_paused(&ctx.execution);
        }
        Waiting {
            ctx,
            token: token.to_string(),
        }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.ctx.control.waiting.fetch_sub(1, Ordering::SeqCst);
        if let Ok(mut tokens) = self.ctx.control.tokens.lock() {
            tokens.retain(|t| *t != self.token);
        }
    }
}

async fn run_task(
    ctx: &Ctx,
    state: &State,
    params: Value,
    key: &str,
    token: Option<String>,
) -> Result<Value, Failure> {
    let _busy = Busy::enter(ctx);
    let journal = &ctx.inner.journal;
    // Replay: an outcome already journaled is the outcome.
    match ctx.outcome(key).await {
        Ok(Some(TaskOutcome::Succeeded(v))) => return Ok(v),
        Ok(Some(TaskOutcome::Failed(f))) => return Err(f),
        Ok(None) => {}
        Err(e) => {
            return Err(Failure {
                error: "Lambda.ServiceException".into(),
                cause: e.to_string(),
            });
        }
    }
    let function = params
        .get("FunctionName")
        .and_then(Value::as_str)
        .ok_or_else(|| runtime(format!("state `{}`: no FunctionName", state.name)))?
        .to_string();
    let payload = params.get("Payload").cloned().unwrap_or(Value::Null);

    // Register the waiter before the gate function runs, so a decision can
    // never arrive before anyone listens.
    let mut was_parked = false;
    let waiting = match &token {
        Some(t) => {
            let (tx, rx) = oneshot::channel();
            if let Ok(mut w) = ctx.inner.waiters.lock() {
                was_parked = matches!(w.insert(t.clone(), Waiter::Live(tx)), Some(Waiter::Parked));
            }
            Some((
                rx,
                WaiterGuard {
                    ctx,
                    token: t.clone(),
                },
            ))
        }
        None => None,
    };

    // A task parked while waiting had its function run already (a run is
    // parked only once every waiting task's function returned): a replay
    // waits on the token again without invoking it twice.
    let invoked = if was_parked {
        Ok(Value::Null)
    } else {
        // The invocation runs to completion even if this branch is dropped.
        let invoker = ctx.inner.invoker.clone();
        let f = function.clone();
        tokio::spawn(async move { invoker.invoke(&f, payload).await })
            .await
            .unwrap_or_else(|e| {
                Err(Failure {
                    error: "Lambda.ServiceException".into(),
                    cause: format!("the function crashed: {e}"),
                })
            })
    };

    match waiting {
        None => {
            let outcome = match &invoked {
                Ok(v) => TaskOutcome::Succeeded(json!({"Payload": v, "StatusCode": 200})),
                Err(f) => TaskOutcome::Failed(f.clone()),
            };
            if let Err(e) = journal.record_task(&ctx.execution, key, &outcome).await {
                return Err(Failure {
                    error: "Lambda.ServiceException".into(),
                    cause: e.to_string(),
                });
            }
            match outcome {
                TaskOutcome::Succeeded(v) => Ok(v),
                TaskOutcome::Failed(f) => Err(f),
            }
        }
        Some((rx, guard)) => {
            // The function failing to start the wait fails the attempt (and is not journaled,
            // so a replay invokes it again).
            invoked?;
            // A decision may have completed this task while it was parked and
            // before this run registered again: the journal has it then.
            // (Never so in a fresh execution: nothing of it was parked.)
            if (was_parked || !ctx.fresh)
                && let Ok(Some(outcome)) = journal.task_outcome(&ctx.execution, key).await
            {
                drop(guard);
                return match outcome {
                    TaskOutcome::Succeeded(v) => Ok(v),
                    TaskOutcome::Failed(f) => Err(f),
                };
            }
            let waiting = Waiting::enter(ctx, &guard.token);
            let outcome = rx.await.map_err(|_| runtime("the waiting task was abandoned"))?;
            drop(waiting);
            drop(guard);
            match outcome {
                TaskOutcome::Succeeded(v) => Ok(v),
                TaskOutcome::Failed(f) => Err(f),
            }
        }
    }
}
