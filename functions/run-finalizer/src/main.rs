//! Records how a run ended, from Step Functions "Execution Status Change"
//! events. Idempotent and order-free.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use greenlight_aws::{Clients, ExecutionStatusChange, Settings, app, finalize};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let settings = Settings::from_env()?;
    let app = app(&settings, &Clients::from_env().await)?;
    let app = &app;
    lambda_runtime::run(service_fn(
        move |e: LambdaEvent<EventBridgeEvent<ExecutionStatusChange>>| async move {
            finalize(app, e.payload)
                .await
                .map_err(lambda_runtime::Error::from)
        },
    ))
    .await
}
