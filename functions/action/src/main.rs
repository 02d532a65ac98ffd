//! An action task behind an approved gate (`{run_id, workflow, step_key}`); deployed
//! once per action, the action named by `GREENLIGHT_ACTION` (e.g. `post`).

use greenlight_aws::{Clients, Settings, app, function_for_action, task};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let function = function_for_action(&std::env::var("GREENLIGHT_ACTION").unwrap_or_default())?;
    let settings = Settings::from_env()?;
    let app = app(&settings, &Clients::from_env().await)?;
    let (app, function) = (&app, function.as_str());
    lambda_runtime::run(service_fn(move |e: LambdaEvent<Value>| async move {
        task(app, function, e.payload).await
    }))
    .await
}
