//! Secrets, keys, credentials and payloads never reach the logs. In a file of its own: the
//! capturing subscriber is per thread, and tracing caches "nobody listens" per call site
//! process-wide, so other tests running beside it would hide their events from it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::io::Write;
use std::sync::{Arc, Mutex};

use hookline_tests::{ADMIN_TOKEN, Hookline, Receiver};
use serde_json::json;

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
async fn secrets_keys_and_credentials_never_reach_the_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        // What a deployment logs: template.yaml sets RUST_LOG=info. (At TRACE the AWS SDK itself
        // prints request bodies; that level is never on in production.)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    // The test runs on one thread, the servers it starts included, so this catches their logs.
    let _guard = tracing::subscriber::set_default(subscriber);

    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::answering(&[500]).await;
    let endpoint = hookline
        .create_endpoint(
            &tenant,
            json!({"url": receiver.url, "auth": {"type": "bearer", "token": "tok-logged-never"},
                   "retry": {"schedule_seconds": [1]}}),
        )
        .await;
    let secret = endpoint["secret"].as_str().unwrap().to_owned();
    hookline.publish(&tenant, json!({"event_type": "a.b", "payload": {"card": "4111-payload-secret"}})).await;
    hookline.deliver_until(|| async { receiver.count() >= 2 }).await;
    let path = format!("/v1/endpoints/{}/secret", endpoint["id"].as_str().unwrap());
    hookline.get(&path, &tenant.key).await;
    hookline.post(&format!("{path}/rotate"), &tenant.key, json!({})).await;
    hookline.post(&format!("/v1/tenants/{}/api-key/rotate", tenant.id), ADMIN_TOKEN, json!({})).await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("attempt recorded"), "the logs were captured");
    for secret in
        [&secret["whsec_".len()..], "tok-logged-never", &tenant.key["hk_".len()..], ADMIN_TOKEN, "4111-payload-secret"]
    {
        assert!(!logs.contains(secret), "`{secret}` appears in the logs");
    }
}
