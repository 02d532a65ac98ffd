//! The production path end to end on moto: the Lambda handlers of
//! `functions/` over DynamoDB, Step Functions (running the committed ASL),
//! S3 and EventBridge. moto's own Lambda tasks only echo, so the test plays
//! Lambda: it hands every task Step Functions schedules to the handler the
//! deployed function would run, in the order they were scheduled.

use aws_lambda_events::event::dynamodb::Event as DynamoDbEvent;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_sdk_sfn::types::{ExecutionStatus as SfnStatus, HistoryEventType};
use greenlight_aws::{BriefSubmitted, Clients, EventPublisher, ExecutionStatusChange, Settings};
use greenlight_core::Greenlight;
use greenlight_core::ids::{MemberId, WorkspaceId};
use greenlight_core::model::Verdict;
use greenlight_core::service::DecideRequest;
use greenlight_store_dynamodb::DynamoStore;
use greenlight_tests::moto::Moto;
use greenlight_tests::samples;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const LAMBDA: &str = "arn:aws:lambda:us-east-1:123456789012:function:greenlight-";

/// Records the DynamoDB operations a client makes, by name (and, for a
/// `BatchGetItem`, how many items it asks for).
#[derive(Debug)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl aws_sdk_dynamodb::config::Intercept for Recorder {
    fn name(&self) -> &'static str {
        "Recorder"
    }

    fn read_before_execution(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        use aws_sdk_dynamodb::operation as op;
        let input = context.input();
        let name = if input.downcast_ref::<op::query::QueryInput>().is_some() {
            "Query".to_string()
        } else if let Some(batch) = input.downcast_ref::<op::batch_get_item::BatchGetItemInput>() {
            let items: usize = batch
                .request_items()
                .map(|tables| tables.values().map(|t| t.keys().len()).sum())
                .unwrap_or(0);
            format!("BatchGetItem of {items}")
        } else if input.downcast_ref::<op::get_item::GetItemInput>().is_some() {
            "GetItem".to_string()
        } else if input
            .downcast_ref::<op::transact_write_items::TransactWriteItemsInput>()
            .is_some()
        {
            "TransactWriteItems".to_string()
        } else {
            "another operation".to_string()
        };
        if let Ok(mut names) = self.0.lock() {
            names.push(name);
        }
        Ok(())
    }
}

fn fixture(name: &str) -> Value {
    let path = samples().join("events").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

struct Stack {
    app: Arc<Greenlight>,
    clients: Clients,
    settings: Settings,
    queue_url: String,
    _moto: Moto,
}

async fn stack() -> Stack {
    let moto = Moto::start();
    moto.execute_state_machines().await;
    let clients = moto.clients().await;
    let table = "greenlight";
    DynamoStore::new(clients.dynamodb.clone(), table)
        .create_table()
        .await
        .unwrap();
    clients
        .s3
        .create_bucket()
        .bucket("greenlight-assets")
        .send()
        .await
        .unwrap();
    let machine = greenlight_tests::moto::create_campaign_launch(&clients.sfn, LAMBDA).await;
    // The event bus, with a rule delivering Greenlight's events to a queue.
    let bus = "greenlight";
    let events = &clients.eventbridge;
    events.create_event_bus().name(bus).send().await.unwrap();
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config().await);
    let queue_url = sqs
        .create_queue()
        .queue_name("greenlight-events")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let queue_arn = "arn:aws:sqs:us-east-1:123456789012:greenlight-events";
    events
        .put_rule()
        .name("greenlight-run-events")
        .event_bus_name(bus)
        .event_pattern(json!({"source": ["greenlight"]}).to_string())
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule("greenlight-run-events")
        .event_bus_name(bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let settings = Settings {
        table: table.into(),
        bucket: "greenlight-assets".into(),
        event_bus: bus.into(),
        state_machines: HashMap::from([("campaign-launch".into(), machine)]),
        priced_model: "claude-sonnet-4-5".into(),
    };
    let app = greenlight_aws::app(&settings, &clients).unwrap();
    let seeded = greenlight_local::seed_from_dir(app.store().as_ref(), &samples(), false)
        .await
        .unwrap();
    assert!(seeded >= 2);
    Stack {
        app,
        clients,
        settings,
        queue_url,
        _moto: moto,
    }
}

impl Stack {
    fn execution_arn(&self, run_id: &str) -> String {
        let machine = &self.settings.state_machines["campaign-launch"];
        format!(
            "{}:{run_id}",
            machine.replacen(":stateMachine:", ":execution:", 1)
        )
    }

    /// Every task Step Functions has scheduled for the run, in order: its
    /// event id, function and payload.
    async fn scheduled(&self, run_id: &str) -> Vec<(i64, String, Value)> {
        let history =
            greenlight_tests::moto::execution_history(&self.clients.sfn, &self.execution_arn(run_id)).await;
        history
            .iter()
            .filter(|e| *e.r#type() == HistoryEventType::TaskScheduled)
            .map(|e| {
                let params: Value =
                    serde_json::from_str(e.task_scheduled_event_details().unwrap().parameters()).unwrap();
                let function = params["FunctionName"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches(LAMBDA)
                    .to_string();
                (e.id(), function, params["Payload"].clone())
            })
            .collect()
    }

    /// Runs every task Step Functions scheduled that has not run yet, through
    /// its function's handler; returns how many ran.
    async fn play_lambda(&self, run_id: &str, done: &mut HashSet<i64>) -> usize {
        let mut ran = 0;
        for (id, function, payload) in self.scheduled(run_id).await {
            if !done.insert(id) {
                continue;
            }
            // Every task but a gate names its workflow: the function reads
            // only the steps it depends on, whichever runs it has seen.
            if payload.get("task_token").is_none() {
                assert_eq!(payload["workflow"], "campaign-launch", "{function}: {payload}");
            }
            let result = greenlight_aws::task(&self.app, &function, payload).await;
            assert!(result.is_ok(), "{function} failed: {:?}", result.err());
            ran += 1;
        }
        ran
    }

    /// The listing optimizer's task (an agent that depends on no step) once
    /// Step Functions has scheduled it: its event id, function and payload.
    async fn listing_optimizer_task(&self, run_id: &str) -> (i64, String, Value) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let scheduled = self.scheduled(run_id).await;
            if let Some(task) = scheduled
                .iter()
                .find(|(_, function, _)| function == "ListingOptimizerFunctionArn")
            {
                return task.clone();
            }
            assert!(
                Instant::now() < deadline,
                "the listing optimizer was never scheduled: {scheduled:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn sfn_status(&self, run_id: &str) -> SfnStatus {
        let d = self
            .clients
            .sfn
            .describe_execution()
            .execution_arn(self.execution_arn(run_id))
            .send()
            .await
            .unwrap();
        d.status().clone()
    }
}

async fn until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_brief_event_runs_through_gates_to_its_report_on_the_aws_adapters() {
    let s = stack().await;
    let app = &s.app;
    // The trigger: a Brief Submitted event starts a run named after the event; twice is once.
    let event: EventBridgeEvent<BriefSubmitted> =
        serde_json::from_value(fixture("eventbridge-brief-submitted.json")).unwrap();
    let run_id = greenlight_aws::trigger(app, event.clone())
        .await
        .expect("run started");
    assert_eq!(run_id, "run_6a7e8feb-b491-4cf7-a9f1-bf3703467718");
    assert_eq!(
        greenlight_aws::trigger(app, event).await.unwrap(),
        run_id,
        "a redelivered event starts nothing new"
    );

    // A function that has not seen the run reads only what its task
    // depends on: an agent task, run by a second app (another
    // container) whose DynamoDB client records each operation, reads the
    // run's META item and its own step in one BatchGetItem, and never
    // queries the whole run.
    let mut done = HashSet::new();
    let recorded = Arc::new(Mutex::new(Vec::new()));
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        s.clients
            .dynamodb
            .config()
            .to_builder()
            .interceptor(Recorder(recorded.clone()))
            .build(),
    );
    let elsewhere = greenlight_aws::app(
        &s.settings,
        &Clients {
            dynamodb,
            ..s.clients.clone()
        },
    )
    .unwrap();
    let (id, function, payload) = s.listing_optimizer_task(&run_id).await;
    let result = greenlight_aws::task(&elsewhere, &function, payload)
        .await
        .unwrap_or_else(|e| panic!("{function} failed: {e:?}"));
    assert!(result.get("skipped").is_none(), "{result}");
    done.insert(id);
    let ops = recorded.lock().unwrap().clone();
    assert!(
        ops.iter().any(|o| o == "BatchGetItem of 2") && !ops.iter().any(|o| o == "Query"),
        "an agent task of a run its process had not seen made {ops:?}"
    );

    // Play Lambda until the four gates wait in DynamoDB.
    let member = app
        .store()
        .get_member(
            &WorkspaceId::parse("demo").unwrap(),
            &MemberId::parse("olivia").unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    let mut pending = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while pending.len() < 4 {
        s.play_lambda(&run_id, &mut done).await;
        let run = app.run_view(&member, &run_id).await.unwrap();
        pending = run
            .steps
            .iter()
            .filter(|st| st.status.as_str() == "waiting_for_approval")
            .map(|st| st.step_id.clone())
            .collect();
        assert!(
            Instant::now() < deadline,
            "four gates never opened: {:?}",
            run.steps
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let queue = app
        .queue(
            &member,
            &Default::default(),
            &greenlight_core::model::PageRequest {
                limit: 50,
                cursor: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(queue.items.len(), 4);
    // A task that names another workflow than its run's is refused, and
    // changes nothing.
    let before = serde_json::to_value(app.run_view(&member, &run_id).await.unwrap()).unwrap();
    let err = greenlight_aws::task(
        app,
        "SynthesisFunctionArn",
        json!({"run_id": run_id, "workflow": "profile-audit", "step_key": "synthesis"}),
    )
    .await
    .expect_err("a task naming another workflow fails");
    assert_eq!(err.0.error, "Greenlight.BadPayload");
    assert!(
        err.0
            .cause
            .contains("names workflow profile-audit, but run run_6a7e8feb-b491-4cf7-a9f1-bf3703467718 runs campaign-launch"),
        "{err}"
    );
    let after = serde_json::to_value(app.run_view(&member, &run_id).await.unwrap()).unwrap();
    assert_eq!(before, after);
    // The card's asset is on S3.
    let card = app
        .card(&member, &format!("{run_id}.publish_gate"))
        .await
        .unwrap();
    let asset = card
        .reasoning_trail
        .iter()
        .find_map(|t| t["asset_url"].as_str())
        .expect("an asset")
        .to_string();
    let name = asset.rsplit('/').next().unwrap();
    let (ct, bytes) = app.asset(&member, &run_id, name).await.unwrap();
    assert_eq!(ct, "image/svg+xml");
    assert!(String::from_utf8_lossy(&bytes).contains("<svg"));

    // Decide all four; the stream processor delivers the resumes.
    for step_id in &pending {
        let req = DecideRequest {
            verdict: Verdict::Approved,
            comment: Some("Approved on AWS".into()),
            feedback: None,
            proposal_digest: None,
            edited_proposal: None,
        };
        app.decide(&member, step_id, req).await.expect("decided");
    }
    let resume_record: DynamoDbEvent =
        serde_json::from_value(fixture("dynamodb-stream-resume-insert.json")).unwrap();
    let publisher = EventPublisher::new(s.clients.eventbridge.clone(), &s.settings.event_bus);
    let response = greenlight_aws::stream(app, &publisher, resume_record).await;
    assert!(response.batch_item_failures.is_empty());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        s.play_lambda(&run_id, &mut done).await;
        if s.sfn_status(&run_id).await == SfnStatus::Succeeded {
            // Tasks scheduled after the last look still need their handler.
            s.play_lambda(&run_id, &mut done).await;
            break;
        }
        assert!(Instant::now() < deadline, "the execution never succeeded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The finalizer records the end from the status-change event.
    let mut status = fixture("eventbridge-execution-status-change.json");
    status["detail"]["name"] = json!(run_id);
    let status: EventBridgeEvent<ExecutionStatusChange> = serde_json::from_value(status).unwrap();
    greenlight_aws::finalize(app, status).await.unwrap();
    let run = app.run_view(&member, &run_id).await.unwrap();
    assert_eq!(run.status.as_str(), "succeeded");
    let report = app.report(&member, &run_id).await.unwrap();
    assert!(report["markdown"].as_str().unwrap().contains("Approved on AWS"));
    let outbox = app
        .outbox(
            &member,
            &greenlight_core::model::PageRequest {
                limit: 50,
                cursor: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(outbox.items.len(), 4);

    // Run events reach EventBridge (source greenlight, detail-type the event type) and a rule's queue.
    let events = app.events(&member, &run_id, 0, 1000).await.unwrap();
    assert!(events.len() > 10);
    let published: DynamoDbEvent =
        serde_json::from_value(fixture("dynamodb-stream-event-insert.json")).unwrap();
    let response = greenlight_aws::stream(app, &publisher, published).await;
    assert!(response.batch_item_failures.is_empty());
    let sqs = aws_sdk_sqs::Client::new(&s._moto.sdk_config().await);
    let received = sqs
        .receive_message()
        .queue_url(&s.queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let bodies: Vec<Value> = received
        .messages()
        .iter()
        .filter_map(|m| m.body())
        .filter_map(|b| serde_json::from_str(b).ok())
        .collect();
    let approved = bodies
        .iter()
        .find(|b| b["detail-type"] == "approval.approved")
        .expect("the event reached the queue");
    assert_eq!(approved["source"], "greenlight");
    assert_eq!(
        approved["detail"]["run_id"],
        "run_6a7e8feb-b491-4cf7-a9f1-bf3703467718"
    );
    assert_eq!(approved["detail"]["seq"], 7);
}

#[tokio::test]
async fn a_rejection_on_aws_fails_the_run_and_the_execution() {
    let s = stack().await;
    let app = &s.app;
    let mut event = fixture("eventbridge-brief-submitted.json");
    event["id"] = json!("0b6cf1f0-52e1-4c1b-9d77-4d8f2a9b7a10");
    let event: EventBridgeEvent<BriefSubmitted> = serde_json::from_value(event).unwrap();
    let run_id = greenlight_aws::trigger(app, event).await.unwrap();
    let member = app
        .store()
        .get_member(
            &WorkspaceId::parse("demo").unwrap(),
            &MemberId::parse("alice").unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    let mut done = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        s.play_lambda(&run_id, &mut done).await;
        let run = app.run_view(&member, &run_id).await.unwrap();
        if run
            .steps
            .iter()
            .filter(|st| st.status.as_str() == "waiting_for_approval")
            .count()
            == 4
        {
            break;
        }
        assert!(Instant::now() < deadline, "four gates never opened");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let req = DecideRequest {
        verdict: Verdict::Rejected,
        comment: None,
        feedback: Some("too salesy".into()),
        proposal_digest: None,
        edited_proposal: None,
    };
    let resp = app
        .decide(&member, &format!("{run_id}.listings_gate"), req)
        .await
        .unwrap();
    assert_eq!(
        resp.run_error.flatten().as_deref(),
        Some("Rejected at Listings: too salesy")
    );
    app.resume_pending().await.unwrap();
    until("the execution to fail", || async {
        s.sfn_status(&run_id).await == SfnStatus::Failed
    })
    .await;
    let d = s
        .clients
        .sfn
        .describe_execution()
        .execution_arn(s.execution_arn(&run_id))
        .send()
        .await
        .unwrap();
    assert_eq!(d.error(), Some("Rejected"));
    let run = app.run_view(&member, &run_id).await.unwrap();
    assert_eq!(run.error.as_deref(), Some("Rejected at Listings: too salesy"));
    assert!(
        run.steps
            .iter()
            .filter(|st| st.kind == "approval_gate" && st.step_key != "listings_gate")
            .all(|st| st.status.as_str() == "cancelled")
    );
    assert!(
        app.queue(
            &member,
            &Default::default(),
            &greenlight_core::model::PageRequest {
                limit: 50,
                cursor: None
            }
        )
        .await
        .unwrap()
        .items
        .is_empty()
    );
}
