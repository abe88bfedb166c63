//! Every log line of a delivery carries that delivery's ids, even while the records of a batch
//! run concurrently on one thread. In a file of its own: the capturing subscriber is per thread,
//! and tracing caches "nobody listens" per call site process-wide.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use hookline_shared::config::Config;
use hookline_shared::delivery::PolicySettings;
use hookline_tests::{ADMIN_TOKEN, Hookline, Receiver};
use serde_json::{Value, json};

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn concurrent_records_log_under_their_own_tenant_and_message() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    // The test runs on one thread, like a Lambda's batch does.
    let _guard = tracing::subscriber::set_default(subscriber);

    let hookline = Hookline::start().await;
    // The first record's receiver answers at once; the second's takes a second, so the first
    // record logs its attempt while the second is still in flight.
    let fast = Receiver::always(204).await;
    let slow = Receiver::slow(Duration::from_secs(1)).await;
    let (quick_tenant, slow_tenant) = (hookline.create_tenant("quick").await, hookline.create_tenant("slow").await);
    hookline.create_endpoint(&quick_tenant, json!({"url": fast.url})).await;
    hookline.create_endpoint(&slow_tenant, json!({"url": slow.url})).await;
    hookline.publish(&quick_tenant, json!({"event_type": "a.b", "payload": {}})).await;
    hookline.publish(&slow_tenant, json!({"event_type": "a.b", "payload": {}})).await;

    let mut records = Vec::new();
    for _ in 0..20 {
        records.extend(hookline.poller.receive(Duration::from_secs(1)).await.unwrap().records);
        if records.len() >= 2 {
            break;
        }
    }
    assert_eq!(records.len(), 2, "both deliveries were queued");
    let tenant_of = |record: &aws_lambda_events::event::sqs::SqsMessage| -> String {
        let job: Value = serde_json::from_str(record.body.as_deref().unwrap()).unwrap();
        job["tenant_id"].as_str().unwrap().to_owned()
    };
    records.sort_by_key(|r| tenant_of(r) != quick_tenant.id);
    let message_ids: Vec<String> = records.iter().map(|r| r.message_id.clone().unwrap()).collect();

    let config = Config { slow_queue_url: None, ..hookline.resources.config(ADMIN_TOKEN) };
    let handler = deliver::Handler::with_settings(&config, &hookline.clients, PolicySettings::default()).unwrap();
    let mut event = SqsEvent::default();
    event.records = records;
    let response = handler.handle(event).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!((fast.count(), slow.count()), (1, 1));

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let recorded: Vec<Value> = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["fields"]["message"] == "attempt recorded")
        .collect();
    assert_eq!(recorded.len(), 2, "{logs}");
    for (status, tenant, message_id) in
        [("Some(204)", &quick_tenant.id, &message_ids[0]), ("Some(200)", &slow_tenant.id, &message_ids[1])]
    {
        let line = recorded.iter().find(|l| l["fields"]["status"] == status).unwrap();
        assert_eq!(line["span"]["tenant_id"], tenant.as_str(), "{line}");
        assert_eq!(line["span"]["message_id"], message_id.as_str(), "{line}");
    }
}
