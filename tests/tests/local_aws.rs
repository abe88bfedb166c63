//! The local resources are the template's resources, and the poller behaves like Lambda's SQS
//! event source mapping.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::path::Path;
use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse};
use aws_sdk_dynamodb::types::TimeToLiveStatus;
use aws_sdk_sqs::types::QueueAttributeName;
use hookline_local::template::TEMPLATE;
use hookline_tests::Hookline;
use serde_norway::Value;

fn template() -> Value {
    serde_norway::from_str(TEMPLATE).unwrap()
}

fn property<'a>(template: &'a Value, resource: &str, path: &[&str]) -> &'a Value {
    let mut value = &template["Resources"][resource]["Properties"];
    for key in path {
        value = &value[*key];
    }
    assert!(!value.is_null(), "template.yaml has no {resource}.{}", path.join("."));
    value
}

/// An index's name, key schema (attribute, key type) and projection type.
type IndexShape = (String, Vec<(String, String)>, String);

#[tokio::test]
async fn local_table_and_queues_match_the_template() {
    let hookline = Hookline::start().await;
    let template = template();

    let table = hookline.clients.dynamodb.describe_table().table_name(&hookline.resources.table).send().await.unwrap();
    let table = table.table.unwrap();
    let keys: Vec<(String, String)> =
        table.key_schema().iter().map(|k| (k.attribute_name().to_owned(), k.key_type().as_str().to_owned())).collect();
    let expected: Vec<(String, String)> = property(&template, "Table", &["KeySchema"])
        .as_sequence()
        .unwrap()
        .iter()
        .map(|k| (k["AttributeName"].as_str().unwrap().to_owned(), k["KeyType"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(keys, expected);
    // The sparse index of failed attempts: same names, keys and projection as the template's.
    let indexes: Vec<IndexShape> = table
        .global_secondary_indexes()
        .iter()
        .map(|index| {
            let keys = index
                .key_schema()
                .iter()
                .map(|k| (k.attribute_name().to_owned(), k.key_type().as_str().to_owned()))
                .collect();
            let projection = index.projection().and_then(|p| p.projection_type()).map(|p| p.as_str().to_owned());
            (index.index_name().unwrap_or_default().to_owned(), keys, projection.unwrap_or_default())
        })
        .collect();
    let expected: Vec<IndexShape> = property(&template, "Table", &["GlobalSecondaryIndexes"])
        .as_sequence()
        .unwrap()
        .iter()
        .map(|index| {
            let keys = index["KeySchema"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|k| (k["AttributeName"].as_str().unwrap().to_owned(), k["KeyType"].as_str().unwrap().to_owned()))
                .collect();
            let projection = index["Projection"]["ProjectionType"].as_str().unwrap().to_owned();
            (index["IndexName"].as_str().unwrap().to_owned(), keys, projection)
        })
        .collect();
    assert_eq!(indexes, expected);
    assert_eq!(indexes[0].0, hookline_shared::store::FAILED_ATTEMPTS_INDEX);
    let mut defined: Vec<(String, String)> = table
        .attribute_definitions()
        .iter()
        .map(|d| (d.attribute_name().to_owned(), d.attribute_type().as_str().to_owned()))
        .collect();
    defined.sort();
    let mut expected: Vec<(String, String)> = property(&template, "Table", &["AttributeDefinitions"])
        .as_sequence()
        .unwrap()
        .iter()
        .map(|d| (d["AttributeName"].as_str().unwrap().to_owned(), d["AttributeType"].as_str().unwrap().to_owned()))
        .collect();
    expected.sort();
    assert_eq!(defined, expected);
    let billing = table.billing_mode_summary().and_then(|b| b.billing_mode()).map(|m| m.as_str().to_owned());
    // `!If [ProvisionedTable, PROVISIONED, PAY_PER_REQUEST]`: the default parameters (on-demand)
    // take the last branch, which is what a local table is.
    let billing_property = property(&template, "Table", &["BillingMode"]);
    let expected_billing = match billing_property {
        serde_norway::Value::Tagged(tagged) if tagged.tag == "!If" => {
            tagged.value.as_sequence().and_then(|branches| branches.last()).and_then(|v| v.as_str())
        }
        other => other.as_str(),
    };
    assert_eq!(billing.as_deref(), expected_billing);
    assert_eq!(expected_billing, Some("PAY_PER_REQUEST"), "on-demand is the default");
    let ttl = hookline
        .clients
        .dynamodb
        .describe_time_to_live()
        .table_name(&hookline.resources.table)
        .send()
        .await
        .unwrap()
        .time_to_live_description
        .unwrap();
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
    assert_eq!(
        ttl.attribute_name(),
        property(&template, "Table", &["TimeToLiveSpecification", "AttributeName"]).as_str()
    );

    for (queue, url) in [
        ("DeliveriesQueue", &hookline.resources.queue_url),
        ("SlowDeliveriesQueue", &hookline.resources.slow_queue_url),
    ] {
        let attrs = hookline
            .clients
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap();
        let number = |v: &Value| v.as_u64().unwrap().to_string();
        assert_eq!(
            attrs[&QueueAttributeName::VisibilityTimeout],
            number(property(&template, queue, &["VisibilityTimeout"]))
        );
        assert_eq!(
            attrs[&QueueAttributeName::MessageRetentionPeriod],
            number(property(&template, queue, &["MessageRetentionPeriod"]))
        );
        let redrive: serde_json::Value = serde_json::from_str(&attrs[&QueueAttributeName::RedrivePolicy]).unwrap();
        let max_receives = property(&template, queue, &["RedrivePolicy", "maxReceiveCount"]).as_u64();
        assert_eq!(redrive["maxReceiveCount"].as_u64(), max_receives, "{queue}");
        assert!(redrive["deadLetterTargetArn"].as_str().unwrap().ends_with("-dlq"), "{queue}");
    }
}

#[test]
fn every_function_in_the_template_is_a_workspace_binary() {
    let template = template();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut binaries = Vec::new();
    for (_, resource) in template["Resources"].as_mapping().unwrap() {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        assert_eq!(resource["Metadata"]["BuildMethod"], "rust-cargolambda");
        assert_eq!(template["Globals"]["Function"]["Runtime"], "provided.al2023");
        let binary = resource["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap();
        let manifest = std::fs::read_to_string(root.join("functions").join(binary).join("Cargo.toml")).unwrap();
        assert!(manifest.contains(&format!("name = \"{binary}\"")), "functions/{binary} is not the package `{binary}`");
        assert!(root.join("functions").join(binary).join("src/main.rs").exists());
        binaries.push(binary.to_owned());
    }
    binaries.sort();
    assert_eq!(binaries, ["api", "deliver", "ingest"]);
}

#[test]
fn the_template_never_turns_on_local_delivery_to_loopback() {
    // Production stays public-only: neither the older flag nor the egress mode is set.
    assert!(!TEMPLATE.contains("HOOKLINE_DEV_ALLOW_LOOPBACK"));
    assert!(!TEMPLATE.contains("HOOKLINE_EGRESS"));
}

/// Plain http endpoints are a deployment's choice, off unless the operator turns it on, and
/// the api function (which checks endpoint URLs) reads it in the form `Config` understands.
#[test]
fn http_endpoints_are_off_unless_the_deployment_turns_them_on() {
    let template = template();
    let parameter = &template["Parameters"]["AllowHttpEndpoints"];
    assert_eq!(parameter["Default"].as_str(), Some("false"));
    let allowed: Vec<&str> =
        parameter["AllowedValues"].as_sequence().unwrap().iter().filter_map(|v| v.as_str()).collect();
    assert_eq!(allowed, ["false", "true"]);
    let variables = &template["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(variables["HOOKLINE_ALLOW_HTTP"], serde_norway::from_str::<Value>("!Ref AllowHttpEndpoints").unwrap());
    assert!(template["Globals"]["Function"]["Environment"]["Variables"]["HOOKLINE_ALLOW_HTTP"].is_null());
    for value in allowed {
        let config = hookline_shared::config::Config::from_lookup(|name| match name {
            "HOOKLINE_TABLE" | "HOOKLINE_QUEUE_URL" => Some("x".to_owned()),
            "HOOKLINE_ALLOW_HTTP" => Some(value.to_owned()),
            _ => None,
        })
        .unwrap();
        assert_eq!(config.allow_http, value == "true");
    }
}

/// The dashboard's framing rule reaches the api function from a parameter whose default and
/// allowed pattern match what `Config` accepts, and the api function's catch-all route serves
/// `/dashboard`.
#[test]
fn the_dashboard_frame_ancestors_come_from_a_checked_parameter() {
    use hookline_shared::config::FrameAncestors;
    let template = template();
    let parameter = &template["Parameters"]["DashboardFrameAncestors"];
    let default = parameter["Default"].as_str().unwrap();
    assert_eq!(FrameAncestors::parse(default).unwrap(), FrameAncestors::default());
    let variable =
        property(&template, "ApiFunction", &["Environment", "Variables", "HOOKLINE_DASHBOARD_FRAME_ANCESTORS"]);
    let referenced = match variable {
        Value::Tagged(tagged) if tagged.tag == "!Ref" => tagged.value.as_str(),
        other => other["Ref"].as_str(),
    };
    assert_eq!(referenced, Some("DashboardFrameAncestors"), "{variable:?}");
    let pattern = parameter["AllowedPattern"].as_str().unwrap();
    assert!(!pattern.contains(';'), "the pattern must not admit another CSP directive");
    let route = property(&template, "ApiFunction", &["Events", "Proxy", "Properties"]);
    assert_eq!((route["Method"].as_str(), route["Path"].as_str()), (Some("ANY"), Some("/{proxy+}")));
}

#[tokio::test]
async fn the_poller_passes_receive_counts_and_keeps_only_reported_failures() {
    let hookline = Hookline::start().await;
    let sqs = &hookline.clients.sqs;
    let url = &hookline.resources.queue_url;
    for body in ["one", "two"] {
        sqs.send_message().queue_url(url).message_body(body).send().await.unwrap();
    }
    let first = hookline.poller.receive(Duration::from_secs(1)).await.unwrap();
    assert_eq!(first.records.len(), 2);
    for record in &first.records {
        assert_eq!(record.attributes.get("ApproximateReceiveCount").map(String::as_str), Some("1"));
        assert_eq!(record.event_source.as_deref(), Some("aws:sqs"));
        assert_eq!(record.event_source_arn.as_deref(), Some(hookline.resources.queue_arn.as_str()));
    }
    // Report "two" as failed and make it visible again at once; "one" is deleted.
    let two = first.records.iter().find(|r| r.body.as_deref() == Some("two")).unwrap();
    sqs.change_message_visibility()
        .queue_url(url)
        .receipt_handle(two.receipt_handle.clone().unwrap())
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let mut failure = BatchItemFailure::default();
    failure.item_identifier = two.message_id.clone().unwrap();
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures.push(failure);
    hookline.poller.acknowledge(&first, &response).await.unwrap();

    let second = hookline.poller.receive(Duration::from_secs(1)).await.unwrap();
    let bodies: Vec<_> = second.records.iter().map(|r| r.body.clone().unwrap()).collect();
    assert_eq!(bodies, ["two"]);
    assert_eq!(second.records[0].attributes["ApproximateReceiveCount"], "2");
    hookline.poller.acknowledge(&second, &SqsBatchResponse::default()).await.unwrap();
    assert_eq!(hookline.queued_messages().await, 0);
}

/// An in-flight delivery must never be handed to a second function while the first still
/// runs: the function's timeout bounds a batch (requests are sent concurrently, each within
/// the largest per-endpoint timeout, plus a short in-process rate-limit wait and the DynamoDB
/// calls), and the queue's visibility timeout is at least six times the function's, as AWS
/// advises for SQS event sources.
#[test]
fn visibility_timeout_outlasts_any_in_flight_delivery() {
    let template = template();
    let function = &template["Resources"]["DeliverFunction"]["Properties"];
    let timeout = function["Timeout"].as_u64().unwrap();
    let policy = hookline_shared::delivery::PolicySettings::default();
    let request = u64::from(hookline_shared::domain::MAX_TIMEOUT_MS) / 1000;
    let dynamodb_margin = 15;
    assert!(
        timeout >= request + policy.rate_wait_in_process.as_secs() + dynamodb_margin,
        "DeliverFunction's Timeout ({timeout} s) is too short for a {request} s request"
    );
    // Both lanes' queues feed the same function.
    for (event, queue) in [("Deliveries", "DeliveriesQueue"), ("SlowDeliveries", "SlowDeliveriesQueue")] {
        let visibility = property(&template, queue, &["VisibilityTimeout"]).as_u64().unwrap();
        let batch = function["Events"][event]["Properties"]["BatchSize"].as_u64().unwrap();
        assert!(batch <= deliver::BATCH_CONCURRENCY as u64, "a batch is sent all at once");
        assert!(visibility >= 6 * timeout, "{queue}: VisibilityTimeout {visibility} s < 6 × {timeout} s");
    }
}

/// An in-flight lease must outlive any attempt that holds it (else the cap lets one more in
/// while it still runs), and no longer than needed: a killed worker's lease holds a place
/// until it runs out. The function's timeout is exactly that bound.
#[test]
fn an_in_flight_lease_lasts_as_long_as_the_deliver_function_may_run() {
    let template = template();
    let timeout = template["Resources"]["DeliverFunction"]["Properties"]["Timeout"].as_u64().unwrap();
    let policy = hookline_shared::delivery::PolicySettings::default();
    assert_eq!(policy.in_flight_lease.as_secs(), timeout);
}

/// The slow lane exists to hold few function instances: its event source mapping runs fewer
/// batches at once than the main lane's, and the function is told its queue.
#[test]
fn the_slow_lane_has_its_own_smaller_event_source_and_the_function_knows_its_queue() {
    let template = template();
    let function = &template["Resources"]["DeliverFunction"]["Properties"];
    let concurrency =
        |event: &str| function["Events"][event]["Properties"]["ScalingConfig"]["MaximumConcurrency"].as_u64().unwrap();
    assert!(concurrency("SlowDeliveries") < concurrency("Deliveries"));
    assert_eq!(
        function["Events"]["SlowDeliveries"]["Properties"]["Queue"],
        serde_norway::from_str::<Value>("!GetAtt SlowDeliveriesQueue.Arn").unwrap()
    );
    assert_eq!(
        function["Environment"]["Variables"]["HOOKLINE_SLOW_QUEUE_URL"],
        serde_norway::from_str::<Value>("!Ref SlowDeliveriesQueue").unwrap()
    );
}
