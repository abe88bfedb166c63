//! CloudWatch metrics in Embedded Metric Format: a JSON log line that CloudWatch turns into
//! metrics, so counting costs no API call. The deliver function collects counts while it
//! works a batch and prints one line per batch.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde_json::{Value, json};

pub const NAMESPACE: &str = "Hookline";

static EMF_OFF: AtomicBool = AtomicBool::new(false);

/// Prints one EMF line to stdout, where Lambda sends it to CloudWatch Logs.
pub fn emit(emf: &Value) {
    if !EMF_OFF.load(Ordering::Relaxed) {
        println!("{emf}");
    }
}

/// Stops [`emit`] printing, for local tools whose stdout is a report (there is no CloudWatch
/// to read the lines there).
pub fn silence() {
    EMF_OFF.store(true, Ordering::Relaxed);
}

/// Counters for one batch. Shared by the batch's concurrent deliveries.
#[derive(Debug, Default)]
pub struct DeliveryMetrics {
    succeeded: AtomicU64,
    failed: AtomicU64,
    retried: AtomicU64,
    throttled: AtomicU64,
    deferred: AtomicU64,
    moved_to_slow_lane: AtomicU64,
    latencies_ms: Mutex<Vec<u64>>,
}

/// What one message came to, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    Succeeded {
        latency_ms: u64,
    },
    /// Failed for good (policy spent or a permanent status).
    Failed {
        latency_ms: u64,
    },
    /// Failed, and another attempt is scheduled.
    Retried {
        latency_ms: u64,
    },
    /// Waiting for a rate-limit slot.
    Throttled,
    /// Held back by an open circuit or the endpoint's in-flight cap.
    Deferred,
    /// Sent on to the slow lane (the endpoint's recent attempts were slow).
    MovedToSlowLane,
}

impl DeliveryMetrics {
    pub fn count(&self, what: Counted) {
        let (counter, latency) = match what {
            Counted::Succeeded { latency_ms } => (&self.succeeded, Some(latency_ms)),
            Counted::Failed { latency_ms } => (&self.failed, Some(latency_ms)),
            Counted::Retried { latency_ms } => (&self.retried, Some(latency_ms)),
            Counted::Throttled => (&self.throttled, None),
            Counted::Deferred => (&self.deferred, None),
            Counted::MovedToSlowLane => (&self.moved_to_slow_lane, None),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if let (Some(ms), Ok(mut all)) = (latency, self.latencies_ms.lock()) {
            all.push(ms);
        }
    }

    /// The EMF document for what was counted since the last call, and resets the counters.
    /// `None` when nothing was counted.
    pub fn take_emf(&self, function: &str, timestamp_ms: i64) -> Option<Value> {
        let take = |c: &AtomicU64| c.swap(0, Ordering::Relaxed);
        let counts = [
            ("DeliveriesSucceeded", take(&self.succeeded)),
            ("DeliveriesFailed", take(&self.failed)),
            ("DeliveriesRetried", take(&self.retried)),
            ("DeliveriesThrottled", take(&self.throttled)),
            ("DeliveriesDeferred", take(&self.deferred)),
            ("DeliveriesMovedToSlowLane", take(&self.moved_to_slow_lane)),
        ];
        let latencies = self.latencies_ms.lock().map(|mut l| std::mem::take(&mut *l)).unwrap_or_default();
        if counts.iter().all(|(_, n)| *n == 0) && latencies.is_empty() {
            return None;
        }
        let mut definitions: Vec<Value> =
            counts.iter().map(|(name, _)| json!({"Name": name, "Unit": "Count"})).collect();
        let mut doc = json!({
            "_aws": {"Timestamp": timestamp_ms, "CloudWatchMetrics": []},
            "Function": function,
        });
        for (name, n) in counts {
            doc[name] = json!(n);
        }
        if !latencies.is_empty() {
            definitions.push(json!({"Name": "AttemptLatency", "Unit": "Milliseconds"}));
            doc["AttemptLatency"] = json!(latencies);
        }
        doc["_aws"]["CloudWatchMetrics"] =
            json!([{"Namespace": NAMESPACE, "Dimensions": [["Function"]], "Metrics": definitions}]);
        Some(doc)
    }
}

/// The EMF line for one ingested event (printed by the ingest function).
pub fn events_ingested_emf(deliveries: usize, timestamp_ms: i64) -> Value {
    json!({
        "_aws": {"Timestamp": timestamp_ms, "CloudWatchMetrics": [{
            "Namespace": NAMESPACE,
            "Dimensions": [["Function"]],
            "Metrics": [{"Name": "EventsIngested", "Unit": "Count"}, {"Name": "DeliveriesQueued", "Unit": "Count"}],
        }]},
        "Function": "ingest",
        "EventsIngested": 1,
        "DeliveriesQueued": deliveries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_batch_becomes_one_emf_document_then_resets() {
        let metrics = DeliveryMetrics::default();
        assert!(metrics.take_emf("deliver", 1).is_none(), "nothing to report");
        metrics.count(Counted::Succeeded { latency_ms: 12 });
        metrics.count(Counted::Succeeded { latency_ms: 30 });
        metrics.count(Counted::Retried { latency_ms: 5 });
        metrics.count(Counted::Throttled);
        let doc = metrics.take_emf("deliver", 1_700_000_000_000).unwrap();
        assert_eq!(doc["DeliveriesSucceeded"], 2);
        assert_eq!(doc["DeliveriesRetried"], 1);
        assert_eq!(doc["DeliveriesThrottled"], 1);
        assert_eq!(doc["DeliveriesFailed"], 0);
        assert_eq!(doc["AttemptLatency"], json!([12, 30, 5]));
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000_i64);
        let defs = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array().unwrap();
        // Every metric named in the directive is a member of the document.
        for def in defs {
            assert!(doc.get(def["Name"].as_str().unwrap()).is_some(), "{def}");
        }
        assert!(metrics.take_emf("deliver", 2).is_none(), "counters reset");
    }
}
