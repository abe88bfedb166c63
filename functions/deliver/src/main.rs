//! The deliver Lambda: SQS batches from the deliveries queue, handled by the library.

use aws_lambda_events::event::sqs::SqsEvent;
use hookline_shared::config::Config;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    hookline_shared::telemetry::init();
    // Endpoint secrets and credentials are sealed at rest with the deployment's key.
    hookline_shared::crypto::install_from_env()?;
    let config = Config::from_env()?;
    let clients = hookline_shared::aws::clients_from_env().await;
    let handler = deliver::Handler::from_config(&config, &clients)?;
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, lambda_runtime::Error>(handler.handle(event.payload).await)
    }))
    .await
}
