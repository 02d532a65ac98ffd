//! Starts a run from a "Brief Submitted" event; the run id derives from the
//! event id, so an event delivered twice starts one run.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use greenlight_aws::{BriefSubmitted, Clients, Settings, app, trigger};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let settings = Settings::from_env()?;
    let app = app(&settings, &Clients::from_env().await)?;
    let app = &app;
    lambda_runtime::run(service_fn(
        move |e: LambdaEvent<EventBridgeEvent<BriefSubmitted>>| async move {
            trigger(app, e.payload)
                .await
                .map(|run_id| serde_json::json!({"run_id": run_id}))
                .map_err(lambda_runtime::Error::from)
        },
    ))
    .await
}
