//! The local adapters of the core's ports, and the engine's hooks into the services.

use async_trait::async_trait;
use greenlight_core::Greenlight;
use greenlight_core::ids::RunId;
use greenlight_core::ports::{BlobError, BlobStore, ExecutionStatus, Orchestrator, OrchestratorError};
use greenlight_core::service::ExecutionOutcome;
use greenlight_engine::{Engine, EngineError, ExecutionRecord, Failure, Invoker, Listener};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, Weak};

/// Local function ARNs are this prefix and the placeholder's name.
pub const LOCAL_FUNCTION_PREFIX: &str = "arn:greenlight:local:function:";

/// The local engine's placeholder table: every `${…FunctionArn}` a recipe
/// may use, resolved to the same handler the Lambda binaries wrap.
pub fn local_function_table() -> HashMap<String, String> {
    greenlight_recipes::all_function_placeholders()
        .into_iter()
        .map(|p| {
            let arn = format!("{LOCAL_FUNCTION_PREFIX}{p}");
            (p, arn)
        })
        .collect()
}

/// The engine's invoker, bound to the services once they exist (they hold the engine).
#[derive(Default)]
pub struct LateInvoker(OnceLock<Weak<Greenlight>>);

impl LateInvoker {
    pub fn set(&self, app: &Arc<Greenlight>) {
        let _ = self.0.set(Arc::downgrade(app));
    }
}

#[async_trait]
impl Invoker for LateInvoker {
    async fn invoke(&self, function: &str, payload: Value) -> Result<Value, Failure> {
        let app = self.0.get().and_then(Weak::upgrade).ok_or_else(|| Failure {
            error: "Lambda.ServiceException".into(),
            cause: "the services are shutting down".into(),
        })?;
        let name = function
            .strip_prefix(LOCAL_FUNCTION_PREFIX)
            .ok_or_else(|| Failure {
                error: "Lambda.ResourceNotFoundException".into(),
                cause: format!("no local function {function}"),
            })?;
        app.handle_task(name, &payload).await.map_err(|e| Failure {
            error: e.error,
            cause: e.cause,
        })
    }
}

/// The run finalizer: told by the engine when an execution ends.
#[derive(Default)]
pub struct Finalizer(OnceLock<Weak<Greenlight>>);

impl Finalizer {
    pub fn set(&self, app: &Arc<Greenlight>) {
        let _ = self.0.set(Arc::downgrade(app));
    }
}

#[async_trait]
impl Listener for Finalizer {
    async fn execution_finished(&self, record: &ExecutionRecord) -> Result<(), String> {
        let app = self
            .0
            .get()
            .and_then(Weak::upgrade)
            .ok_or("the services are shutting down")?;
        let run_id = RunId::parse(&record.name).map_err(|e| e.to_string())?;
        let outcome = match (&record.status, &record.failure) {
            (greenlight_engine::ExecutionStatus::Succeeded, _) => ExecutionOutcome::Succeeded,
            (_, Some(f)) => ExecutionOutcome::Failed {
                error: f.error.clone(),
                cause: f.cause.clone(),
            },
            (_, None) => ExecutionOutcome::Failed {
                error: "States.Runtime".into(),
                cause: String::new(),
            },
        };
        app.execution_finished(&run_id, outcome)
            .await
            .map_err(|e| e.to_string())
    }
}

/// The Orchestrator port on the local engine.
pub struct EngineOrchestrator(pub Engine);

fn orch_err(e: EngineError) -> OrchestratorError {
    match e {
        EngineError::InvalidToken => OrchestratorError::InvalidToken,
        EngineError::NoExecution(n) => OrchestratorError::NoExecution(n),
        other => OrchestratorError::Unavailable(other.to_string()),
    }
}

#[async_trait]
impl Orchestrator for EngineOrchestrator {
    async fn start(&self, workflow: &str, run_id: &RunId, input: Value) -> Result<(), OrchestratorError> {
        self.0
            .start(workflow, run_id.as_str(), input)
            .await
            .map_err(orch_err)
    }

    async fn send_task_success(&self, token: &str, output: Value) -> Result<(), OrchestratorError> {
        self.0.send_task_success(token, output).await.map_err(orch_err)
    }

    async fn send_task_failure(
        &self,
        token: &str,
        error: &str,
        cause: &str,
    ) -> Result<(), OrchestratorError> {
        self.0
            .send_task_failure(token, error, cause)
            .await
            .map_err(orch_err)
    }

    async fn execution_status(
        &self,
        _workflow: &str,
        run_id: &RunId,
    ) -> Result<ExecutionStatus, OrchestratorError> {
        Ok(match self.0.status(run_id.as_str()).await.map_err(orch_err)? {
            greenlight_engine::ExecutionStatus::Running => ExecutionStatus::Running,
            greenlight_engine::ExecutionStatus::Succeeded => ExecutionStatus::Succeeded,
            greenlight_engine::ExecutionStatus::Failed => ExecutionStatus::Failed,
        })
    }
}

/// The deterministic offline agents (the default without an LLM key).
pub use greenlight_core::service::OfflineAgents;

/// Assets as files under the data directory.
/// The embedded runtime's assets: kept in the database, written in its
/// group commits; an asset an earlier version wrote as a file under
/// `blobs/` is still read from there.
pub struct LocalBlobs {
    pub db: greenlight_store_sqlite::SqliteStore,
    pub files: FileBlobs,
}

#[async_trait]
impl BlobStore for LocalBlobs {
    async fn put(&self, key: &str, content_type: &str, bytes: Vec<u8>) -> Result<(), BlobError> {
        self.db.put(key, content_type, bytes).await
    }

    async fn get(&self, key: &str) -> Result<Option<(String, Vec<u8>)>, BlobError> {
        match self.db.get(key).await? {
            Some(found) => Ok(Some(found)),
            None => self.files.get(key).await,
        }
    }
}

/// Assets as files under a directory.
pub struct FileBlobs {
    root: PathBuf,
}

impl FileBlobs {
    pub fn new(root: PathBuf) -> FileBlobs {
        FileBlobs { root }
    }

    /// Keys are `runs/<run id>/<name>` built by the services from parsed ids;
    /// anything else is refused rather than joined onto the path.
    fn path(&self, key: &str) -> Result<PathBuf, BlobError> {
        let ok = key.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        });
        if !ok {
            return Err(BlobError::Unavailable(format!("not a blob key: {key}")));
        }
        Ok(self.root.join(key))
    }

    /// Where a blob's content type is kept when its extension does not say it.
    fn type_path(path: &Path) -> PathBuf {
        path.with_extension(format!(
            "{}.content-type",
            path.extension().and_then(|e| e.to_str()).unwrap_or("bin")
        ))
    }
}

/// The content type a file extension says (the agents' renders are SVG):
/// such a blob needs no file beside it to keep its type.
fn type_of_extension(path: &Path) -> Option<&'static str> {
    match path.extension()?.to_str()? {
        "svg" => Some("image/svg+xml"),
        "png" => Some("image/png"),
        "jpg" | "jpeg" => Some("image/jpeg"),
        "json" => Some("application/json"),
        _ => None,
    }
}

#[async_trait]
impl BlobStore for FileBlobs {
    async fn put(&self, key: &str, content_type: &str, bytes: Vec<u8>) -> Result<(), BlobError> {
        let path = self.path(key)?;
        let meta = Self::type_path(&path);
        let ct = content_type.to_string();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            // The type first: a blob readable before its type would be
            // served as what its extension says.
            if type_of_extension(&path) == Some(ct.as_str()) {
                match std::fs::remove_file(&meta) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            } else {
                std::fs::write(&meta, &ct)?;
            }
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, &bytes)?;
            std::fs::rename(&tmp, &path)
        })
        .await
        .map_err(|e| BlobError::Unavailable(e.to_string()))?
        .map_err(|e| BlobError::Unavailable(e.to_string()))
    }

    async fn get(&self, key: &str) -> Result<Option<(String, Vec<u8>)>, BlobError> {
        let path = self.path(key)?;
        let meta = Self::type_path(&path);
        tokio::task::spawn_blocking(move || match std::fs::read(&path) {
            Ok(bytes) => {
                let ct = match std::fs::read_to_string(meta) {
                    Ok(ct) => ct,
                    Err(_) => type_of_extension(&path)
                        .unwrap_or("application/octet-stream")
                        .to_string(),
                };
                Ok(Some((ct, bytes)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(BlobError::Unavailable(e.to_string())),
        })
        .await
        .map_err(|e| BlobError::Unavailable(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn assets_go_to_the_database_and_files_of_an_earlier_version_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let files = FileBlobs::new(dir.path().join("blobs"));
        files
            .put(
                "runs/run_01old/post-1.svg",
                "image/svg+xml",
                b"<svg>old</svg>".to_vec(),
            )
            .await
            .unwrap();
        let blobs = LocalBlobs {
            db: greenlight_store_sqlite::SqliteStore::open(&dir.path().join("db.sqlite3")).unwrap(),
            files,
        };
        blobs
            .put(
                "runs/run_01new/post-1.svg",
                "image/svg+xml",
                b"<svg>new</svg>".to_vec(),
            )
            .await
            .unwrap();
        assert!(
            !dir.path().join("blobs/runs/run_01new").exists(),
            "no file for a new asset"
        );
        assert_eq!(
            blobs.get("runs/run_01new/post-1.svg").await.unwrap(),
            Some(("image/svg+xml".to_string(), b"<svg>new</svg>".to_vec()))
        );
        assert_eq!(
            blobs.get("runs/run_01old/post-1.svg").await.unwrap(),
            Some(("image/svg+xml".to_string(), b"<svg>old</svg>".to_vec()))
        );
        assert_eq!(blobs.get("runs/run_01new/none.svg").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_blob_keeps_its_type_with_a_file_beside_it_only_when_its_extension_does_not_say_it() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = FileBlobs::new(dir.path().to_path_buf());
        let key = "runs/run_01abc/post-1.svg";
        let sidecar = dir.path().join("runs/run_01abc/post-1.svg.content-type");

        blobs.put(key, "image/svg+xml", b"<svg/>".to_vec()).await.unwrap();
        assert!(!sidecar.exists());
        assert_eq!(
            blobs.get(key).await.unwrap(),
            Some(("image/svg+xml".to_string(), b"<svg/>".to_vec()))
        );

        // Another type under the same name is kept beside it, and wins.
        blobs
            .put(key, "text/plain", b"not a picture".to_vec())
            .await
            .unwrap();
        assert!(sidecar.exists());
        assert_eq!(blobs.get(key).await.unwrap().unwrap().0, "text/plain");

        // Back to the extension's type: the file beside it goes.
        blobs.put(key, "image/svg+xml", b"<svg/>".to_vec()).await.unwrap();
        assert!(!sidecar.exists());
        assert_eq!(blobs.get(key).await.unwrap().unwrap().0, "image/svg+xml");

        // No extension it knows, no file beside it: octet-stream.
        std::fs::write(dir.path().join("runs/run_01abc/raw.bin"), b"x").unwrap();
        assert_eq!(
            blobs.get("runs/run_01abc/raw.bin").await.unwrap().unwrap().0,
            "application/octet-stream"
        );
        assert!(blobs.get("runs/run_01abc/none.svg").await.unwrap().is_none());
    }
}
