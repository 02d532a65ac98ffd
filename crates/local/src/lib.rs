//! The embedded runtime: Greenlight on one machine. SQLite store, the local
//! engine running the committed ASL, the offline agents (or, with
//! `ANTHROPIC_API_KEY` set, the agents of `greenlight-llm` over the Anthropic
//! Messages API), files for assets, the in-process resumer, and seeding from
//! `samplesdata/`.

mod adapters;
mod seed;

pub use adapters::{FileBlobs, LOCAL_FUNCTION_PREFIX, LocalBlobs, local_function_table};
pub use seed::{SeedError, parse_history, seed_from_dir};

use adapters::{EngineOrchestrator, Finalizer, LateInvoker, OfflineAgents};
use anyhow::Context;
use greenlight_core::ports::{AgentRunner, ProposalEditor};
use greenlight_core::recipes::RecipeBook;
use greenlight_core::{Config, Deps, Greenlight, RunId, SystemClock};
use greenlight_engine::Engine;
use greenlight_store_sqlite::SqliteStore;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tracing::{info, warn};

/// How to start the embedded runtime.
#[derive(Clone)]
pub struct Options {
    pub data_dir: PathBuf,
    /// Where to seed sample workspaces from on first start; `None` seeds nothing.
    pub samples_dir: Option<PathBuf>,
    /// Extra recipe YAML files (custom recipes), compiled at start.
    pub extra_recipes: Vec<PathBuf>,
    /// Dev mode accepts the sample workspaces' dev-only tokens.
    pub dev_mode: bool,
    pub priced_model: String,
    /// Scales retry intervals of the engine (1.0 in production; tests may use 0).
    pub retry_scale: f64,
    /// Which agents run; [`Options::new`] reads it from the environment.
    pub agents: AgentsMode,
    /// Serve the dashboard's files from this directory instead of the
    /// embedded copies; [`Options::new`] reads `GREENLIGHT_DASHBOARD_DIR`.
    pub dashboard_dir: Option<PathBuf>,
    /// How many paused runs the engine keeps in memory; older ones are
    /// parked and replayed from the journal when a gate is decided.
    pub live_paused: usize,
    /// The approver agent's proposal editor instead of the one `agents`
    /// implies (tests use a scripted one).
    pub editor: Option<Arc<dyn ProposalEditor>>,
    /// Agents to run instead of the ones `agents` names (the bench's
    /// replayed answers).
    pub agent_runner: Option<Arc<dyn AgentRunner>>,
}

/// Which agents a runtime runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentsMode {
    /// The deterministic offline model.
    Offline,
    /// A real model over the Anthropic Messages API (`greenlight_llm::LlmAgents`),
    /// configured from `ANTHROPIC_API_KEY`, `GREENLIGHT_LLM_MODEL`,
    /// `ANTHROPIC_BASE_URL`, …, with the Studio at `GREENLIGHT_STUDIO_URL`
    /// when that is set and the local renderer otherwise.
    Anthropic,
}

impl AgentsMode {
    /// `Anthropic` when `ANTHROPIC_API_KEY` is set (and not blank), else `Offline`.
    pub fn from_env() -> AgentsMode {
        if std::env::var("ANTHROPIC_API_KEY").is_ok_and(|k| !k.trim().is_empty()) {
            AgentsMode::Anthropic
        } else {
            AgentsMode::Offline
        }
    }
}

/// Builds the agents `mode` names, reading the clients' configuration from
/// the environment once, and logs which (never the key).
/// A proposal editor for the approver agent's pre-edits.
pub type Editor = Arc<dyn ProposalEditor>;

/// The agents, and the approver agent's proposal editor (the same model;
/// none offline, where the agent's rules make the edits they can).
pub fn build_agents(mode: AgentsMode) -> anyhow::Result<(Arc<dyn AgentRunner>, Option<Editor>)> {
    use greenlight_llm::{AnthropicClient, LlmAgents, LlmEditor, LocalStudio, Studio, StudioClient};
    match mode {
        AgentsMode::Offline => {
            info!("agents: the offline model (set ANTHROPIC_API_KEY to use the Anthropic API)");
            Ok((Arc::new(OfflineAgents), None))
        }
        AgentsMode::Anthropic => {
            let llm = AnthropicClient::from_env().context("configuring the Anthropic API client")?;
            let hosted = std::env::var("GREENLIGHT_STUDIO_URL").is_ok_and(|u| !u.trim().is_empty());
            let (studio, studio_name): (Arc<dyn Studio>, String) = if hosted {
                let client = StudioClient::from_env().context("configuring the Studio client")?;
                let url = client.config().base_url.clone();
                (Arc::new(client), url)
            } else {
                (Arc::new(LocalStudio), "local renderer".into())
            };
            info!(
                model = %llm.config().model,
                base_url = %llm.config().base_url,
                timeout_secs = llm.config().timeout.as_secs_f64(),
                max_retries = llm.config().retry.max_retries,
                studio = %studio_name,
                "agents: the Anthropic Messages API"
            );
            let llm = Arc::new(llm);
            Ok((
                Arc::new(LlmAgents::new(llm.clone(), Some(studio))),
                Some(Arc::new(LlmEditor::new(llm))),
            ))
        }
    }
}

impl Options {
    pub fn new(data_dir: impl Into<PathBuf>) -> Options {
        Options {
            data_dir: data_dir.into(),
            samples_dir: None,
            extra_recipes: Vec::new(),
            dev_mode: true,
            priced_model: std::env::var("GREENLIGHT_PRICED_MODEL")
                .unwrap_or_else(|_| "claude-sonnet-4-5".into()),
            retry_scale: 1.0,
            agents: AgentsMode::from_env(),
            dashboard_dir: std::env::var_os("GREENLIGHT_DASHBOARD_DIR")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from),
            live_paused: greenlight_engine::DEFAULT_LIVE_PAUSED,
            editor: None,
            agent_runner: None,
        }
    }
}

/// A running embedded Greenlight.
pub struct Local {
    pub app: Arc<Greenlight>,
    pub engine: Engine,
    pub store: SqliteStore,
    api: greenlight_api::Options,
    resumer: tokio::task::JoinHandle<()>,
    /// Held while this runtime lives: one process per data directory.
    _lock: std::fs::File,
}

impl Drop for Local {
    fn drop(&mut self) {
        self.resumer.abort();
    }
}

impl Local {
    /// Opens the data directory, recovers unfinished executions and starts the resumer.
    pub async fn start(opts: Options) -> anyhow::Result<Local> {
        std::fs::create_dir_all(&opts.data_dir)
            .with_context(|| format!("creating the data directory {}", opts.data_dir.display()))?;
        let lock = lock_data_dir(&opts.data_dir)?;
        let db = opts.data_dir.join("greenlight.sqlite3");
        let store = SqliteStore::open(&db).with_context(|| format!("opening {}", db.display()))?;

        let mut book = RecipeBook::seeded().context("loading the seeded recipes")?;
        for path in &opts.extra_recipes {
            let yaml =
                std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            book.add_compiled(&path.display().to_string(), &yaml)?;
        }
        let book = Arc::new(book);
        let definitions: Vec<(String, serde_json::Value)> = book
            .iter()
            .map(|l| (l.recipe.id.clone(), l.asl.clone()))
            .collect();

        let invoker = Arc::new(LateInvoker::default());
        let finalizer = Arc::new(Finalizer::default());
        let engine = Engine::new(
            &definitions,
            &local_function_table(),
            Arc::new(store.clone()),
            invoker.clone(),
            finalizer.clone(),
        )?
        .with_retry_scale(opts.retry_scale)
        .with_live_paused(opts.live_paused);

        let notify = Arc::new(Notify::new());
        let hint = notify.clone();
        // Live streams subscribe here; a send with no subscriber is dropped.
        let (live, _) = tokio::sync::broadcast::channel::<RunId>(1024);
        let announce = live.clone();
        let (agents, built_editor) = match &opts.agent_runner {
            Some(runner) => (runner.clone(), None),
            None => build_agents(opts.agents)?,
        };
        let editor = opts.editor.clone().or(built_editor);
        let app = Arc::new(Greenlight::new(Deps {
            store: Arc::new(store.clone()),
            orchestrator: Arc::new(EngineOrchestrator(engine.clone())),
            agents,
            editor,
            blobs: Arc::new(LocalBlobs {
                db: store.clone(),
                files: FileBlobs::new(opts.data_dir.join("blobs")),
            }),
            clock: Arc::new(SystemClock),
            recipes: book,
            resume_hint: Arc::new(move || hint.notify_one()),
            on_change: Arc::new(move |run_id: &RunId| {
                let _ = announce.send(run_id.clone());
            }),
            fault: fault_hook(),
            config: Config {
                priced_model: opts.priced_model.clone(),
                dev_mode: opts.dev_mode,
            },
        }));
        invoker.set(&app);
        finalizer.set(&app);

        let mut dev_members = Vec::new();
        if let Some(dir) = &opts.samples_dir {
            let seeded = seed_from_dir(app.store().as_ref(), dir, opts.dev_mode).await?;
            if seeded > 0 {
                info!(workspaces = seeded, from = %dir.display(), "seeded sample workspaces");
            }
            if opts.dev_mode {
                dev_members = seed::dev_members(&app, dir).await?;
            }
        }
        let recovered = engine.recover().await?;
        if recovered > 0 {
            info!(executions = recovered, "recovered unfinished executions");
        }
        let resumer = tokio::spawn(resumer_loop(app.clone(), notify));
        Ok(Local {
            app,
            engine,
            store,
            api: greenlight_api::Options {
                live: Some(live),
                dev_members,
                dashboard_dir: opts.dashboard_dir.clone(),
            },
            resumer,
            _lock: lock,
        })
    }

    /// Announcements of runs that changed (the live stream's feed).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<RunId> {
        match &self.api.live {
            Some(live) => live.subscribe(),
            None => tokio::sync::broadcast::channel(1).1,
        }
    }

    /// The sample members offered as one-click sign-ins (dev mode only).
    pub fn dev_members(&self) -> &[greenlight_api::DevMember] {
        &self.api.dev_members
    }

    /// The HTTP API and dashboard on this runtime, with its live stream.
    pub fn router(&self) -> axum::Router {
        greenlight_api::router_with(self.app.clone(), self.api.clone())
    }

    /// Serves the API on `addr` (port 0 picks a free port); returns the bound address.
    pub async fn serve(&self, addr: SocketAddr) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        self.serve_on(listener)
    }

    /// Serves the API on a listener bound beforehand (bind first, so a second
    /// server on a taken port fails before it touches the data directory).
    pub fn serve_on(
        &self,
        listener: tokio::net::TcpListener,
    ) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let bound = listener.local_addr()?;
        let router = self.router();
        let handle = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                warn!(error = %e, "the HTTP server stopped");
            }
        });
        Ok((bound, handle))
    }
}

/// The crash-fault hook: in a debug build with `GREENLIGHT_FAULT=<point>`
/// (one of `greenlight_core::service::faults::ALL`), the process stops at
/// that point, says so on stderr, and waits to be killed.
#[cfg(debug_assertions)]
fn fault_hook() -> Arc<dyn Fn(&'static str) + Send + Sync> {
    match std::env::var("GREENLIGHT_FAULT") {
        Ok(armed) if !armed.is_empty() => {
            warn!(point = %armed, "a crash-fault point is armed");
            Arc::new(move |point| {
                if point == armed {
                    eprintln!("greenlight: fault point {point} reached; waiting to be killed");
                    loop {
                        std::thread::park();
                    }
                }
            })
        }
        _ => Arc::new(|_| {}),
    }
}

#[cfg(not(debug_assertions))]
fn fault_hook() -> Arc<dyn Fn(&'static str) + Send + Sync> {
    Arc::new(|_| {})
}

/// Delivers committed decisions: at once when told, and every second for
/// retries after failures and restarts.
async fn resumer_loop(app: Arc<Greenlight>, notify: Arc<Notify>) {
    loop {
        match app.resume_pending().await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => warn!(error = %e, "the resumer could not read pending resumes"),
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), notify.notified()).await;
    }
}

/// The name of the file whose lock says a process runs a data directory.
pub const LOCK_FILE: &str = "greenlight.lock";

/// Takes the data directory for this process, or says which process has it.
/// Two engines over one journal would each resume the other's executions,
/// and a decision taken through one could never reach a gate the other
/// holds. The lock is the operating system's: it goes with the process,
/// however the process ends.
fn lock_data_dir(dir: &Path) -> anyhow::Result<std::fs::File> {
    use std::io::{Read, Seek, Write};
    let path = dir.join(LOCK_FILE);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0)
                .and_then(|()| file.rewind())
                .and_then(|()| writeln!(file, "{}", std::process::id()))
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(file)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = match holder.trim() {
                pid if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) => {
                    format!(" (process {pid})")
                }
                _ => String::new(),
            };
            anyhow::bail!(
                "the data directory {} is in use by another Greenlight{holder}: stop that one, or give this one another --data-dir",
                dir.display()
            )
        }
        // A file system without locks (some network and FUSE mounts): run
        // unguarded, as before there was a lock, and say so.
        Err(std::fs::TryLockError::Error(e))
            if e.kind() == std::io::ErrorKind::Unsupported
                || e.raw_os_error()
                    .is_some_and(|n| n == libc::ENOLCK || n == libc::EOPNOTSUPP) =>
        {
            warn!(path = %path.display(), error = %e, "this file system cannot lock the data directory: make sure no other Greenlight uses it");
            Ok(file)
        }
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", path.display())),
    }
}

/// The default data directory: `.greenlight/` under the current directory.
pub fn default_data_dir() -> PathBuf {
    Path::new(".greenlight").to_path_buf()
}
