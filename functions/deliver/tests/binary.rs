//! The deliver binary (`src/main.rs`) as Lambda runs it: the template's environment, an SQS
//! event from the local Runtime API, the partial batch response back.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::Duration;

use hookline_local::template::DELIVER_FUNCTION;
use hookline_tests::lambda::{FUNCTION_PATIENCE, spawn, start, template_environment};
use hookline_tests::{Hookline, Receiver};
use serde_json::{Value, json};

const BINARY: &str = env!("CARGO_BIN_EXE_deliver");
const MALFORMED: &str = r#"{"tenant_id": 42, "note": "not a delivery"}"#;

/// The template's environment plus local development's loopback flag (the receivers are on
/// 127.0.0.1; `template.yaml` never sets it).
fn environment(hookline: &Hookline) -> std::collections::BTreeMap<String, String> {
    let mut env = template_environment(hookline, DELIVER_FUNCTION);
    env.insert("HOOKLINE_DEV_ALLOW_LOOPBACK".into(), "1".into());
    env
}

#[tokio::test]
async fn a_batch_acknowledges_a_round_dead_letters_the_malformed_record_and_keeps_a_failed_retry() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("binary").await;
    let (ok, failing) = (Receiver::always(200).await, Receiver::always(500).await);
    let mut endpoint_of_receiver = Vec::new();
    for receiver in [&ok, &failing] {
        let settings =
            json!({"url": receiver.url, "event_types": ["order.created"], "retry": {"schedule_seconds": [1, 1]}});
        let created = hookline.create_endpoint(&tenant, settings).await;
        endpoint_of_receiver.push(created["id"].as_str().unwrap().to_owned());
    }
    hookline.publish(&tenant, json!({"event_type": "order.created", "payload": {"id": 1}})).await;
    hookline
        .clients
        .sqs
        .send_message()
        .queue_url(&hookline.resources.queue_url)
        .message_body(MALFORMED)
        .send()
        .await
        .unwrap();

    // What Lambda's event source mapping would hand the function: the event's first round
    // (one message for both endpoints) and the malformed message.
    let mut records = Vec::new();
    while records.len() < 2 {
        records.extend(hookline.poller.receive(Duration::from_secs(1)).await.unwrap().records);
    }
    let mut function = start(BINARY, "deliver", &environment(&hookline)).await;
    let response = function.invoke(json!({ "Records": records }), FUNCTION_PATIENCE).await.unwrap();
    assert_eq!(response, json!({"batchItemFailures": []}), "the round and the malformed record are let go");
    assert_eq!((ok.count(), failing.count()), (1, 1), "each delivery was sent once");

    // The failed delivery goes on as its own message, a second before its retry.
    let mut retry = Vec::new();
    while retry.is_empty() {
        retry.extend(hookline.poller.receive(Duration::from_secs(2)).await.unwrap().records);
    }
    assert_eq!(retry.len(), 1);
    assert!(retry[0].body.as_deref().unwrap().contains(&endpoint_of_receiver[1]), "{retry:?}");
    let failing_id = retry[0].message_id.clone().unwrap();
    let response = function.invoke(json!({ "Records": retry }), FUNCTION_PATIENCE).await.unwrap();
    function.stop().await;
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": failing_id}]}),
        "the retry that failed again stays for its next attempt"
    );
    assert_eq!((ok.count(), failing.count()), (1, 2));

    let dead = hookline
        .clients
        .sqs
        .receive_message()
        .queue_url(&hookline.resources.dead_letter_queue_url)
        .message_attribute_names("All")
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(dead.len(), 1, "the malformed message, and only it, is on the DLQ");
    assert_eq!(dead[0].body.as_deref(), Some(MALFORMED), "with its original body");
    let reason = dead[0].message_attributes.as_ref().and_then(|a| a.get("reason")).and_then(|v| v.string_value());
    assert!(reason.is_some_and(|r| r.starts_with("not a delivery message")), "and the reason: {reason:?}");
}

#[tokio::test]
async fn refuses_to_start_without_the_dead_letter_queue_or_a_valid_encryption_key() {
    let hookline = Hookline::start().await;
    let bad_key = "bm90IGEga2V5".to_owned();
    for (variable, value) in [
        ("HOOKLINE_DLQ_URL", None),
        ("HOOKLINE_ENCRYPTION_KEY", None),
        ("HOOKLINE_ENCRYPTION_KEY", Some(bad_key.clone())),
    ] {
        let mut env = environment(&hookline);
        env.remove(variable);
        env.extend(value.map(|v| (variable.to_owned(), v)));
        let function = spawn(BINARY, "deliver", &env).await;
        let (status, log) = function.exit(FUNCTION_PATIENCE).await.unwrap();
        assert!(!status.success(), "started without a good {variable}: {log}");
        let named = if variable == "HOOKLINE_DLQ_URL" { variable } else { "InvalidKey" };
        assert!(log.contains(named), "the refusal names {named}: {log}");
        assert!(!log.contains(&bad_key), "the key is not logged");
    }
}

/// The unparsable record's original message id is reported when the DLQ refuses it, so it is
/// not lost: here the DLQ URL names a queue that does not exist.
#[tokio::test]
async fn a_malformed_record_stays_when_the_dead_letter_queue_refuses_it() {
    let hookline = Hookline::start().await;
    let mut env = environment(&hookline);
    env.insert("HOOKLINE_DLQ_URL".into(), format!("{}-missing", hookline.resources.dead_letter_queue_url));
    let event = json!({"Records": [{
        "messageId": "m-1",
        "receiptHandle": "r-1",
        "body": "not json",
        "eventSource": "aws:sqs",
        "eventSourceARN": hookline.resources.queue_arn,
        "attributes": {},
        "messageAttributes": {}
    }]});
    let mut function = start(BINARY, "deliver", &env).await;
    let response: Value = function.invoke(event, FUNCTION_PATIENCE).await.unwrap();
    function.stop().await;
    assert_eq!(response, json!({"batchItemFailures": [{"itemIdentifier": "m-1"}]}));
}
