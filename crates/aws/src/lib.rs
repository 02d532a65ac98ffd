//! Greenlight on AWS: settings read once from the environment the SAM
//! template sets, the services wired to DynamoDB, Step Functions, S3 and
//! EventBridge, and one handler per Lambda function. The binaries in
//! `functions/` are a few lines around these handlers; tests call the
//! handlers directly with events built from JSON fixtures.

mod adapters;

pub use adapters::{EventPublisher, S3Blobs};

use anyhow::Context;
use aws_lambda_events::event::dynamodb::Event as DynamoDbEvent;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use greenlight_core::ids::{MemberId, RunId, WorkspaceId};
use greenlight_core::recipes::RecipeBook;
use greenlight_core::service::{ExecutionOutcome, OfflineAgents, StartRun};
use greenlight_core::{Config, Deps, Greenlight, SystemClock, TaskError};
use greenlight_orchestrator_sfn::SfnOrchestrator;
use greenlight_store_dynamodb::DynamoStore;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use tracing::{info, warn};

/// What the functions read from their environment, once, at cold start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub table: String,
    pub bucket: String,
    pub event_bus: String,
    /// Workflow id → state machine ARN (only the functions that start or
    /// inspect executions have it).
    pub state_machines: HashMap<String, String>,
    pub priced_model: String,
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Settings> {
        let var = |name: &str| {
            std::env::var(name).with_context(|| format!("the environment variable {name} is not set"))
        };
        let state_machines = match std::env::var("GREENLIGHT_STATE_MACHINES") {
            Ok(text) => serde_json::from_str(&text)
                .context("GREENLIGHT_STATE_MACHINES is not a JSON object of workflow → ARN")?,
            Err(_) => HashMap::new(),
        };
        Ok(Settings {
            table: var("GREENLIGHT_TABLE")?,
            bucket: var("GREENLIGHT_BUCKET")?,
            event_bus: std::env::var("GREENLIGHT_EVENT_BUS").unwrap_or_else(|_| "default".into()),
            state_machines,
            priced_model: std::env::var("GREENLIGHT_PRICED_MODEL")
                .unwrap_or_else(|_| "claude-sonnet-4-5".into()),
        })
    }
}

/// The AWS clients, from the standard configuration (`AWS_ENDPOINT_URL`
/// and per-service overrides work, so the same binaries run against an emulator).
#[derive(Clone)]
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sfn: aws_sdk_sfn::Client,
    pub s3: aws_sdk_s3::Client,
    pub eventbridge: aws_sdk_eventbridge::Client,
}

impl Clients {
    pub async fn from_env() -> Clients {
        let config = aws_config::load_from_env().await;
        Clients {
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            sfn: aws_sdk_sfn::Client::new(&config),
            s3: aws_sdk_s3::Client::new(&config),
            eventbridge: aws_sdk_eventbridge::Client::new(&config),
        }
    }
}

/// The services on AWS. Decisions are resumed by the stream processor (on
/// the resume item's stream record), so the resume hint does nothing here.
pub fn app(settings: &Settings, clients: &Clients) -> anyhow::Result<Arc<Greenlight>> {
    let recipes = RecipeBook::seeded().context("loading the seeded recipes")?;
    Ok(Arc::new(Greenlight::new(Deps {
        store: Arc::new(DynamoStore::new(clients.dynamodb.clone(), &settings.table)),
        orchestrator: Arc::new(SfnOrchestrator::new(
            clients.sfn.clone(),
            settings.state_machines.clone(),
        )),
        agents: Arc::new(OfflineAgents),
        editor: None,
        blobs: Arc::new(S3Blobs::new(clients.s3.clone(), &settings.bucket)),
        clock: Arc::new(SystemClock),
        recipes: Arc::new(recipes),
        resume_hint: Arc::new(|| {}),
        on_change: Arc::new(|_| {}),
        fault: Arc::new(|_| {}),
        config: Config {
            priced_model: settings.priced_model.clone(),
            dev_mode: false,
        },
    })))
}

/// A task's failure as Lambda reports it: `errorType` is what the state
/// machine's `Retry`/`Catch` match on.
#[derive(Debug)]
pub struct FunctionError(pub TaskError);

impl std::fmt::Display for FunctionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.cause)
    }
}

impl From<FunctionError> for lambda_runtime::Diagnostic {
    fn from(e: FunctionError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.0.error,
            error_message: e.0.cause,
        }
    }
}

/// The placeholder name an agent function runs as: `listing_optimizer` →
/// `ListingOptimizerFunctionArn`.
pub fn function_for_agent(agent: &str) -> anyhow::Result<String> {
    greenlight_agents::AgentId::parse(agent)
        .with_context(|| format!("GREENLIGHT_AGENT `{agent}` is not an agent"))?;
    Ok(format!("{}FunctionArn", pascal(agent)))
}

/// The placeholder name an action function runs as: `send_dms` → `SendDmsFunctionArn`.
pub fn function_for_action(action: &str) -> anyhow::Result<String> {
    anyhow::ensure!(
        greenlight_recipes::ACTIONS.contains(&action),
        "GREENLIGHT_ACTION `{action}` is not an action"
    );
    Ok(format!("{}FunctionArn", pascal(action)))
}

fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

/// A state machine task (agent, action, gate, synthesis).
pub async fn task(app: &Greenlight, function: &str, payload: Value) -> Result<Value, FunctionError> {
    app.handle_task(function, &payload).await.map_err(FunctionError)
}

/// The stream processor: on the table's DynamoDB Stream, delivers committed
/// decisions (a new or re-armed resume item) and publishes new run events to
/// EventBridge. A record whose work failed is reported for retry alone.
pub async fn stream(
    app: &Greenlight,
    publisher: &EventPublisher,
    event: DynamoDbEvent,
) -> DynamoDbEventResponse {
    let mut failures = Vec::new();
    let mut resume = false;
    for record in &event.records {
        let keys = &record.change.keys;
        let sk = keys.get("SK").and_then(|v| match v {
            serde_dynamo::AttributeValue::S(s) => Some(s.as_str()),
            _ => None,
        });
        let inserted = record.event_name == "INSERT";
        match sk {
            Some(sk) if sk.starts_with("RESUME#") => resume = true,
            Some(sk) if sk.starts_with("EVT#") && inserted => {
                let image: Result<HashMap<String, Value>, _> =
                    serde_dynamo::from_item(record.change.new_image.clone());
                let published = match image {
                    Ok(item) => publisher.publish(&item).await,
                    Err(e) => Err(anyhow::anyhow!("the event record does not decode: {e}")),
                };
                if let Err(e) = published {
                    warn!(error = %e, "could not publish an event; it will be retried");
                    let mut failure = DynamoDbBatchItemFailure::default();
                    failure.item_identifier = record.change.sequence_number.clone();
                    failures.push(failure);
                }
            }
            _ => {}
        }
    }
    if resume {
        match app.resume_pending().await {
            Ok(n) => info!(delivered = n, "resumed gates"),
            // The resume items stay pending; the next record or retry delivers them.
            Err(e) => warn!(error = %e, "could not resume gates"),
        }
    }
    let mut response = DynamoDbEventResponse::default();
    response.batch_item_failures = failures;
    response
}

/// Step Functions' "Execution Status Change" detail (the fields we read).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ExecutionStatusChange {
    pub name: String,
    pub status: String,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub cause: Option<String>,
}

/// The run finalizer: records how an execution ended. Idempotent and
/// order-free: a late or repeated event changes nothing.
pub async fn finalize(
    app: &Greenlight,
    event: EventBridgeEvent<ExecutionStatusChange>,
) -> anyhow::Result<()> {
    let d = event.detail;
    let run_id = match RunId::parse(&d.name) {
        Ok(id) => id,
        Err(_) => {
            warn!(execution = %d.name, "not a Greenlight run; ignored");
            return Ok(());
        }
    };
    let outcome = match d.status.as_str() {
        "SUCCEEDED" => ExecutionOutcome::Succeeded,
        "RUNNING" => return Ok(()),
        other => ExecutionOutcome::Failed {
            error: d
                .error
                .unwrap_or_else(|| format!("States.{}", other.to_lowercase())),
            cause: d.cause.unwrap_or_default(),
        },
    };
    app.execution_finished(&run_id, outcome)
        .await
        .context("recording the run's end")?;
    Ok(())
}

/// A "Brief Submitted" event's detail.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BriefSubmitted {
    pub workspace_id: String,
    /// The member the run is started for (its actor).
    pub member_id: String,
    pub workflow: String,
    pub brief: Value,
}

/// The trigger: a "Brief Submitted" event starts a run whose id derives from
/// the event id, so a redelivered event starts nothing new.
pub async fn trigger(app: &Greenlight, event: EventBridgeEvent<BriefSubmitted>) -> anyhow::Result<String> {
    let event_id = event.id.context("the event has no id")?;
    let run_id = RunId::from_event_id(&event_id).context("the event id does not make a run id")?;
    let d = event.detail;
    let ws = WorkspaceId::parse(&d.workspace_id).context("detail.workspace_id")?;
    let member_id = MemberId::parse(&d.member_id).context("detail.member_id")?;
    let member = app
        .store()
        .get_member(&ws, &member_id)
        .await
        .context("reading the member")?
        .with_context(|| format!("detail.member_id: {member_id} is not a member of workspace {ws}"))?;
    let req = StartRun {
        workflow: Some(d.workflow),
        brief: Some(d.brief),
        rerun_of: None,
        notes: None,
    };
    let view = app
        .start_run_with_id(&member, req, Some(run_id))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(view.run_id)
}
