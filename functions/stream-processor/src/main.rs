//! On the table's DynamoDB Stream: delivers committed decisions to Step
//! Functions (the resume outbox) and publishes run events to EventBridge.

use aws_lambda_events::event::dynamodb::Event;
use greenlight_aws::{Clients, EventPublisher, Settings, app, stream};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let settings = Settings::from_env()?;
    let clients = Clients::from_env().await;
    let app = app(&settings, &clients)?;
    let publisher = EventPublisher::new(clients.eventbridge.clone(), &settings.event_bus);
    let (app, publisher) = (&app, &publisher);
    lambda_runtime::run(service_fn(move |e: LambdaEvent<Event>| async move {
        Ok::<_, lambda_runtime::Error>(stream(app, publisher, e.payload).await)
    }))
    .await
}
