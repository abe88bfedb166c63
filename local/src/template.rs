//! The table and queues of `template.yaml`, read from the template itself so the local
//! resources cannot drift from the deployed ones. A property this module does not know is an
//! error: whoever adds one to the template must decide here how it is emulated.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_norway::Value;

/// `template.yaml`, compiled in so every binary and test reads the same text.
pub const TEMPLATE: &str = include_str!("../../template.yaml");

pub const TABLE: &str = "Table";
pub const DELIVERIES_QUEUE: &str = "DeliveriesQueue";
pub const SLOW_DELIVERIES_QUEUE: &str = "SlowDeliveriesQueue";
pub const DELIVER_FUNCTION: &str = "DeliverFunction";
pub const DEAD_LETTER_QUEUE: &str = "DeadLetterQueue";
pub const INGEST_FUNCTION: &str = "IngestFunction";
pub const API_FUNCTION: &str = "ApiFunction";

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template.yaml does not parse: {0}")]
    Yaml(#[from] serde_norway::Error),
    #[error("template.yaml has no resource `{0}`")]
    Missing(&'static str),
    #[error("resource `{0}`: {1}")]
    Resource(&'static str, String),
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDefinition {
    pub attribute_name: String,
    pub attribute_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeySchemaElement {
    pub attribute_name: String,
    pub key_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TimeToLive {
    pub attribute_name: String,
    pub enabled: bool,
}

/// `Projection` of an index: `ALL`, `KEYS_ONLY`, or `INCLUDE` with its attributes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Projection {
    pub projection_type: String,
    #[serde(default)]
    pub non_key_attributes: Vec<String>,
}

/// One of `GlobalSecondaryIndexes`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct GlobalSecondaryIndex {
    pub index_name: String,
    pub key_schema: Vec<KeySchemaElement>,
    pub projection: Projection,
    /// Provisioned mode's starting capacity, as the table's: no local meaning.
    #[serde(default)]
    pub provisioned_throughput: Option<Value>,
}

/// `AWS::DynamoDB::Table` properties.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TableSpec {
    pub attribute_definitions: Vec<AttributeDefinition>,
    pub key_schema: Vec<KeySchemaElement>,
    /// `PAY_PER_REQUEST`, or `!If [ProvisionedTable, PROVISIONED, PAY_PER_REQUEST]`: locally
    /// the table is what the template's default parameters make, the `!If`'s last branch.
    #[serde(deserialize_with = "if_default_branch")]
    pub billing_mode: String,
    /// Provisioned mode's starting capacity: no local meaning (moto does not throttle).
    #[serde(default)]
    pub provisioned_throughput: Option<Value>,
    #[serde(default)]
    pub global_secondary_indexes: Vec<GlobalSecondaryIndex>,
    #[serde(default)]
    pub time_to_live_specification: Option<TimeToLive>,
    /// Backups and encryption at rest have no local meaning.
    #[serde(default)]
    pub point_in_time_recovery_specification: Option<Value>,
    #[serde(default, rename = "SSESpecification")]
    pub sse_specification: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RedrivePolicy {
    /// `!GetAtt <LogicalId>.Arn`, kept as the logical id of the target queue.
    #[serde(deserialize_with = "get_att_arn")]
    pub dead_letter_target_arn: String,
    pub max_receive_count: u32,
}

/// `AWS::SQS::Queue` properties.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct QueueSpec {
    #[serde(default)]
    pub visibility_timeout: Option<u32>,
    #[serde(default)]
    pub message_retention_period: Option<u32>,
    #[serde(default)]
    pub redrive_policy: Option<RedrivePolicy>,
    /// Encryption at rest has no local meaning.
    #[serde(default)]
    pub sqs_managed_sse_enabled: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ScalingConfig {
    pub maximum_concurrency: u32,
}

/// The properties of an `SQS` event of a `AWS::Serverless::Function`: Lambda's event source
/// mapping, which the local poller stands in for.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct EventSourceSpec {
    /// `!GetAtt <LogicalId>.Arn`, kept as the logical id of the queue.
    #[serde(deserialize_with = "get_att_arn")]
    pub queue: String,
    pub batch_size: u32,
    #[serde(default)]
    pub maximum_batching_window_in_seconds: Option<u32>,
    #[serde(default)]
    pub function_response_types: Vec<String>,
    #[serde(default)]
    pub scaling_config: Option<ScalingConfig>,
}

#[derive(Debug, Clone)]
pub struct Resources {
    pub table: TableSpec,
    pub deliveries_queue: QueueSpec,
    pub slow_deliveries_queue: QueueSpec,
    pub dead_letter_queue: QueueSpec,
    /// The deliver function's SQS event sources, by the queue's logical id.
    pub event_sources: BTreeMap<String, EventSourceSpec>,
}

#[derive(Deserialize)]
struct Template {
    #[serde(rename = "Resources")]
    resources: BTreeMap<String, Value>,
}

impl Resources {
    pub fn from_template() -> Result<Self, TemplateError> {
        Self::parse(TEMPLATE)
    }

    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let template: Template = serde_norway::from_str(text)?;
        Ok(Self {
            table: properties(&template, TABLE, "AWS::DynamoDB::Table")?,
            deliveries_queue: properties(&template, DELIVERIES_QUEUE, "AWS::SQS::Queue")?,
            slow_deliveries_queue: properties(&template, SLOW_DELIVERIES_QUEUE, "AWS::SQS::Queue")?,
            dead_letter_queue: properties(&template, DEAD_LETTER_QUEUE, "AWS::SQS::Queue")?,
            event_sources: sqs_event_sources(&template, DELIVER_FUNCTION)?,
        })
    }

    /// How many batches at once the event source mapping of `queue` (a logical id) runs.
    pub fn maximum_concurrency(&self, queue: &str) -> Option<u32> {
        self.event_sources.get(queue)?.scaling_config.as_ref().map(|c| c.maximum_concurrency)
    }
}

/// A value of a function's environment variable in the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    Text(String),
    /// `!Ref <name>`: a parameter or a resource.
    Ref(String),
}

/// An `HttpApi` event of a function: API Gateway sends `method` (`ANY` for all) on `path`
/// (with `{name}` and a final greedy `{name+}`) to `function`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRoute {
    pub function: String,
    pub method: String,
    pub path: String,
}

impl HttpRoute {
    /// How specifically this route's path matches `path`, if it does: (greedy, variables).
    fn path_match(&self, path: &str) -> Option<(bool, usize)> {
        let ours: Vec<&str> = self.path.trim_start_matches('/').split('/').collect();
        let theirs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut variables = 0;
        for (i, segment) in ours.iter().enumerate() {
            if segment.starts_with('{') && segment.ends_with("+}") {
                return (i + 1 == ours.len() && theirs.len() > i && theirs[i..].iter().all(|s| !s.is_empty()))
                    .then_some((true, variables));
            }
            let given = theirs.get(i)?;
            if segment.starts_with('{') && segment.ends_with('}') {
                (!given.is_empty()).then_some(())?;
                variables += 1;
            } else if segment != given {
                return None;
            }
        }
        (ours.len() == theirs.len()).then_some((false, variables))
    }
}

/// The route API Gateway (HTTP API) picks for a request: the most specific path (no greedy
/// variable over a greedy one, fewer variables over more), then a named method over `ANY`,
/// then the `$default` route.
pub fn route_for<'a>(routes: &'a [HttpRoute], method: &str, path: &str) -> Option<&'a HttpRoute> {
    routes
        .iter()
        .filter(|r| r.method == "ANY" || r.method.eq_ignore_ascii_case(method))
        .filter_map(|r| r.path_match(path).map(|(greedy, variables)| ((greedy, variables, r.method == "ANY"), r)))
        .min_by_key(|(specificity, _)| *specificity)
        .map(|(_, r)| r)
        .or_else(|| routes.iter().find(|r| r.path == "$default"))
}

/// The environment `function` (a logical id) gets: the template's `Globals` with the
/// function's own variables over them.
pub fn function_environment(text: &str, function: &'static str) -> Result<BTreeMap<String, EnvValue>, TemplateError> {
    let template: Value = serde_norway::from_str(text)?;
    let resource = template.get("Resources").and_then(|r| r.get(function)).ok_or(TemplateError::Missing(function))?;
    let layers = [template.get("Globals").and_then(|g| g.get("Function")), resource.get("Properties")];
    let mut environment = BTreeMap::new();
    for variables in layers.into_iter().flatten().filter_map(|p| p.get("Environment")?.get("Variables")?.as_mapping()) {
        for (name, value) in variables {
            let name =
                name.as_str().ok_or_else(|| TemplateError::Resource(function, "a variable name is not text".into()))?;
            let value = match value {
                Value::Tagged(tagged) if tagged.tag == "!Ref" => {
                    tagged.value.as_str().map(|r| EnvValue::Ref(r.to_owned()))
                }
                Value::Mapping(map) => map.get("Ref").and_then(Value::as_str).map(|r| EnvValue::Ref(r.to_owned())),
                Value::String(text) => Some(EnvValue::Text(text.clone())),
                Value::Number(n) => Some(EnvValue::Text(n.to_string())),
                Value::Bool(b) => Some(EnvValue::Text(b.to_string())),
                _ => None,
            }
            .ok_or_else(|| TemplateError::Resource(function, format!("{name}: only text and `!Ref` are understood")))?;
            environment.insert(name.to_owned(), value);
        }
    }
    Ok(environment)
}

/// Every `HttpApi` event of every function in the template.
pub fn http_routes(text: &str) -> Result<Vec<HttpRoute>, TemplateError> {
    let template: Template = serde_norway::from_str(text)?;
    let mut routes = Vec::new();
    for (function, resource) in &template.resources {
        let events = resource.get("Properties").and_then(|p| p.get("Events")).and_then(Value::as_mapping);
        for (_, event) in events.into_iter().flatten() {
            if event.get("Type").and_then(Value::as_str) != Some("HttpApi") {
                continue;
            }
            let property = |name: &str| event.get("Properties").and_then(|p| p.get(name)).and_then(Value::as_str);
            // SAM's defaults: an HttpApi event without a path is the `$default` route.
            routes.push(HttpRoute {
                function: function.clone(),
                method: property("Method").unwrap_or("ANY").to_ascii_uppercase(),
                path: property("Path").unwrap_or("$default").to_owned(),
            });
        }
    }
    Ok(routes)
}

fn sqs_event_sources(
    template: &Template,
    function: &'static str,
) -> Result<BTreeMap<String, EventSourceSpec>, TemplateError> {
    let resource = template.resources.get(function).ok_or(TemplateError::Missing(function))?;
    let mut sources = BTreeMap::new();
    let events = resource.get("Properties").and_then(|p| p.get("Events")).and_then(Value::as_mapping);
    for (_, event) in events.into_iter().flatten() {
        if event.get("Type").and_then(Value::as_str) != Some("SQS") {
            continue;
        }
        let props = event.get("Properties").cloned().unwrap_or(Value::Null);
        let spec: EventSourceSpec =
            serde_norway::from_value(props).map_err(|e| TemplateError::Resource(function, e.to_string()))?;
        sources.insert(spec.queue.clone(), spec);
    }
    Ok(sources)
}

fn properties<T: serde::de::DeserializeOwned>(
    template: &Template,
    name: &'static str,
    kind: &str,
) -> Result<T, TemplateError> {
    let resource = template.resources.get(name).ok_or(TemplateError::Missing(name))?;
    let found = resource.get("Type").and_then(Value::as_str).unwrap_or_default();
    if found != kind {
        return Err(TemplateError::Resource(name, format!("type is `{found}`, expected `{kind}`")));
    }
    let props = resource.get("Properties").cloned().unwrap_or(Value::Mapping(Default::default()));
    serde_norway::from_value(props).map_err(|e| TemplateError::Resource(name, e.to_string()))
}

/// A string, or the value an `!If [condition, then, else]` takes when its condition is false
/// (the template's default parameters).
fn if_default_branch<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    use serde::de::Error;
    let value = Value::deserialize(deserializer)?;
    let chosen = match &value {
        Value::Tagged(tagged) if tagged.tag == "!If" => match &tagged.value {
            Value::Sequence(parts) if parts.len() == 3 => parts.get(2).cloned(),
            _ => None,
        },
        other => Some(other.clone()),
    };
    chosen
        .and_then(|v| v.as_str().map(str::to_owned))
        .ok_or_else(|| D::Error::custom(format!("not a string: {value:?}")))
}

fn get_att_arn<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    use serde::de::Error;
    let value = Value::deserialize(deserializer)?;
    let target = match &value {
        Value::Tagged(tagged) if tagged.tag == "!GetAtt" => tagged.value.as_str().map(str::to_owned),
        Value::Mapping(map) => map.get("Fn::GetAtt").and_then(|v| match v {
            Value::Sequence(parts) => match parts.as_slice() {
                [id, attr] => Some(format!("{}.{}", id.as_str()?, attr.as_str()?)),
                _ => None,
            },
            Value::String(s) => Some(s.clone()),
            _ => None,
        }),
        _ => None,
    };
    target
        .and_then(|t| t.strip_suffix(".Arn").map(str::to_owned))
        .ok_or_else(|| D::Error::custom("a queue ARN must be `!GetAtt <Queue>.Arn`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_project_template() {
        let r = Resources::from_template().unwrap();
        assert_eq!(r.table.key_schema.len(), 2);
        let index = &r.table.global_secondary_indexes[0];
        assert_eq!(index.index_name, hookline_shared::store::FAILED_ATTEMPTS_INDEX);
        let keys: Vec<&str> = index.key_schema.iter().map(|k| k.attribute_name.as_str()).collect();
        assert_eq!(keys, ["fail_pk", "fail_sk"]);
        let redrive = r.deliveries_queue.redrive_policy.clone().unwrap();
        assert_eq!(redrive.dead_letter_target_arn, DEAD_LETTER_QUEUE);
        let slow = r.slow_deliveries_queue.redrive_policy.clone().unwrap();
        assert_eq!(slow.dead_letter_target_arn, DEAD_LETTER_QUEUE);
        assert_eq!(r.event_sources.keys().collect::<Vec<_>>(), [DELIVERIES_QUEUE, SLOW_DELIVERIES_QUEUE]);
        let (main, slow) = (r.maximum_concurrency(DELIVERIES_QUEUE), r.maximum_concurrency(SLOW_DELIVERIES_QUEUE));
        assert!(slow.unwrap() < main.unwrap(), "the slow lane runs fewer batches at once");
    }

    #[test]
    fn requests_go_to_the_route_api_gateway_picks() {
        let route = |function: &str, method: &str, path: &str| HttpRoute {
            function: function.into(),
            method: method.into(),
            path: path.into(),
        };
        let routes = [route("A", "POST", "/v1/events"), route("B", "ANY", "/{proxy+}"), route("C", "GET", "/v1/{x}")];
        let pick = |method: &str, path: &str| route_for(&routes, method, path).map(|r| r.function.as_str());
        assert_eq!(pick("POST", "/v1/events"), Some("A"));
        assert_eq!(pick("GET", "/v1/events"), Some("C"), "a named variable is more specific than a greedy one");
        assert_eq!(pick("DELETE", "/v1/events"), Some("B"));
        assert_eq!(pick("GET", "/health"), Some("B"));
        assert_eq!(pick("GET", "/"), None, "a greedy variable needs a segment");
        assert!(route_for(&routes[..1], "POST", "/v1/events/x").is_none());
    }

    #[test]
    fn reads_the_http_routes_and_environments_of_the_template() {
        let routes = http_routes(TEMPLATE).unwrap();
        assert!(routes.iter().any(|r| r.function == INGEST_FUNCTION && r.method == "POST" && r.path == "/v1/events"));
        let env = function_environment(TEMPLATE, DELIVER_FUNCTION).unwrap();
        assert_eq!(env["HOOKLINE_TABLE"], EnvValue::Ref(TABLE.into()), "from the globals");
        assert_eq!(env["HOOKLINE_DLQ_URL"], EnvValue::Ref(DEAD_LETTER_QUEUE.into()), "the function's own");
        assert_eq!(env["RUST_LOG"], EnvValue::Text("info".into()));
    }

    #[test]
    fn an_unknown_event_source_property_is_an_error_not_ignored() {
        let text = TEMPLATE.replace("BatchSize: 10", "BatchSize: 10\n            Enabled: false");
        assert_ne!(text, TEMPLATE);
        let err = Resources::parse(&text).unwrap_err().to_string();
        assert!(err.contains("Enabled"), "{err}");
    }

    #[test]
    fn an_unknown_index_property_is_an_error_not_ignored() {
        let text = TEMPLATE
            .replace("ProjectionType: ALL", "ProjectionType: ALL\n          ContributorInsightsSpecification: {}");
        assert_ne!(text, TEMPLATE);
        let err = Resources::parse(&text).unwrap_err().to_string();
        assert!(err.contains("ContributorInsightsSpecification"), "{err}");
    }

    #[test]
    fn an_unknown_property_is_an_error_not_ignored() {
        let text = TEMPLATE.replace("VisibilityTimeout: 360", "VisibilityTimeout: 360\n      DelaySeconds: 5");
        assert_ne!(text, TEMPLATE);
        let err = Resources::parse(&text).unwrap_err().to_string();
        assert!(err.contains("DelaySeconds"), "{err}");
    }
}
