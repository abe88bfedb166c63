//! Counts the DynamoDB requests the deliver function makes, by operation and kind of item (the
//! sort key's first segment: `DLV`, `HEALTH`, `INFLIGHT`, …), with an SDK interceptor: the
//! requests still go to the local AWS server.

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use serde_json::Value;

/// One request: its operation (`UpdateItem`) and the kinds of item it names (`HEALTH`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub operation: String,
    pub kinds: Vec<String>,
}

#[derive(Clone, Debug, Default)]
pub struct DynamoCalls(Arc<Mutex<Vec<Call>>>);

impl DynamoCalls {
    /// How many `operation` requests named an item of `kind` so far.
    pub fn count(&self, operation: &str, kind: &str) -> usize {
        let calls = self.0.lock().unwrap();
        calls.iter().filter(|c| c.operation == operation && c.kinds.iter().any(|k| k == kind)).count()
    }

    /// Attaches the counter to a copy of `client`.
    pub fn attach(&self, client: &aws_sdk_dynamodb::Client) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::from_conf(client.config().to_builder().interceptor(self.clone()).build())
    }
}

impl Intercept for DynamoCalls {
    fn name(&self) -> &'static str {
        "HooklineTestDynamoCalls"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let target = request.headers().get("x-amz-target").unwrap_or_default();
        let operation = target.rsplit('.').next().unwrap_or_default().to_owned();
        let json: Value = serde_json::from_slice(request.body().bytes().unwrap_or_default()).unwrap_or(Value::Null);
        let mut keys = vec![&json["Key"], &json["Item"]];
        for item in json["TransactItems"].as_array().into_iter().flatten() {
            for op in item.as_object().into_iter().flat_map(|o| o.values()) {
                keys.extend([&op["Key"], &op["Item"]]);
            }
        }
        let kinds = keys
            .into_iter()
            .filter_map(|key| key["sk"]["S"].as_str())
            .map(|sk| sk.split('#').next().unwrap_or(sk).to_owned())
            .collect();
        self.0.lock().unwrap().push(Call { operation, kinds });
        Ok(())
    }
}
