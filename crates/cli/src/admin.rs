//! `greenlight admin`: workspaces, members and API tokens, straight against a
//! store (the embedded SQLite file, or a DynamoDB table on AWS).

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use greenlight_core::ids::{MemberId, WorkspaceId};
use greenlight_core::model::{ApproverSettings, AutoApprove, Member, Workspace};
use greenlight_core::money::Money;
use greenlight_core::ports::Store;
use greenlight_core::service::token_hash;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Args)]
pub struct AdminArgs {
    /// The store: `sqlite:<path>` (e.g. sqlite:.greenlight/greenlight.sqlite3)
    /// or `dynamodb:<table>` (the stack's TableName; AWS configuration from the environment).
    #[arg(long, env = "GREENLIGHT_STORE")]
    store: String,
    #[command(subcommand)]
    command: AdminCmd,
}

#[derive(Subcommand)]
enum AdminCmd {
    /// Workspaces.
    #[command(subcommand)]
    Workspace(WorkspaceCmd),
    /// Members of a workspace.
    #[command(subcommand)]
    Member(MemberCmd),
    /// API tokens: shown once, stored only as a hash.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Opt a workflow's gate in to the approver agent's auto-approve (off by
    /// default), or out again. It approves only predictions of approval at
    /// the threshold or above, never a gate that needs a role, never a
    /// proposal that breaks a written brand rule, and never rejects.
    AutoApprove {
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        workflow: String,
        /// The gate's step key, e.g. publish_gate.
        #[arg(long)]
        gate: String,
        /// The least confidence in an approval to act on, 0.5 to 1.0.
        #[arg(long, required_unless_present = "off")]
        threshold: Option<f64>,
        /// Also for proposals that commit spend (a separate, explicit opt-in).
        #[arg(long, conflicts_with = "off")]
        spend: bool,
        /// Opt the gate out.
        #[arg(long, conflicts_with = "threshold")]
        off: bool,
        /// A custom recipe YAML file whose gates may be opted in, as given to
        /// `greenlight dev --recipe` (repeatable).
        #[arg(long = "recipe")]
        recipes: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum WorkspaceCmd {
    /// Create (or update) a workspace with its monthly spend cap and brand data.
    Create {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        /// Monthly cap on external spend (ad budgets), US dollars.
        #[arg(long)]
        spend_cap_usd: f64,
        /// A folder with the brand's data, as in samplesdata/workspaces/<id>/.
        #[arg(long)]
        brand_dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum MemberCmd {
    /// Add (or update) a member; `member` is always one of their roles.
    Add {
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        /// A role such as ops-lead (repeatable).
        #[arg(long = "role")]
        roles: Vec<String>,
    },
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Issue a token for a member; it is printed once and never stored in clear.
    Issue {
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        member: String,
    },
    /// Revoke a token.
    Revoke {
        /// The token (read from GREENLIGHT_REVOKE_TOKEN if not given, to keep it out of shell history).
        #[arg(long, env = "GREENLIGHT_REVOKE_TOKEN", hide_env_values = true)]
        token: String,
    },
}

/// Whether opening a SQLite store may create its file.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// Creating a workspace may start a new store.
    Allowed,
    /// Everything else works on a store that exists: a mistyped path is an
    /// error, not an empty database left behind.
    No,
}

pub async fn open(spec: &str, create: Create) -> anyhow::Result<Arc<dyn Store>> {
    if let Some(path) = spec.strip_prefix("sqlite:") {
        let file = std::path::Path::new(path);
        if file.is_dir() {
            bail!(
                "{path} is a directory; the store is the file in it: sqlite:{}",
                file.join("greenlight.sqlite3").display()
            );
        }
        if create == Create::No && !file.exists() {
            bail!(
                "no store at {path} (greenlight dev keeps its store in <data dir>/greenlight.sqlite3, by default .greenlight/greenlight.sqlite3)"
            );
        }
        let store =
            greenlight_store_sqlite::SqliteStore::open(file).with_context(|| format!("opening {path}"))?;
        return Ok(Arc::new(store));
    }
    if let Some(table) = spec.strip_prefix("dynamodb:") {
        return Ok(Arc::new(
            greenlight_store_dynamodb::DynamoStore::from_env(table).await,
        ));
    }
    bail!("--store must be sqlite:<path> or dynamodb:<table>, not `{spec}`")
}

/// A new API token: 32 random bytes from the operating system, hex.
fn new_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| anyhow::anyhow!("no randomness from the operating system: {e}"))?;
    Ok(format!(
        "glt_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

/// The largest monthly spend cap `admin` sets: a billion dollars.
const MAX_SPEND_CAP_USD: f64 = 1e9;

pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    let create = match args.command {
        AdminCmd::Workspace(WorkspaceCmd::Create { .. }) => Create::Allowed,
        _ => Create::No,
    };
    // A new workspace is checked before the store is opened (and perhaps
    // created): a bad argument leaves nothing behind.
    let new_workspace = match &args.command {
        AdminCmd::Workspace(WorkspaceCmd::Create {
            id,
            name,
            spend_cap_usd,
            brand_dir,
        }) => {
            let id = WorkspaceId::parse(id)?;
            if name.trim().is_empty() {
                bail!("--name must not be blank");
            }
            // Counted in cents as given, before any rounding to micro-dollars.
            let cents = *spend_cap_usd * 100.0;
            if !(0.0..=MAX_SPEND_CAP_USD * 100.0).contains(&cents) || (cents - cents.round()).abs() > 1e-6 {
                bail!(
                    "--spend-cap-usd must be dollars and cents from 0 to {MAX_SPEND_CAP_USD:.0} a month, not {spend_cap_usd}"
                );
            }
            let spend_cap = Money::from_micros(cents.round() as i64 * 10_000);
            let data = greenlight_agents::load_workspace_dir(brand_dir)
                .with_context(|| format!("loading the brand data in {}", brand_dir.display()))?;
            let ws = Workspace {
                id,
                name: name.clone(),
                spend_cap,
                data: serde_json::to_value(&data)?,
            };
            Some((ws, data.products.len()))
        }
        _ => None,
    };
    let store = open(&args.store, create).await?;
    match args.command {
        AdminCmd::Workspace(WorkspaceCmd::Create { .. }) => {
            let Some((ws, products)) = new_workspace else {
                bail!("the new workspace was not prepared");
            };
            store.put_workspace(&ws).await?;
            println!(
                "workspace {}: {} ({products} products, spend cap {}/month)",
                ws.id, ws.name, ws.spend_cap
            );
        }
        AdminCmd::Member(MemberCmd::Add {
            workspace,
            id,
            name,
            mut roles,
        }) => {
            let ws = WorkspaceId::parse(&workspace)?;
            if store.get_workspace(&ws).await?.is_none() {
                bail!("no workspace {ws}: create it first with `greenlight admin workspace create`");
            }
            if name.trim().is_empty() {
                bail!("--name must not be blank");
            }
            if let Some(bad) = roles.iter().find(|r| !greenlight_recipes::is_role(r)) {
                bail!(
                    "--role `{bad}` is not a role as gate policies name them: lowercase letters, digits and hyphens (e.g. ops-lead)"
                );
            }
            if !roles.iter().any(|r| r == "member") {
                roles.insert(0, "member".into());
            }
            let member = Member {
                workspace_id: ws.clone(),
                id: MemberId::parse(&id)?,
                name,
                roles,
            };
            store.put_member(&member).await?;
            println!(
                "member {} of {ws}: {} ({})",
                member.id,
                member.name,
                member.roles.join(", ")
            );
        }
        AdminCmd::Token(TokenCmd::Issue { workspace, member }) => {
            let ws = WorkspaceId::parse(&workspace)?;
            let id = MemberId::parse(&member)?;
            let member = store.get_member(&ws, &id).await?.with_context(|| {
                format!("no member {id} in workspace {ws}: add them with `greenlight admin member add`")
            })?;
            let token = new_token()?;
            store.put_token(&token_hash(&token), &member, false).await?;
            eprintln!(
                "token for {} ({id}) in {ws}; it is shown this once and stored only as a hash:",
                member.name
            );
            println!("{token}");
        }
        AdminCmd::AutoApprove {
            workspace,
            workflow,
            gate,
            threshold,
            spend,
            off,
            recipes,
        } => {
            let ws = WorkspaceId::parse(&workspace)?;
            if store.get_workspace(&ws).await?.is_none() {
                bail!("no workspace {ws}");
            }
            let mut settings = store.approver_settings(&ws).await?;
            settings
                .auto_approve
                .retain(|a| !(a.workflow == workflow && a.gate == gate));
            if !off {
                let entry = AutoApprove {
                    workflow: workflow.clone(),
                    gate: gate.clone(),
                    threshold: threshold.context("--threshold is required")?,
                    spend,
                };
                // Only the gate being opted in is checked: others may belong
                // to custom recipes not named this time.
                let mut book = greenlight_core::recipes::RecipeBook::seeded()?;
                for path in &recipes {
                    let yaml = std::fs::read_to_string(path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    book.add_compiled(&path.display().to_string(), &yaml)?;
                }
                let check = ApproverSettings {
                    auto_approve: vec![entry.clone()],
                };
                greenlight_core::approver::check_settings(&book, &check)?;
                // What auto-approve could never act on is refused here, not
                // accepted to do nothing: a gate that needs a role for every
                // proposal, or the spend of a gate whose policy has a spend
                // threshold (its proposals commit spend) without --spend.
                let policy = book
                    .get(&workflow)
                    .and_then(|l| l.recipe.step(&gate))
                    .and_then(|s| s.gate.as_ref())
                    .and_then(|g| g.policy.clone());
                if let Some(p) = policy {
                    match p.when_spend_over_usd {
                        None => bail!(
                            "{workflow} / {gate} needs a person with the {} role for every proposal, \
                             and auto-approve never acts on a gate that needs a role",
                            p.required_role
                        ),
                        Some(_) if !spend => bail!(
                            "{workflow} / {gate} holds proposals that commit spend (its policy has a spend threshold): \
                             without --spend auto-approve would act on none of those; add --spend to opt their spend in"
                        ),
                        Some(_) => {}
                    }
                }
                settings.auto_approve.push(entry);
            }
            store.put_approver_settings(&ws, &settings).await?;
            match (off, threshold) {
                (true, _) | (_, None) => println!("auto-approve off for {workflow} / {gate} in {ws}"),
                (false, Some(t)) => println!(
                    "auto-approve on for {workflow} / {gate} in {ws}: predictions of approval at {t} or more{}",
                    if spend {
                        ", proposals with spend included"
                    } else {
                        ""
                    }
                ),
            }
        }
        AdminCmd::Token(TokenCmd::Revoke { token }) => {
            if !store.delete_token(&token_hash(&token)).await? {
                bail!("no such token (already revoked, or never issued)");
            }
            println!("revoked");
        }
    }
    Ok(())
}
