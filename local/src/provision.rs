//! Creates the template's table and queues in the local AWS server, under a name prefix so
//! every test (and `make dev`) has its own.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use hookline_shared::aws::Clients;
use hookline_shared::config::Config;

use crate::template::{QueueSpec, Resources, TableSpec};

/// Names and URLs of the resources made for one run.
#[derive(Debug, Clone)]
pub struct LocalResources {
    pub table: String,
    pub queue_url: String,
    pub queue_arn: String,
    /// The slow lane's queue.
    pub slow_queue_url: String,
    pub slow_queue_arn: String,
    pub dead_letter_queue_url: String,
}

impl LocalResources {
    /// The configuration of local development over these resources: both lanes, the
    /// dead-letter queue, a day of retention, loopback receivers only (`Egress::LoopbackOnly`). Callers that differ
    /// say so with struct update syntax.
    pub fn config(&self, admin_token: &str) -> Config {
        Config {
            table: self.table.clone(),
            queue_url: self.queue_url.clone(),
            slow_queue_url: Some(self.slow_queue_url.clone()),
            dead_letter_queue_url: Some(self.dead_letter_queue_url.clone()),
            admin_token: Some(admin_token.to_owned()),
            retention: std::time::Duration::from_secs(86_400),
            egress: hookline_shared::guard::Egress::LoopbackOnly,
            allow_http: false,
            dashboard_frame_ancestors: Default::default(),
            recover_budget: hookline_shared::config::DEFAULT_RECOVER_BUDGET,
            auth_cache_ttl: hookline_shared::warm::MAX_AUTH_TTL,
        }
    }
}

pub async fn provision(clients: &Clients, resources: &Resources, prefix: &str) -> anyhow::Result<LocalResources> {
    let table = format!("{prefix}-table");
    create_table(&clients.dynamodb, &table, &resources.table).await?;
    let (dead_letter_queue_url, dlq_arn) =
        create_queue(&clients.sqs, &format!("{prefix}-dlq"), &resources.dead_letter_queue, None).await?;
    let (queue_url, queue_arn) =
        create_queue(&clients.sqs, &format!("{prefix}-deliveries"), &resources.deliveries_queue, Some(&dlq_arn))
            .await?;
    let (slow_queue_url, slow_queue_arn) = create_queue(
        &clients.sqs,
        &format!("{prefix}-slow-deliveries"),
        &resources.slow_deliveries_queue,
        Some(&dlq_arn),
    )
    .await?;
    Ok(LocalResources { table, queue_url, queue_arn, slow_queue_url, slow_queue_arn, dead_letter_queue_url })
}

async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str, spec: &TableSpec) -> anyhow::Result<()> {
    let mut request =
        client.create_table().table_name(name).billing_mode(BillingMode::from(spec.billing_mode.as_str()));
    for def in &spec.attribute_definitions {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(&def.attribute_name)
                .attribute_type(ScalarAttributeType::from(def.attribute_type.as_str()))
                .build()?,
        );
    }
    for key in &spec.key_schema {
        request = request.key_schema(key_element(key)?);
    }
    // On demand (the default parameters), so no throughput of its own.
    for index in &spec.global_secondary_indexes {
        let mut projection =
            Projection::builder().projection_type(ProjectionType::from(index.projection.projection_type.as_str()));
        for name in &index.projection.non_key_attributes {
            projection = projection.non_key_attributes(name);
        }
        let mut gsi = GlobalSecondaryIndex::builder().index_name(&index.index_name).projection(projection.build());
        for key in &index.key_schema {
            gsi = gsi.key_schema(key_element(key)?);
        }
        request = request.global_secondary_indexes(gsi.build()?);
    }
    request
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("CreateTable {name}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(&e)))?;
    if let Some(ttl) = &spec.time_to_live_specification {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder().attribute_name(&ttl.attribute_name).enabled(ttl.enabled).build()?,
            )
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!("UpdateTimeToLive {name}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(&e))
            })?;
    }
    Ok(())
}

fn key_element(key: &crate::template::KeySchemaElement) -> anyhow::Result<KeySchemaElement> {
    Ok(KeySchemaElement::builder()
        .attribute_name(&key.attribute_name)
        .key_type(KeyType::from(key.key_type.as_str()))
        .build()?)
}

/// Creates a queue and returns its URL and ARN.
async fn create_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    spec: &QueueSpec,
    dead_letter_arn: Option<&str>,
) -> anyhow::Result<(String, String)> {
    let mut attributes = HashMap::new();
    if let Some(v) = spec.visibility_timeout {
        attributes.insert(QueueAttributeName::VisibilityTimeout, v.to_string());
    }
    if let Some(v) = spec.message_retention_period {
        attributes.insert(QueueAttributeName::MessageRetentionPeriod, v.to_string());
    }
    if let Some(redrive) = &spec.redrive_policy {
        let arn =
            dead_letter_arn.ok_or_else(|| anyhow::anyhow!("{name} has a redrive policy but no dead-letter queue"))?;
        let policy = serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": redrive.max_receive_count});
        attributes.insert(QueueAttributeName::RedrivePolicy, policy.to_string());
    }
    let out = client
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("CreateQueue {name}: {}", aws_sdk_sqs::error::DisplayErrorContext(&e)))?;
    let url = out.queue_url.ok_or_else(|| anyhow::anyhow!("CreateQueue {name} returned no URL"))?;
    let attrs = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("GetQueueAttributes {name}: {}", aws_sdk_sqs::error::DisplayErrorContext(&e)))?;
    let arn = attrs
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| anyhow::anyhow!("{name} has no ARN"))?;
    Ok((url, arn))
}
