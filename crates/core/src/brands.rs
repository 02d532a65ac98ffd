//! Workspaces with their brand data parsed, cached per process.
//!
//! Every agent step, the spend cap and the approver's training read a
//! workspace's brand data: about 20 KB of JSON, parsed twice (to JSON, then
//! to [`WorkspaceData`]). A cached entry is used only while the store says
//! the workspace's revision is the one it was parsed at, so a change made by
//! another process (`greenlight admin`) is seen at the next read. An adapter
//! with no cheap revision ([`Store::workspace_revision`] answering `None`)
//! is read in full every time.

use crate::error::Error;
use crate::ids::WorkspaceId;
use crate::model::Workspace;
use crate::money::Money;
use crate::ports::{Store, StoreError};
use greenlight_agents::WorkspaceData;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// At most this many workspaces are kept; past it the cache starts over.
const MAX_CACHED: usize = 256;

/// Why a workspace did not load.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no such workspace")]
    Missing,
    #[error("the brand data of workspace {0} does not load: {1}")]
    Unreadable(WorkspaceId, String),
}

impl From<LoadError> for Error {
    fn from(e: LoadError) -> Error {
        match e {
            LoadError::Store(e) => e.into(),
            LoadError::Missing => Error::NotFound("workspace".into()),
            e @ LoadError::Unreadable(..) => Error::Unavailable(e.to_string()),
        }
    }
}

/// A workspace whose brand data is parsed. Brand data that does not load
/// fails what needs it (the agents), not what needs only the spend cap
/// (decisions).
#[derive(Debug)]
pub struct LoadedWorkspace {
    pub id: WorkspaceId,
    pub name: String,
    pub spend_cap: Money,
    data: Result<Arc<WorkspaceData>, String>,
}

impl LoadedWorkspace {
    fn parse(ws: Workspace) -> LoadedWorkspace {
        LoadedWorkspace {
            data: serde_json::from_value(ws.data)
                .map(Arc::new)
                .map_err(|e| e.to_string()),
            id: ws.id,
            name: ws.name,
            spend_cap: ws.spend_cap,
        }
    }

    /// The brand data, parsed.
    pub fn data(&self) -> Result<&Arc<WorkspaceData>, LoadError> {
        self.data
            .as_ref()
            .map_err(|e| LoadError::Unreadable(self.id.clone(), e.clone()))
    }
}

#[derive(Default)]
pub(crate) struct Brands {
    cache: Mutex<HashMap<WorkspaceId, (u64, Arc<LoadedWorkspace>)>>,
}

impl Brands {
    /// The workspace, parsed.
    pub(crate) async fn load(
        &self,
        store: &dyn Store,
        id: &WorkspaceId,
    ) -> Result<Arc<LoadedWorkspace>, LoadError> {
        let revision = store.workspace_revision(id).await?;
        match revision {
            Some(r) => {
                if let Some(hit) = self.cached(id, r) {
                    return Ok(hit);
                }
            }
            // No revision to trust: nothing kept from before may be used
            // once one is given again.
            None => {
                if let Ok(mut cache) = self.cache.lock() {
                    cache.remove(id);
                }
            }
        }
        let ws = store.get_workspace(id).await?.ok_or(LoadError::Missing)?;
        let loaded = Arc::new(LoadedWorkspace::parse(ws));
        // Read after the revision, the data is at least that new: a newer
        // revision later misses this entry and reads again.
        if let Some(r) = revision
            && let Ok(mut cache) = self.cache.lock()
        {
            if cache.len() >= MAX_CACHED && !cache.contains_key(id) {
                cache.clear();
            }
            cache.insert(id.clone(), (r, loaded.clone()));
        }
        Ok(loaded)
    }

    fn cached(&self, id: &WorkspaceId, revision: u64) -> Option<Arc<LoadedWorkspace>> {
        let cache = self.cache.lock().ok()?;
        let (r, ws) = cache.get(id)?;
        (*r == revision).then(|| ws.clone())
    }
}
