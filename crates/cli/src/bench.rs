//! `greenlight bench`: Greenlight's performance on this machine, on the
//! embedded store with the offline agents, each measurement on a fresh data
//! directory (and each run count in a fresh process). Prints a table and
//! writes the figures as JSON.
//!
//! What it measures, at each run count N:
//! - throughput: Campaign Launch runs per second from start to all four
//!   gates waiting (in-process, 64 starts in flight), and the CPU time a
//!   run took on the way (steadier than the rate on a shared machine);
//! - memory: the process's RSS with N runs waiting;
//! - resume latency: from a decision's commit to the next step starting,
//!   for approvals made in-process and over HTTP, and the approve call's
//!   round trip over HTTP;
//! - decisions: approvals per second from concurrent HTTP clients, then a
//!   check that none was lost or doubled;
//! - end to end: runs per second from start through four approvals to
//!   success, with concurrent in-process clients.
//!
//! And the approvals queue: the first page (50) with 1,000, 10,000 and
//! 100,000 approvals pending, in-process and over HTTP.

use anyhow::{Context, Result, bail};
use clap::Args;
use greenlight_core::ids::{MemberId, RunId, WorkspaceId};
use greenlight_core::model::{Member, PageRequest, StepStatus, Verdict, Workspace};
use greenlight_core::money::Money;
use greenlight_core::ports::QueueFilter;
use greenlight_core::service::token_hash;
use greenlight_core::service::{DecideRequest, StartRun};
use greenlight_core::views::RunView;
use greenlight_local::{AgentsMode, Local, Options};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore};

const GATES: [&str; 4] = ["listings_gate", "publish_gate", "ad_spend_gate", "outreach_gate"];
/// The bench workspace's token (the bench creates it in a throwaway store).
const TOKEN: &str = "bench-token-not-a-secret";
const BRIEF: &str = "briefs/demo-campaign-launch-spring-linen.json";

#[derive(Args)]
pub struct BenchArgs {
    /// Run counts to measure throughput, memory, resume latency, decisions and end to end at.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    runs: Vec<usize>,
    /// Pending approvals to time the queue's first page at (0 to skip).
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,100000")]
    queue: Vec<usize>,
    /// Concurrent clients for the decisions and end-to-end measurements.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Gates per measurement of resume latency (in-process and over HTTP each).
    #[arg(long, default_value_t = 1000)]
    resumes: usize,
    /// `offline`: the offline agents write every step's answer, as in
    /// `greenlight dev`. `replayed`: each step's first answer is replayed
    /// for every later run, so the figures are Greenlight's own work
    /// (engine, store, gates, the approver agent, API) without the agents'.
    #[arg(long, value_enum, default_value_t = BenchAgents::Offline)]
    agents: BenchAgents,
    /// The sample data (for the demo workspace and its brief).
    #[arg(long, default_value = "samplesdata")]
    samples: PathBuf,
    /// Where to write the figures as JSON.
    #[arg(long, default_value = "bench.json")]
    out: PathBuf,
    /// Measure the one run count given and write its figures here (how the
    /// bench runs each run count in a process of its own).
    #[arg(long, hide = true)]
    child_out: Option<PathBuf>,
    /// Stop when stdin closes: how a measuring process learns that the
    /// bench that started it has ended, however it ended.
    #[arg(long, hide = true)]
    stop_when_stdin_closes: bool,
}

/// Which agents answer in the bench.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchAgents {
    Offline,
    Replayed,
}

impl BenchAgents {
    fn name(self) -> &'static str {
        match self {
            BenchAgents::Offline => "offline",
            BenchAgents::Replayed => "replayed",
        }
    }
}

/// The offline agents' first answer for each step, replayed for every
/// later run: the bench's one brief in one workspace gets the same answer
/// but for the run id in its asset URLs, which is not worth computing
/// again when what is measured is everything but the agents.
#[derive(Default)]
struct Replayed {
    answers: Mutex<HashMap<(String, String), greenlight_agents::AgentOutput>>,
}

#[async_trait::async_trait]
impl greenlight_core::ports::AgentRunner for Replayed {
    async fn run(
        &self,
        input: greenlight_agents::AgentInput<'_>,
    ) -> Result<greenlight_agents::AgentOutput, greenlight_agents::AgentError> {
        let key = (input.workflow.to_string(), input.step_key.to_string());
        if let Some(out) = self.answers.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(out.clone());
        }
        let out = greenlight_agents::run(&input)?;
        self.answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, out.clone());
        Ok(out)
    }

    fn answers_at_once(&self) -> bool {
        true
    }
}

/// A fresh embedded Greenlight in a temporary directory.
struct Rig {
    local: Local,
    member: Member,
    brief: Value,
    waiters: Arc<Waiters>,
    _dir: tempfile::TempDir,
}

/// Wakes whoever waits on a run when the run changes.
#[derive(Default)]
struct Waiters {
    map: Mutex<HashMap<RunId, Arc<Notify>>>,
}

impl Waiters {
    fn of(&self, id: &RunId) -> Arc<Notify> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(id.clone()).or_default().clone()
    }

    fn wake(&self, id: &RunId) {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get(id) {
            n.notify_one();
        }
    }

    fn wake_all(&self) {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        for n in map.values() {
            n.notify_one();
        }
    }
}

impl Rig {
    async fn new(samples: &std::path::Path, agents: BenchAgents) -> Result<Rig> {
        let dir = tempfile::tempdir().context("a temporary data directory")?;
        let mut opts = Options::new(dir.path());
        opts.samples_dir = Some(samples.to_path_buf());
        opts.agents = AgentsMode::Offline;
        if agents == BenchAgents::Replayed {
            opts.agent_runner = Some(Arc::new(Replayed::default()));
        }
        let local = Local::start(opts).await?;
        // A workspace of its own: the demo brand's data, and a spend cap no
        // benchmark reaches (the cap is checked on every approval all the same).
        let store = local.app.store();
        let demo = store
            .get_workspace(&WorkspaceId::parse("demo")?)
            .await?
            .context("the demo workspace (seeded from the sample data)")?;
        let ws = Workspace {
            id: WorkspaceId::parse("bench")?,
            name: "Bench".into(),
            spend_cap: Money::from_usd(1e9).context("a spend cap")?,
            data: demo.data,
        };
        store.put_workspace(&ws).await?;
        // And the demo brand's decision history, so that the approver agent
        // predicts every card, as in a workspace that has been deciding a while.
        for gate in GATES {
            let mut cursor = None;
            loop {
                let page = store
                    .list_history(
                        &demo.id,
                        "campaign-launch",
                        gate,
                        &PageRequest { limit: 200, cursor },
                    )
                    .await?;
                store.add_history(&ws.id, &page.items).await?;
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
        }
        let member = Member {
            workspace_id: ws.id.clone(),
            id: MemberId::parse("bench")?,
            name: "Bench".into(),
            roles: vec!["member".into(), "ops-lead".into()],
        };
        store.put_member(&member).await?;
        store.put_token(&token_hash(TOKEN), &member, false).await?;
        let path = samples.join(BRIEF);
        let brief: Value = serde_json::from_str(
            &std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?,
        )?;
        let waiters = Arc::new(Waiters::default());
        let mut rx = local.subscribe();
        let w = waiters.clone();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(id) => w.wake(&id),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => w.wake_all(),
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        Ok(Rig {
            local,
            member,
            brief,
            waiters,
            _dir: dir,
        })
    }

    async fn start(&self) -> Result<RunId> {
        let view = self
            .local
            .app
            .start_run(
                &self.member,
                StartRun {
                    workflow: Some("campaign-launch".into()),
                    brief: Some(self.brief.clone()),
                    ..StartRun::default()
                },
            )
            .await?;
        Ok(RunId::parse(view.run_id)?)
    }

    /// Starts `n` runs, `in_flight` at a time.
    async fn start_many(self: &Arc<Self>, n: usize, in_flight: usize) -> Result<Vec<RunId>> {
        let sem = Arc::new(Semaphore::new(in_flight));
        let mut tasks = Vec::with_capacity(n);
        for _ in 0..n {
            let permit = sem.clone().acquire_owned().await?;
            let rig = self.clone();
            tasks.push(tokio::spawn(async move {
                let id = rig.start().await;
                drop(permit);
                id
            }));
        }
        let mut ids = Vec::with_capacity(n);
        for t in tasks {
            ids.push(t.await??);
        }
        Ok(ids)
    }

    async fn pending(&self) -> Result<u64> {
        Ok(self.local.store.count_pending().await?)
    }

    /// Waits until `n` approvals are pending (polling a count).
    async fn until_pending(&self, n: u64) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(3600);
        loop {
            if self.pending().await? >= n {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{n} approvals never became pending");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    async fn view(&self, id: &RunId) -> Result<RunView> {
        Ok(self.local.app.run_view(&self.member, id.as_str()).await?)
    }

    /// Waits until `check` holds of the run, woken by its changes.
    async fn until(&self, id: &RunId, check: impl Fn(&RunView) -> bool) -> Result<RunView> {
        let notify = self.waiters.of(id);
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let view = self.view(id).await?;
            if check(&view) {
                return Ok(view);
            }
            if Instant::now() > deadline {
                bail!("run {id} never reached the state waited for");
            }
            let _ = tokio::time::timeout(Duration::from_millis(500), notify.notified()).await;
        }
    }

    async fn approve(&self, id: &RunId, gate: &str) -> Result<Value> {
        let resp = self
            .local
            .app
            .decide(
                &self.member,
                &format!("{id}.{gate}"),
                DecideRequest {
                    verdict: Verdict::Approved,
                    comment: None,
                    feedback: None,
                    proposal_digest: None,
                    edited_proposal: None,
                },
            )
            .await?;
        Ok(serde_json::to_value(resp)?)
    }
}

fn status_of(view: &RunView, key: &str) -> Option<StepStatus> {
    view.steps.iter().find(|s| s.step_key == key).map(|s| s.status)
}

fn waiting(view: &RunView) -> usize {
    view.steps
        .iter()
        .filter(|s| s.status == StepStatus::WaitingForApproval)
        .count()
}

/// The first number after `field` in a `/proc/self` file of `name: value`
/// lines (`status`, `io`).
fn proc_field(file: &str, field: &str) -> Option<f64> {
    std::fs::read_to_string(format!("/proc/self/{file}"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The process's resident set size, in MB.
fn rss_mb() -> f64 {
    proc_field("status", "VmRSS:").map_or(f64::NAN, |kb| kb / 1024.0)
}

/// The CPU time this process has used (user and system, all threads), in
/// milliseconds, from `/proc/self/stat` (counted in USER_HZ, which Linux
/// fixes at 100 for user space).
fn cpu_ms() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // The fields after the command name (which may hold spaces): utime and stime are 14th and 15th.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
            Some(ticks * 10.0)
        })
        .unwrap_or(f64::NAN)
}

/// The bytes this process has handed to write calls (files and sockets,
/// all threads), from `/proc/self/io`.
fn written_bytes() -> f64 {
    proc_field("io", "wchar:").unwrap_or(f64::NAN)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary_ms(mut samples: Vec<f64>) -> Value {
    samples.sort_by(|a, b| a.total_cmp(b));
    json!({
        "n": samples.len(),
        "median_ms": round3(percentile(&samples, 0.5)),
        "p99_ms": round3(percentile(&samples, 0.99)),
        "max_ms": round3(samples.last().copied().unwrap_or(f64::NAN)),
    })
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Milliseconds from a decision's commit to the next step starting, per run,
/// read from the run's own events.
async fn resume_latencies(rig: &Rig, ids: &[RunId], gate: &str, action: &str) -> Result<Vec<f64>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let view = rig
            .until(id, |v| status_of(v, action) == Some(StepStatus::Succeeded))
            .await?;
        let decided = view
            .steps
            .iter()
            .find(|s| s.step_key == gate)
            .and_then(|s| s.decision.as_ref())
            .map(|d| d.at)
            .context("the gate's decision")?;
        let started = view
            .steps
            .iter()
            .find(|s| s.step_key == action)
            .and_then(|s| s.started_at)
            .context("the action's start")?;
        let ms = (started.datetime() - decided.datetime())
            .num_microseconds()
            .unwrap_or(0) as f64
            / 1000.0;
        out.push(ms);
    }
    Ok(out)
}

async fn at_run_count(args: &BenchArgs, n: usize) -> Result<Value> {
    eprintln!("\n== {n} runs ==");
    let rig = Arc::new(Rig::new(&args.samples, args.agents).await?);
    let rss_before = rss_mb();

    // Throughput: start → four gates waiting.
    let (t0, cpu0, written0, trained0) = (
        Instant::now(),
        cpu_ms(),
        written_bytes(),
        rig.local.app.models_trained(),
    );
    let ids = rig.start_many(n, 64).await?;
    rig.until_pending(4 * n as u64).await?;
    let paused_secs = t0.elapsed().as_secs_f64();
    let throughput = n as f64 / paused_secs;
    // What a run costs, whatever else the machine does meanwhile.
    let cpu_per_run = (cpu_ms() - cpu0) / n as f64;
    // Mostly the store's: the WAL's pages and the checkpoints' copies.
    let written_kb_per_run = (written_bytes() - written0) / 1024.0 / n as f64;
    let trained = rig.local.app.models_trained() - trained0;
    eprintln!(
        "throughput: {throughput:.0} runs/s to four gates waiting ({paused_secs:.2} s, {cpu_per_run:.2} ms of CPU per run, {written_kb_per_run:.0} KB written per run, {trained} approver models trained)"
    );
    let rss_waiting = rss_mb();
    eprintln!("memory: RSS {rss_before:.1} MB before, {rss_waiting:.1} MB with {n} runs waiting");
    // Every card carries the approver agent's prediction (the figures count on it).
    for gate in GATES {
        let step = greenlight_core::ids::StepId::parse(&format!("{}.{gate}", ids[0]))?;
        let approval = rig.local.app.store().get_approval(&step).await?;
        if approval.and_then(|a| a.suggestion).is_none() {
            bail!("the {gate} card of {} carries no prediction", ids[0]);
        }
    }

    // Resume latency, in-process: approve Listings on the first runs, one at
    // a time, each after the previous one's action ran (no queueing).
    let k = args.resumes.min(n);
    for id in &ids[..k] {
        rig.approve(id, "listings_gate").await?;
        rig.until(id, |v| {
            status_of(v, "publish_listings") == Some(StepStatus::Succeeded)
        })
        .await?;
    }
    let in_process = resume_latencies(&rig, &ids[..k], "listings_gate", "publish_listings").await?;

    // Over HTTP: approve Publish on the same runs, one at a time.
    let (addr, _server) = rig.local.serve("127.0.0.1:0".parse()?).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients * 2)
        .build()?;
    let base = format!("http://{addr}");
    let mut round_trips = Vec::with_capacity(k);
    for id in &ids[..k] {
        let t = Instant::now();
        let resp = http
            .post(format!(
                "{base}/api/dashboard/approvals/{id}.publish_gate/approve"
            ))
            .bearer_auth(TOKEN)
            .json(&json!({}))
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("approve over HTTP answered {}", resp.status());
        }
        round_trips.push(t.elapsed().as_secs_f64() * 1000.0);
        rig.until(id, |v| status_of(v, "post") == Some(StepStatus::Succeeded))
            .await?;
    }
    let over_http = resume_latencies(&rig, &ids[..k], "publish_gate", "post").await?;
    let resume_in = summary_ms(in_process);
    let resume_http = summary_ms(over_http);
    let approve_rt = summary_ms(round_trips);
    eprintln!("resume: in-process {resume_in}, over HTTP {resume_http}, approve round trip {approve_rt}");

    // Decisions: the Ad Spend and Outreach gates of every run, from concurrent clients.
    let work: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(
        ids.iter()
            .flat_map(|id| ["ad_spend_gate", "outreach_gate"].map(|g| format!("{id}.{g}")))
            .collect(),
    ));
    let total = 2 * n;
    let t0 = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..args.clients {
        let (work, http, base) = (work.clone(), http.clone(), base.clone());
        clients.push(tokio::spawn(async move {
            let mut ok = 0usize;
            let mut other = Vec::new();
            loop {
                let next = work.lock().unwrap_or_else(|e| e.into_inner()).pop();
                let Some(step) = next else { break };
                match http
                    .post(format!("{base}/api/dashboard/approvals/{step}/approve"))
                    .bearer_auth(TOKEN)
                    .json(&json!({}))
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => ok += 1,
                    Ok(r) => other.push(format!("{step}: {}", r.status())),
                    Err(e) => other.push(format!("{step}: {e}")),
                }
            }
            (ok, other)
        }));
    }
    let mut ok = 0;
    let mut failures = Vec::new();
    for c in clients {
        let (o, f) = c.await?;
        ok += o;
        failures.extend(f);
    }
    let decide_secs = t0.elapsed().as_secs_f64();
    let decisions_per_sec = total as f64 / decide_secs;
    // None lost or doubled: exactly the gates decided left the queue, and the
    // audit log has one entry per decision made.
    let pending_left = rig.pending().await?;
    let expected_left = (4 * n - 2 * k - total) as u64;
    let mut audit = 0usize;
    let mut cursor = None;
    loop {
        let page = rig
            .local
            .app
            .audit(
                &rig.member,
                &PageRequest {
                    limit: 200,
                    cursor: cursor.clone(),
                },
            )
            .await?;
        audit += page.items.len();
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let decisions_made = 2 * k + total;
    eprintln!(
        "decisions: {decisions_per_sec:.0} approvals/s from {} clients; {ok} of {total} answered 200, {} pending left (expected {expected_left}), {audit} audit entries (expected {decisions_made})",
        args.clients, pending_left
    );
    if ok != total || pending_left != expected_left || audit != decisions_made {
        bail!("decisions were lost or doubled: {failures:?}");
    }
    drop(rig);

    // End to end, on a fresh store: start, four approvals, success.
    let rig = Arc::new(Rig::new(&args.samples, args.agents).await?);
    let sem = Arc::new(Semaphore::new(args.clients));
    let t0 = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let permit = sem.clone().acquire_owned().await?;
        let rig = rig.clone();
        tasks.push(tokio::spawn(async move {
            let result: Result<()> = async {
                let id = rig.start().await?;
                rig.until(&id, |v| waiting(v) == 4).await?;
                for gate in GATES {
                    rig.approve(&id, gate).await?;
                }
                rig.until(&id, |v| v.status == greenlight_core::model::RunStatus::Succeeded)
                    .await?;
                Ok(())
            }
            .await;
            drop(permit);
            result
        }));
    }
    for t in tasks {
        t.await??;
    }
    let e2e_secs = t0.elapsed().as_secs_f64();
    let e2e = n as f64 / e2e_secs;
    eprintln!("end to end: {e2e:.1} runs/s ({e2e_secs:.1} s)");

    Ok(json!({
        "runs": n,
        "throughput_runs_per_sec": round3(throughput),
        "cpu_ms_per_run_to_paused": round3(cpu_per_run),
        "written_kb_per_run_to_paused": round3(written_kb_per_run),
        "approver_models_trained_to_paused": trained,
        "rss_mb_before": round3(rss_before),
        "rss_mb_waiting": round3(rss_waiting),
        "resume_in_process": resume_in,
        "resume_over_http": resume_http,
        "approve_round_trip_http": approve_rt,
        "decisions_per_sec": round3(decisions_per_sec),
        "decision_clients": args.clients,
        "decisions_checked": decisions_made,
        "end_to_end_runs_per_sec": round3(e2e),
    }))
}

/// Measures one run count in a fresh process (this program again), so that
/// what one measurement leaves in memory does not weigh on the next.
async fn in_own_process(args: &BenchArgs, n: usize) -> Result<Value> {
    let dir = tempfile::tempdir().context("a temporary directory")?;
    let out = dir.path().join("figures.json");
    let exe = std::env::current_exe().context("finding this program to run the measurement")?;
    let mut child = tokio::process::Command::new(&exe)
        .arg("bench")
        .args(["--runs", &n.to_string(), "--queue", "0"])
        .args(["--clients", &args.clients.to_string()])
        .args(["--resumes", &args.resumes.to_string()])
        .args(["--agents", args.agents.name()])
        .arg("--samples")
        .arg(&args.samples)
        .arg("--child-out")
        .arg(&out)
        .arg("--stop-when-stdin-closes")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("running {}", exe.display()))?;
    // Held while it measures: when this process ends (or stops waiting),
    // the pipe closes and the measurement stops and removes its data.
    let _running = child.stdin.take();
    let status = child
        .wait()
        .await
        .with_context(|| format!("running {}", exe.display()))?;
    if !status.success() {
        bail!("the measurement at {n} runs failed ({status})");
    }
    let text = std::fs::read_to_string(&out).with_context(|| format!("reading {}", out.display()))?;
    Ok(serde_json::from_str(&text)?)
}

async fn queue_pages(args: &BenchArgs) -> Result<Vec<Value>> {
    let mut targets: Vec<usize> = args.queue.iter().copied().filter(|q| *q > 0).collect();
    targets.sort_unstable();
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    eprintln!("\n== queue ==");
    let rig = Arc::new(Rig::new(&args.samples, args.agents).await?);
    let (addr, _server) = rig.local.serve("127.0.0.1:0".parse()?).await?;
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/api/dashboard/approvals");
    let mut out = Vec::new();
    let mut started = 0usize;
    for target in targets {
        let runs = target.div_ceil(4);
        let t0 = Instant::now();
        rig.start_many(runs - started, 64).await?;
        started = runs;
        rig.until_pending(4 * runs as u64).await?;
        eprintln!("{} pending after {:.1} s", 4 * runs, t0.elapsed().as_secs_f64());
        let filter = QueueFilter::default();
        let page = PageRequest {
            limit: 50,
            cursor: None,
        };
        let mut in_process = Vec::new();
        for _ in 0..200 {
            let t = Instant::now();
            let p = rig.local.app.queue(&rig.member, &filter, &page).await?;
            in_process.push(t.elapsed().as_secs_f64() * 1000.0);
            if p.items.len() != 50 {
                bail!("the first page had {} approvals", p.items.len());
            }
        }
        let mut over_http = Vec::new();
        for _ in 0..200 {
            let t = Instant::now();
            let resp = http.get(&url).bearer_auth(TOKEN).send().await?;
            let body: Value = resp.json().await?;
            over_http.push(t.elapsed().as_secs_f64() * 1000.0);
            if body["approvals"].as_array().map(Vec::len) != Some(50) {
                bail!("the first page over HTTP was {body}");
            }
        }
        let (a, b) = (summary_ms(in_process), summary_ms(over_http));
        eprintln!(
            "first page of 50 with {} pending: in-process {a}, over HTTP {b}",
            4 * runs
        );
        out.push(json!({"pending": 4 * runs, "in_process": a, "over_http": b}));
    }
    Ok(out)
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let mem_gb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next().and_then(|kb| kb.parse::<f64>().ok()))
        })
        .map_or(f64::NAN, |kb| (kb / 1024.0 / 1024.0 * 10.0).round() / 10.0);
    json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "memory_gb": mem_gb,
        "os": std::env::consts::OS,
        "build": if cfg!(debug_assertions) { "debug" } else { "release" },
    })
}

fn ms(v: &Value) -> String {
    format!(
        "{:.2} / {:.2}",
        v["median_ms"].as_f64().unwrap_or(f64::NAN),
        v["p99_ms"].as_f64().unwrap_or(f64::NAN)
    )
}

fn print_table(report: &Value) {
    let m = &report["machine"];
    println!(
        "\nGreenlight bench: {} ({} cores, {} GB), {} build, embedded store, {} agents\n",
        m["cpu"].as_str().unwrap_or("?"),
        m["cores"],
        m["memory_gb"],
        m["build"].as_str().unwrap_or("?"),
        report["agents"].as_str().unwrap_or("offline")
    );
    println!(
        "{:>7}  {:>12}  {:>8}  {:>10}  {:>16}  {:>16}  {:>16}  {:>12}  {:>10}",
        "runs",
        "to paused/s",
        "CPU/run",
        "RSS MB",
        "resume in-proc",
        "resume HTTP",
        "approve HTTP",
        "decisions/s",
        "e2e runs/s"
    );
    println!(
        "{:>7}  {:>12}  {:>8}  {:>10}  {:>16}  {:>16}  {:>16}  {:>12}  {:>10}",
        "", "", "ms", "", "median / p99 ms", "median / p99 ms", "median / p99 ms", "", ""
    );
    for r in report["runs"].as_array().into_iter().flatten() {
        println!(
            "{:>7}  {:>12.0}  {:>8.2}  {:>10.1}  {:>16}  {:>16}  {:>16}  {:>12.0}  {:>10.1}",
            r["runs"],
            r["throughput_runs_per_sec"].as_f64().unwrap_or(f64::NAN),
            r["cpu_ms_per_run_to_paused"].as_f64().unwrap_or(f64::NAN),
            r["rss_mb_waiting"].as_f64().unwrap_or(f64::NAN),
            ms(&r["resume_in_process"]),
            ms(&r["resume_over_http"]),
            ms(&r["approve_round_trip_http"]),
            r["decisions_per_sec"].as_f64().unwrap_or(f64::NAN),
            r["end_to_end_runs_per_sec"].as_f64().unwrap_or(f64::NAN),
        );
    }
    if let Some(q) = report["queue"].as_array().filter(|q| !q.is_empty()) {
        println!(
            "\n{:>9}  {:>22}  {:>22}",
            "pending", "first page in-process", "first page over HTTP"
        );
        println!("{:>9}  {:>22}  {:>22}", "", "median / p99 ms", "median / p99 ms");
        for r in q {
            println!(
                "{:>9}  {:>22}  {:>22}",
                r["pending"],
                ms(&r["in_process"]),
                ms(&r["over_http"])
            );
        }
    }
}

pub async fn run(args: BenchArgs) -> Result<()> {
    // Stopped by Ctrl-C or a kill (or, measuring for a bench, by that
    // bench's end), it drops what it measured, and with it its data
    // directories: at 10,000 runs, over a gigabyte of store each.
    let parent = parent_gone(args.stop_when_stdin_closes);
    tokio::select! {
        done = measure(args) => done,
        signal = stop_signal() => bail!("stopped by {signal}: its temporary data is being removed"),
        () = parent => bail!("stopped: the bench that started this measurement has ended"),
    }
}

/// The first interrupt or termination signal to arrive; never, if they
/// cannot be listened for.
async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
        (Ok(mut interrupt), Ok(mut terminate)) => tokio::select! {
            _ = interrupt.recv() => "an interrupt",
            _ = terminate.recv() => "a termination signal",
        },
        (Err(e), _) | (_, Err(e)) => {
            eprintln!(
                "warning: not listening for Ctrl-C ({e}): stopped early, the bench leaves its temporary data behind"
            );
            std::future::pending().await
        }
    }
}

/// Resolves once stdin is closed, if `watch`; else never.
async fn parent_gone(watch: bool) {
    if !watch {
        return std::future::pending().await;
    }
    let (closed, on_close) = tokio::sync::oneshot::channel::<()>();
    // A thread of its own, not the runtime's blocking pool: a read still
    // blocked when the measurement ends must not hold up the exit.
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        let _ = closed.send(());
    });
    let _ = on_close.await;
}

async fn measure(args: BenchArgs) -> Result<()> {
    if cfg!(debug_assertions) {
        eprintln!(
            "note: this is a debug build; run `cargo run --release -p greenlight-cli -- bench` for figures worth quoting"
        );
    }
    if !args.samples.join("workspaces").is_dir() {
        bail!(
            "the sample data directory {} has no workspaces/; run from the repository root or pass --samples",
            args.samples.display()
        );
    }
    if let Some(out) = &args.child_out {
        let [n] = args.runs[..] else {
            bail!("a measuring process takes exactly one run count");
        };
        let figures = at_run_count(&args, n).await?;
        std::fs::write(out, serde_json::to_string(&figures)?)
            .with_context(|| format!("writing {}", out.display()))?;
        return Ok(());
    }
    let mut runs = Vec::new();
    for &n in &args.runs {
        runs.push(in_own_process(&args, n).await?);
    }
    let queue = queue_pages(&args).await?;
    let report = json!({
        "machine": machine(),
        "agents": args.agents.name(),
        "clients": args.clients,
        "runs": runs,
        "queue": queue,
    });
    print_table(&report);
    std::fs::write(&args.out, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!("\nwrote {}", args.out.display());
    Ok(())
}
