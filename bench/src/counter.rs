//! An SDK interceptor that counts the AWS requests Hookline's code makes, by operation, and
//! estimates what each one is billed as: SQS 64 KB request chunks and DynamoDB read and write
//! request units, from the request and response bodies (both JSON protocols).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use serde_json::Value;

/// What one operation cost so far.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct OpCount {
    /// HTTP requests sent (each retry attempt is billed, so each attempt counts).
    pub requests: u64,
    /// SQS billing units: one per started 64 KB of request payload.
    pub sqs_chunks: u64,
    /// DynamoDB on-demand write request units.
    pub wru: f64,
    /// DynamoDB on-demand read request units.
    pub rru: f64,
    /// DynamoDB requests by the kind of item they name: the sort key's first segment (`DLV`,
    /// `EVT`, `EP`, `TEN`, …; several joined by `+` for batches and transactions).
    pub items: BTreeMap<String, u64>,
}

impl OpCount {
    fn minus(&self, earlier: &Self) -> Self {
        Self {
            requests: self.requests - earlier.requests,
            sqs_chunks: self.sqs_chunks - earlier.sqs_chunks,
            wru: self.wru - earlier.wru,
            rru: self.rru - earlier.rru,
            items: self
                .items
                .iter()
                .map(|(k, v)| (k.clone(), v - earlier.items.get(k).copied().unwrap_or(0)))
                .filter(|(_, v)| *v > 0)
                .collect(),
        }
    }

    pub fn add(&mut self, other: &Self) {
        self.requests += other.requests;
        self.sqs_chunks += other.sqs_chunks;
        self.wru += other.wru;
        self.rru += other.rru;
        for (k, v) in &other.items {
            *self.items.entry(k.clone()).or_default() += v;
        }
    }
}

/// Counts by `(service, operation)`, e.g. `("DynamoDB", "GetItem")`.
pub type Counts = BTreeMap<(String, String), OpCount>;

/// `b - a`, operation by operation.
pub fn difference(b: &Counts, a: &Counts) -> Counts {
    b.iter()
        .map(|(key, count)| (key.clone(), count.minus(&a.get(key).cloned().unwrap_or_default())))
        .filter(|(_, count)| count.requests > 0)
        .collect()
}

#[derive(Debug, Default, Clone)]
pub struct RequestCounter {
    counts: Arc<Mutex<Counts>>,
}

/// What the request said that the response's cost depends on, kept for the response hook.
#[derive(Debug, Clone)]
struct ReadConsistency {
    strongly_consistent: bool,
}

impl Storable for ReadConsistency {
    type Storer = StoreReplace<Self>;
}

impl RequestCounter {
    pub fn snapshot(&self) -> Counts {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn add(&self, metadata: &Metadata, f: impl FnOnce(&mut OpCount)) {
        if let Ok(mut counts) = self.counts.lock() {
            f(counts.entry((metadata.service().to_owned(), metadata.name().to_owned())).or_default());
        }
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "HooklineBenchRequestCounter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(metadata) = cfg.load::<Metadata>().cloned() else { return Ok(()) };
        let body = context.request().body().bytes().unwrap_or_default();
        let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let strongly_consistent = json.get("ConsistentRead").and_then(Value::as_bool).unwrap_or(false);
        cfg.interceptor_state().store_put(ReadConsistency { strongly_consistent });
        let chunks = if metadata.service() == "SQS" { body.len().div_ceil(64 * 1024).max(1) as u64 } else { 0 };
        let dynamodb = metadata.service() == "DynamoDB";
        let wru = if dynamodb { write_units(metadata.name(), &json) } else { 0.0 };
        let kind = dynamodb.then(|| item_kinds(&json));
        self.add(&metadata, |c| {
            c.requests += 1;
            c.sqs_chunks += chunks;
            c.wru += wru;
            if let Some(kind) = kind {
                *c.items.entry(kind).or_default() += 1;
            }
        });
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(metadata) = cfg.load::<Metadata>().cloned() else { return Ok(()) };
        if metadata.service() != "DynamoDB" || !context.response().status().is_success() {
            return Ok(());
        }
        let strongly_consistent = cfg.load::<ReadConsistency>().is_some_and(|r| r.strongly_consistent);
        let body = context.response().body().bytes().unwrap_or_default();
        let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let rru = read_units(metadata.name(), &json, strongly_consistent);
        if rru > 0.0 {
            self.add(&metadata, |c| c.rru += rru);
        }
        Ok(())
    }
}

/// The kinds of item a DynamoDB request names: the first segment of each sort key (or of a
/// `begins_with` prefix in a query), de-duplicated and joined by `+`.
fn item_kinds(request: &Value) -> String {
    let mut kinds: Vec<String> = Vec::new();
    let segment = |v: &Value| v.get("S").and_then(Value::as_str).map(|s| s.split('#').next().unwrap_or(s).to_owned());
    let mut from_key = |key: &Value| {
        if let Some(kind) = key.get("sk").and_then(segment) {
            kinds.push(kind);
        }
    };
    from_key(&request["Key"]);
    from_key(&request["Item"]);
    for item in request["TransactItems"].as_array().into_iter().flatten() {
        for op in item.as_object().into_iter().flat_map(|o| o.values()) {
            from_key(&op["Key"]);
            from_key(&op["Item"]);
        }
    }
    for write in
        request["RequestItems"].as_object().into_iter().flat_map(|t| t.values()).filter_map(Value::as_array).flatten()
    {
        from_key(&write["PutRequest"]["Item"]);
        from_key(&write["DeleteRequest"]["Key"]);
    }
    if let Some(prefix) = request["ExpressionAttributeValues"][":prefix"].get("S").and_then(Value::as_str) {
        kinds.push(prefix.split('#').next().unwrap_or(prefix).to_owned());
    }
    let count = kinds.len();
    kinds.sort();
    kinds.dedup();
    match (kinds.len(), count) {
        (0, _) => "?".to_owned(),
        (1, n) if n > 1 => format!("{}×{n}", kinds[0]),
        _ => kinds.join("+"),
    }
}

/// Write request units of one DynamoDB request: one per started KB of each item written,
/// doubled in a transaction. An update, delete or condition check is taken to touch an item of
/// at most 1 KB (the request does not say how large the stored item is).
fn write_units(operation: &str, request: &Value) -> f64 {
    let put_units = |item: &Value| item_size(item).div_ceil(1024).max(1) as f64;
    match operation {
        "PutItem" => put_units(&request["Item"]),
        "UpdateItem" | "DeleteItem" => 1.0,
        "BatchWriteItem" => request["RequestItems"]
            .as_object()
            .into_iter()
            .flat_map(|tables| tables.values())
            .filter_map(Value::as_array)
            .flatten()
            .map(|write| match write.get("PutRequest") {
                Some(put) => put_units(&put["Item"]),
                None => 1.0,
            })
            .sum(),
        "TransactWriteItems" => request["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|item| {
                2.0 * match item.get("Put") {
                    Some(put) => put_units(&put["Item"]),
                    None => 1.0,
                }
            })
            .sum(),
        _ => 0.0,
    }
}

/// Read request units of one DynamoDB response: one per started 4 KB read, halved for an
/// eventually consistent read, doubled in a transaction; a read that finds nothing still costs
/// the minimum.
fn read_units(operation: &str, response: &Value, strongly_consistent: bool) -> f64 {
    let factor = if strongly_consistent { 1.0 } else { 0.5 };
    let units = |bytes: usize| bytes.div_ceil(4096).max(1) as f64;
    match operation {
        "GetItem" => factor * units(item_size(&response["Item"])),
        "Query" | "Scan" => {
            let bytes: usize = response["Items"].as_array().into_iter().flatten().map(item_size).sum();
            factor * units(bytes)
        }
        "BatchGetItem" => {
            let items =
                response["Responses"].as_object().into_iter().flat_map(|t| t.values()).filter_map(Value::as_array);
            factor * items.flatten().map(|item| units(item_size(item))).sum::<f64>()
        }
        "TransactGetItems" => {
            2.0 * response["Responses"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| units(item_size(&r["Item"])))
                .sum::<f64>()
        }
        _ => 0.0,
    }
}

/// DynamoDB's size of an item in its JSON wire form: attribute names plus values.
fn item_size(item: &Value) -> usize {
    item.as_object().map_or(0, |attrs| attrs.iter().map(|(name, value)| name.len() + value_size(value)).sum())
}

fn value_size(value: &Value) -> usize {
    let Some((kind, inner)) = value.as_object().and_then(|o| o.iter().next()) else { return 0 };
    let text_len = |v: &Value| v.as_str().map_or(0, str::len);
    let number_len =
        |v: &Value| v.as_str().map_or(0, |n| n.trim_start_matches('-').replace('.', "").len().div_ceil(2) + 1);
    let binary_len = |v: &Value| text_len(v) * 3 / 4;
    let list = |f: &dyn Fn(&Value) -> usize| inner.as_array().into_iter().flatten().map(f).sum::<usize>();
    match kind.as_str() {
        "S" => text_len(inner),
        "N" => number_len(inner),
        "B" => binary_len(inner),
        "BOOL" | "NULL" => 1,
        "SS" => list(&text_len),
        "NS" => list(&number_len),
        "BS" => list(&binary_len),
        "L" => 3 + list(&|v| 1 + value_size(v)),
        "M" => 3 + inner.as_object().map_or(0, |m| m.iter().map(|(k, v)| 1 + k.len() + value_size(v)).sum()),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sizes_follow_dynamodb_rules() {
        assert_eq!(item_size(&json!({"pk": {"S": "abc"}, "n": {"N": "1234"}})), 2 + 3 + 1 + 3);
        let big = "x".repeat(1500);
        assert_eq!(write_units("PutItem", &json!({"Item": {"pk": {"S": big}}})), 2.0);
        let transact = json!({"TransactItems": [{"Put": {"Item": {"pk": {"S": "a"}}}}, {"Update": {}}]});
        assert_eq!(write_units("TransactWriteItems", &transact), 4.0);
        assert_eq!(read_units("GetItem", &json!({}), false), 0.5);
        assert_eq!(read_units("GetItem", &json!({"Item": {"pk": {"S": "a"}}}), true), 1.0);
    }
}
