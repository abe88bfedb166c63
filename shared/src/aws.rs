//! AWS clients, built once per process from the environment (`AWS_ENDPOINT_URL` points them at
//! a local AWS-compatible server in development and tests).

use aws_config::BehaviorVersion;

pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
}

pub async fn clients_from_env() -> Clients {
    let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
    Clients { dynamodb: aws_sdk_dynamodb::Client::new(&config), sqs: aws_sdk_sqs::Client::new(&config) }
}
