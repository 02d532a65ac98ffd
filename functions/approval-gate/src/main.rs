//! The approval gate task: `lambda:invoke.waitForTaskToken` calls it with
//! `{task_token, run_id, step_key}`; it puts the approval in the queue.

use greenlight_aws::{Clients, Settings, app, task};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let settings = Settings::from_env()?;
    let app = app(&settings, &Clients::from_env().await)?;
    let app = &app;
    lambda_runtime::run(service_fn(move |e: LambdaEvent<Value>| async move {
        task(app, "ApprovalGateFunctionArn", e.payload).await
    }))
    .await
}
