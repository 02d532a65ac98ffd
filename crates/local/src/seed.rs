//! Seeding sample workspaces from `samplesdata/workspaces/<id>/` on first start.

use greenlight_core::ids::{MemberId, WorkspaceId};
use greenlight_core::model::{Actor, ApproverSettings, HistoryEntry, Member, Verdict, Workspace};
use greenlight_core::money::Money;
use greenlight_core::ports::Store;
use greenlight_core::service::token_hash;
use greenlight_core::time::Timestamp;
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error(
        "the sample data directory {0} has no workspaces/ folder; run from the repository root or pass --samples"
    )]
    NoWorkspaces(PathBuf),
    #[error(transparent)]
    Store(#[from] greenlight_core::ports::StoreError),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkspaceFile {
    id: String,
    name: String,
    spend_cap_usd: f64,
    members: Vec<MemberFile>,
    /// Auto-approve opt-ins; none unless written here.
    #[serde(default)]
    approver: Option<ApproverSettings>,
}

/// `decision-history.json`: past decisions for the approver agent to learn from.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryFile {
    /// Invented decisions (the sample brands' are).
    synthetic: bool,
    #[serde(default)]
    #[allow(dead_code)]
    about: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    seed: Option<u64>,
    decisions: Vec<HistoryDecision>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryDecision {
    workflow: String,
    gate: String,
    at: String,
    proposal: serde_json::Value,
    verdict: Verdict,
    feedback: Option<String>,
    comment: Option<String>,
    actor: Actor,
    brief_budget_usd: Option<f64>,
    spend_cap_remaining_usd: Option<f64>,
}

/// The decisions of a `decision-history.json`, as history entries.
pub fn parse_history(path: &Path, text: &str) -> Result<Vec<HistoryEntry>, SeedError> {
    let file: HistoryFile = serde_json::from_str(text).map_err(|e| file_err(path, e))?;
    file.decisions
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            let at = Timestamp::parse(&d.at).ok_or_else(|| {
                file_err(
                    path,
                    format!("decisions[{i}].at: `{}` is not an RFC 3339 time", d.at),
                )
            })?;
            Ok(HistoryEntry {
                step_id: format!("sample.{}.{}.{i:05}", d.workflow, d.gate),
                workflow: d.workflow,
                gate: d.gate,
                at,
                proposal_digest: greenlight_core::proposal::digest(&d.proposal),
                proposal: d.proposal,
                verdict: d.verdict,
                feedback: d.feedback,
                comment: d.comment,
                edited_proposal: None,
                edited_proposal_digest: None,
                actor: d.actor,
                brief_budget_usd: d.brief_budget_usd,
                spend_cap_remaining_usd: d.spend_cap_remaining_usd,
                prediction: None,
                synthetic: file.synthetic,
            })
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberFile {
    id: String,
    name: String,
    roles: Vec<String>,
    dev_token: Option<String>,
}

fn file_err(path: &Path, message: impl std::fmt::Display) -> SeedError {
    SeedError::File {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Seeds every workspace under `dir/workspaces/` that the store does not
/// have yet; returns how many it seeded. Dev tokens are stored (hashed) as
/// dev-only, so they work only in dev mode.
pub async fn seed_from_dir(store: &dyn Store, dir: &Path, with_dev_tokens: bool) -> Result<usize, SeedError> {
    let root = dir.join("workspaces");
    let entries = std::fs::read_dir(&root).map_err(|_| SeedError::NoWorkspaces(dir.to_path_buf()))?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut seeded = 0;
    for ws_dir in dirs {
        let path = ws_dir.join("workspace.json");
        let text = std::fs::read_to_string(&path).map_err(|e| file_err(&path, e))?;
        let file: WorkspaceFile = serde_json::from_str(&text).map_err(|e| file_err(&path, e))?;
        let id = WorkspaceId::parse(&file.id).map_err(|e| file_err(&path, e))?;
        if store.get_workspace(&id).await?.is_some() {
            continue;
        }
        let data = greenlight_agents::load_workspace_dir(&ws_dir).map_err(|e| file_err(&ws_dir, e))?;
        let spend_cap = Money::from_usd(file.spend_cap_usd)
            .filter(|m| *m >= Money::ZERO)
            .ok_or_else(|| file_err(&path, "spend_cap_usd must be a number ≥ 0"))?;
        store
            .put_workspace(&Workspace {
                id: id.clone(),
                name: file.name,
                spend_cap,
                data: serde_json::to_value(&data).map_err(|e| file_err(&ws_dir, e))?,
            })
            .await?;
        for m in file.members {
            let mut roles = m.roles;
            if !roles.iter().any(|r| r == "member") {
                roles.insert(0, "member".into());
            }
            let member = Member {
                workspace_id: id.clone(),
                id: MemberId::parse(&m.id).map_err(|e| file_err(&path, e))?,
                name: m.name,
                roles,
            };
            store.put_member(&member).await?;
            if let (Some(token), true) = (m.dev_token, with_dev_tokens) {
                store.put_token(&token_hash(&token), &member, true).await?;
            }
        }
        if let Some(settings) = &file.approver {
            let recipes = greenlight_core::recipes::RecipeBook::seeded().map_err(|e| file_err(&path, e))?;
            greenlight_core::approver::check_settings(&recipes, settings)
                .map_err(|e| file_err(&path, format!("approver.{e}")))?;
            store.put_approver_settings(&id, settings).await?;
        }
        let history_path = ws_dir.join("decision-history.json");
        if history_path.is_file() {
            let text = std::fs::read_to_string(&history_path).map_err(|e| file_err(&history_path, e))?;
            let entries = parse_history(&history_path, &text)?;
            for chunk in entries.chunks(200) {
                store.add_history(&id, chunk).await?;
            }
        }
        seeded += 1;
    }
    Ok(seeded)
}

/// The sample members whose dev tokens work on this store, for the
/// dashboard's one-click sign-ins (dev mode only). A member whose token was
/// revoked, or whose workspace was not seeded from these files, is left out.
pub async fn dev_members(
    app: &greenlight_core::Greenlight,
    dir: &Path,
) -> Result<Vec<greenlight_api::DevMember>, SeedError> {
    let root = dir.join("workspaces");
    let entries = std::fs::read_dir(&root).map_err(|_| SeedError::NoWorkspaces(dir.to_path_buf()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path().join("workspace.json")))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).map_err(|e| file_err(&path, e))?;
        let file: WorkspaceFile = serde_json::from_str(&text).map_err(|e| file_err(&path, e))?;
        for m in file.members {
            let Some(token) = m.dev_token else { continue };
            let Ok(member) = app.authenticate(&token).await else {
                continue;
            };
            if member.workspace_id.as_str() != file.id || member.id.as_str() != m.id {
                continue;
            }
            out.push(greenlight_api::DevMember {
                workspace_id: file.id.clone(),
                workspace_name: file.name.clone(),
                member_id: m.id,
                name: member.name,
                roles: member.roles,
                token,
            });
        }
    }
    Ok(out)
}
