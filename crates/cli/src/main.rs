//! `greenlight`: the local server (`greenlight dev`), a client of any
//! Greenlight API, and the recipe compiler.

/// The allocator: the engine and agents allocate many small JSON values;
/// mimalloc spends a fraction of glibc's time on them (see `greenlight bench`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod admin;
mod approver;
mod bench;
mod client;
mod recipes;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "greenlight",
    version,
    about = "Human approval gates for AI-agent marketing workflows"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run Greenlight on this machine: embedded store, local engine, offline agents, sample data.
    Dev(DevArgs),
    /// The approval queue: list, show, approve, reject.
    #[command(subcommand)]
    Approvals(client::ApprovalsCmd),
    /// Runs: start, show, list.
    #[command(subcommand)]
    Runs(client::RunsCmd),
    /// The approver agent: export the decision history, see its agreement with people, evaluate it.
    #[command(subcommand)]
    Approver(approver::ApproverCmd),
    /// Recipes: validate them and compile them to Amazon States Language.
    #[command(subcommand)]
    Recipes(recipes::RecipesCmd),
    /// Workspaces, members and API tokens, against a store (SQLite or DynamoDB).
    Admin(admin::AdminArgs),
    /// Measure throughput, latency, memory and the queue on this machine (embedded store, offline agents).
    Bench(bench::BenchArgs),
}

#[derive(Args)]
struct DevArgs {
    /// Address to serve the API on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Where the embedded store and assets live.
    #[arg(long, default_value = ".greenlight")]
    data_dir: PathBuf,
    /// Sample data to seed workspaces from on first start.
    #[arg(long, default_value = "samplesdata")]
    samples: PathBuf,
    /// A custom recipe YAML file to load besides the seeded ones (repeatable).
    #[arg(long = "recipe")]
    recipes: Vec<PathBuf>,
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("GREENLIGHT_LOG").unwrap_or_else(|_| EnvFilter::new("info,tower_http=warn"));
    let json = std::env::var("GREENLIGHT_LOG_FORMAT").is_ok_and(|f| f == "json");
    // Colours only for a person at a terminal who has not asked for none
    // (NO_COLOR), never in a redirected log.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// mimalloc's `mi_option_purge_delay`: its place in `mi_option_e` of the
/// bundled v3 `mimalloc.h` (libmimalloc-sys names its neighbours, 14 and 16;
/// `MIMALLOC_VERBOSE=1 greenlight --help` lists the options in this order).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Gives freed memory back to the OS 10 ms after it is freed rather than a
/// second later (mimalloc's default). A delayed purge only happens on the
/// freeing thread's next call into the allocator, so a server that goes
/// quiet after a burst (its runs waiting on people) kept much of the
/// burst's memory: with 10,000 runs waiting, `greenlight bench` measured
/// 90–98 MB of RSS against 102–109 MB, at the same throughput (purging at
/// once cost a fifth of it). A `MIMALLOC_PURGE_DELAY` in the environment
/// wins.
fn purge_freed_memory_sooner() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: sets one entry of mimalloc's option table, which
    // `mi_option_set` synchronises; any value is valid for this option.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10) }
}

fn main() -> std::process::ExitCode {
    purge_freed_memory_sooner();
    // The embedded store writes on a thread of its own and reads on the
    // caller's; blocking threads serve only the odd file or process call,
    // so a few are plenty (each idle one costs memory).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(8)
        .build();
    match runtime {
        Ok(rt) => rt.block_on(run()),
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// A command whose output goes to a pipe that closes early (`| head`)
/// ends there, as Unix tools do, rather than failing on its next line. Not
/// for the server and the bench, whose writes to a closed pipe are errors
/// to handle (sockets never raise the signal: they write with
/// `MSG_NOSIGNAL`).
fn end_quietly_when_the_pipe_closes() {
    // SAFETY: restores the default action of one signal; `signal` is
    // async-signal-safe and takes any valid signal number and action.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

async fn run() -> std::process::ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Dev(_) | Command::Bench(_)) {
        end_quietly_when_the_pipe_closes();
    }
    let result = match cli.command {
        Command::Dev(args) => {
            init_tracing();
            dev(args).await
        }
        Command::Approvals(cmd) => client::approvals(cmd).await,
        Command::Runs(cmd) => client::runs(cmd).await,
        Command::Approver(cmd) => approver::run(cmd).await,
        Command::Recipes(cmd) => recipes::run(cmd),
        Command::Admin(args) => admin::run(args).await,
        Command::Bench(args) => bench::run(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn dev(args: DevArgs) -> anyhow::Result<()> {
    let mut opts = greenlight_local::Options::new(&args.data_dir);
    if !args.samples.join("workspaces").is_dir() {
        anyhow::bail!(
            "no sample data at {}: run `greenlight dev` from the repository root, or pass --samples DIR",
            args.samples.display()
        );
    }
    opts.samples_dir = Some(args.samples.clone());
    opts.extra_recipes = args.recipes.clone();
    // Bind first: a second server on a taken port stops before it recovers anything.
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("binding {} (is another greenlight dev running?)", args.addr))?;
    let local = greenlight_local::Local::start(opts)
        .await
        .context("starting Greenlight")?;
    let (addr, server) = local.serve_on(listener)?;
    println!(
        "Greenlight is running at http://{addr}  (data in {})",
        args.data_dir.display()
    );
    println!();
    println!("Dashboard: open http://{addr} in a browser and pick a member to sign in.");
    let members = local.dev_members();
    // The hint's token is one that works on this store: a revoked sample
    // token is not shown (the dev members are those whose token still works).
    let try_token = members
        .iter()
        .find(|m| m.workspace_id == "demo")
        .or(members.first())
        .map(|m| m.token.clone());
    if !members.is_empty() {
        println!();
        println!("Dev-only API tokens (refused outside dev mode):");
        let width = members.iter().map(|m| m.token.len()).max().unwrap_or(0);
        for m in members {
            println!(
                "  {:<7}{:<8}{:<width$}  ({})",
                m.workspace_id,
                m.member_id,
                m.token,
                m.roles.join(", ")
            );
        }
    }
    println!();
    println!("Try:");
    match &try_token {
        Some(t) => println!("  export GREENLIGHT_URL=http://{addr} GREENLIGHT_TOKEN={t}"),
        None => {
            println!("  export GREENLIGHT_URL=http://{addr}");
            println!(
                "  (no sample token works on this store: issue one with greenlight admin --store 'sqlite:{}' token issue --workspace ID --member ID)",
                args.data_dir.join("greenlight.sqlite3").display()
            );
        }
    }
    println!(
        "  greenlight runs start campaign-launch --brief samplesdata/briefs/demo-campaign-launch-spring-linen.json"
    );
    println!("  greenlight approvals list");
    println!();
    println!("Press Ctrl-C to stop.");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {
            println!("stopping");
        }
        _ = server => {}
    }
    Ok(())
}
