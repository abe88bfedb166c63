//! The one price table `make bench` costs everything with: us-east-1 list prices, in dollars,
//! with the date they were taken. Change a price here and nowhere else.

use serde_json::{Value, json};

/// When these prices were taken (the on-demand DynamoDB prices are those in force since
/// 2024-11-01, when AWS halved them; the rest were unchanged then).
pub const PRICES_DATE: &str = "2024-11-01";

/// DynamoDB on-demand: per write request unit (1 KB written; 2 per item in a transaction).
pub const DYNAMODB_PER_WRU: f64 = 0.625 / 1e6;
/// DynamoDB on-demand: per read request unit (4 KB read strongly consistent, 8 KB eventually).
pub const DYNAMODB_PER_RRU: f64 = 0.125 / 1e6;
/// DynamoDB provisioned capacity: per write capacity unit-hour (one 1 KB write per second).
pub const DYNAMODB_PER_WCU_HOUR: f64 = 0.000_65;
/// DynamoDB provisioned capacity: per read capacity unit-hour (one 4 KB strong read per second).
pub const DYNAMODB_PER_RCU_HOUR: f64 = 0.000_13;
/// Auto scaling's target utilisation for the provisioned line: capacity is bought at 1/0.7 of
/// what is used.
pub const PROVISIONED_TARGET_UTILISATION: f64 = 0.70;
/// SQS standard: per request, each started 64 KB of a request's payload counting as one.
pub const SQS_PER_REQUEST: f64 = 0.40 / 1e6;
/// Lambda arm64: per invocation.
pub const LAMBDA_PER_INVOCATION: f64 = 0.20 / 1e6;
/// Lambda arm64: per GB-second of billed duration.
pub const LAMBDA_ARM_PER_GB_SECOND: f64 = 0.000_013_333_4;
/// The functions' memory (`template.yaml`: 256 MB).
pub const LAMBDA_MEMORY_GB: f64 = 0.25;
/// API Gateway HTTP API: per request (up to 512 KB).
pub const API_GATEWAY_HTTP_PER_REQUEST: f64 = 1.00 / 1e6;
/// EventBridge: PutEvents, per event (64 KB chunk) published.
pub const EVENTBRIDGE_PUT_EVENTS_PER_EVENT: f64 = 1.00 / 1e6;
/// EventBridge: API destinations, per invocation (each retry is an invocation).
pub const EVENTBRIDGE_API_DESTINATION_PER_INVOCATION: f64 = 0.20 / 1e6;

/// Provisioned WRU price: a WCU-hour carries 3 600 writes at full use, bought at the target.
pub fn provisioned_per_wru() -> f64 {
    DYNAMODB_PER_WCU_HOUR / 3600.0 / PROVISIONED_TARGET_UTILISATION
}

/// Provisioned RRU price, as [`provisioned_per_wru`].
pub fn provisioned_per_rru() -> f64 {
    DYNAMODB_PER_RCU_HOUR / 3600.0 / PROVISIONED_TARGET_UTILISATION
}

/// EventBridge's price per million deliveries of events fanned out by rules to `fan_out`
/// API destinations, with `invocations_per_delivery` invocations each (1 without retries).
pub fn eventbridge_per_million(fan_out: u64, invocations_per_delivery: f64) -> f64 {
    1e6 * (EVENTBRIDGE_PUT_EVENTS_PER_EVENT / fan_out.max(1) as f64
        + EVENTBRIDGE_API_DESTINATION_PER_INVOCATION * invocations_per_delivery)
}

/// The table as JSON, in dollars per million (for `bench/results.json`).
pub fn as_json() -> Value {
    json!({
        "date": PRICES_DATE,
        "region": "us-east-1",
        "dynamodb_on_demand_per_million_wru": DYNAMODB_PER_WRU * 1e6,
        "dynamodb_on_demand_per_million_rru": DYNAMODB_PER_RRU * 1e6,
        "dynamodb_transactional_units_per_item": 2,
        "dynamodb_provisioned_per_wcu_hour": DYNAMODB_PER_WCU_HOUR,
        "dynamodb_provisioned_per_rcu_hour": DYNAMODB_PER_RCU_HOUR,
        "dynamodb_provisioned_target_utilisation": PROVISIONED_TARGET_UTILISATION,
        "sqs_per_million_requests_per_64kb": SQS_PER_REQUEST * 1e6,
        "lambda_arm64_per_million_invocations": LAMBDA_PER_INVOCATION * 1e6,
        "lambda_arm64_per_gb_second": LAMBDA_ARM_PER_GB_SECOND,
        "lambda_memory_gb": LAMBDA_MEMORY_GB,
        "api_gateway_http_per_million": API_GATEWAY_HTTP_PER_REQUEST * 1e6,
        "eventbridge_put_events_per_million": EVENTBRIDGE_PUT_EVENTS_PER_EVENT * 1e6,
        "eventbridge_api_destinations_per_million_invocations": EVENTBRIDGE_API_DESTINATION_PER_INVOCATION * 1e6,
    })
}

/// What Lambda bills for an invocation that ran `wall`: its wall time rounded up to the next
/// millisecond.
pub fn lambda_billed(wall: std::time::Duration) -> std::time::Duration {
    std::time::Duration::from_millis(u64::try_from(wall.as_micros().div_ceil(1000)).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eventbridge_matches_the_issue_figures() {
        assert!((eventbridge_per_million(1, 1.0) - 1.20).abs() < 1e-9);
        assert!((eventbridge_per_million(3, 1.0) - 0.5333).abs() < 1e-3);
    }

    #[test]
    fn lambda_bills_each_invocation_rounded_up_to_the_millisecond() {
        use std::time::Duration;
        assert_eq!(lambda_billed(Duration::from_micros(1)), Duration::from_millis(1));
        assert_eq!(lambda_billed(Duration::from_micros(12_000)), Duration::from_millis(12));
        assert_eq!(lambda_billed(Duration::from_micros(12_001)), Duration::from_millis(13));
        assert_eq!(lambda_billed(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn provisioned_units_cost_less_than_on_demand_at_seventy_percent() {
        assert!((provisioned_per_wru() * 1e6 - 0.2579).abs() < 1e-3);
        assert!(provisioned_per_wru() < DYNAMODB_PER_WRU);
        assert!(provisioned_per_rru() < DYNAMODB_PER_RRU);
    }
}
