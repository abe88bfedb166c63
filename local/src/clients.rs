//! AWS clients for the local server: a fixed region, static dummy credentials and an endpoint
//! override, so nothing ever asks the instance metadata service or a real account.

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use hookline_shared::aws::Clients;

pub const LOCAL_REGION: &str = "us-east-1";

async fn local_config(endpoint_url: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(LOCAL_REGION))
        .credentials_provider(Credentials::new("test", "test", None, None, "hookline-local"))
        .endpoint_url(endpoint_url)
        .load()
        .await
}

pub async fn local_clients(endpoint_url: &str) -> Clients {
    let config = local_config(endpoint_url).await;
    Clients { dynamodb: aws_sdk_dynamodb::Client::new(&config), sqs: aws_sdk_sqs::Client::new(&config) }
}

/// As [`local_clients`], with `interceptor` attached to both clients, so every request they
/// make passes through it (the benchmark counts requests by operation this way).
pub async fn local_clients_with_interceptor<I>(endpoint_url: &str, interceptor: I) -> Clients
where
    I: aws_sdk_dynamodb::config::Intercept + Clone + 'static,
{
    let config = local_config(endpoint_url).await;
    let dynamodb = aws_sdk_dynamodb::config::Builder::from(&config).interceptor(interceptor.clone()).build();
    let sqs = aws_sdk_sqs::config::Builder::from(&config).interceptor(interceptor).build();
    Clients { dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb), sqs: aws_sdk_sqs::Client::from_conf(sqs) }
}

/// The local server's URL, as `scripts/with-moto` exports it.
pub fn endpoint_from_env() -> anyhow::Result<String> {
    ["HOOKLINE_TEST_AWS_ENDPOINT", "AWS_ENDPOINT_URL"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .ok_or_else(|| anyhow::anyhow!("no local AWS server: run through `make dev`/`make test` (scripts/with-moto)"))
}
