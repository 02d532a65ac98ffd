//! The Greenlight HTTP API on Lambda: the same Router `greenlight dev` serves.

use greenlight_aws::{Clients, Settings, app};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let settings = Settings::from_env()?;
    let app = app(&settings, &Clients::from_env().await)?;
    lambda_http::run(greenlight_api::router(app)).await
}
