//! An endpoint's settable fields, listed once. The list makes the creation request
//! ([`NewEndpointRequest`], also what the API shows of an endpoint), the typed PATCH
//! ([`EndpointPatch`]: absent keeps, `null` clears, a value sets) and the way back from a stored
//! endpoint to the request that would make it ([`NewEndpointRequest::from_endpoint`]), so a
//! patch is applied to that request and the result validated as a whole, like a creation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, Serializer};

#[allow(unused_imports)]
use super::EventTypePattern;
#[allow(unused_imports)] // `EventTypePattern` and `AuthField` name the document's types
use super::options::AuthField;
use super::{Endpoint, EndpointAuth, HeadersRequest, HttpMethod, Invalid, RetryPolicy};
use crate::edge::Patch;
use crate::render::{DeletePayload, Envelope, Format, Template};

/// A field that was given, even as `null` (`Some(None)`), unlike one left out (`None`, with
/// `#[serde(default)]`).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Credentials are write-only: shown, they keep only their kind and non-secret parts.
fn shown_auth<S: Serializer>(auth: &Option<EndpointAuth>, s: S) -> Result<S::Ok, S::Error> {
    auth.as_ref().map(EndpointAuth::redacted).serialize(s)
}

/// Each field: its name, its request type, and how it is read from a stored endpoint (`None`:
/// not set, the default applies).
macro_rules! endpoint_fields {
    ($($(#[$attr:meta])* $field:ident: $ty:ty = |$ep:ident| $stored:expr;)+) => {
        /// The request body of `POST /v1/endpoints`, before validation. Shown (serialized), it is
        /// the endpoint's settings as `EndpointView` flattens them, credentials redacted.
        #[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
        #[serde(deny_unknown_fields)]
        pub struct NewEndpointRequest {
            /// HTTPS (HTTP only where the deployment allows it); public addresses only.
            #[schema(format = "uri", max_length = 2048)]
            pub url: String,
            /// Absent: the default (120 hours); `null`: failures never disable the endpoint.
            #[serde(default, deserialize_with = "present")]
            #[schema(value_type = Option<u32>, minimum = 1, maximum = 720)]
            pub disable_after_hours: Option<Option<u32>>,
            $($(#[$attr])* #[serde(default)] pub $field: Option<$ty>,)+
        }

        /// The request body of `PATCH /v1/endpoints/{id}`: any creation field (left out: kept;
        /// `null`: back to its default, or "never" for `disable_after_hours`), plus `enabled`.
        #[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
        #[serde(deny_unknown_fields)]
        pub struct EndpointPatch {
            #[serde(default)]
            #[schema(value_type = String, format = "uri", max_length = 2048)]
            pub url: Patch<String>,
            /// `null`: failures never disable the endpoint.
            #[serde(default)]
            #[schema(value_type = Option<u32>, minimum = 1, maximum = 720)]
            pub disable_after_hours: Patch<u32>,
            $($(#[$attr])* #[serde(default)] pub $field: Patch<$ty>,)+
            /// Not a setting: `false` disables the endpoint, `true` enables it again.
            #[serde(default)]
            pub enabled: Option<bool>,
        }

        impl EndpointPatch {
            /// Whether the patch changes any setting (not only `enabled`).
            pub fn changes_settings(&self) -> bool {
                !(self.url == Patch::Absent
                    && self.disable_after_hours == Patch::Absent
                    $(&& matches!(self.$field, Patch::Absent))+)
            }

            /// `current` with this patch applied: still to be validated as a whole.
            pub fn apply(self, current: NewEndpointRequest) -> Result<NewEndpointRequest, Invalid> {
                let url = match self.url {
                    Patch::Absent => current.url,
                    Patch::Value(url) => url,
                    Patch::Null => return Err(Invalid::one("url", "an endpoint needs a URL; it cannot be cleared")),
                };
                let disable_after_hours = match self.disable_after_hours {
                    Patch::Absent => current.disable_after_hours,
                    Patch::Null => Some(None),
                    Patch::Value(hours) => Some(Some(hours)),
                };
                Ok(NewEndpointRequest { url, disable_after_hours, $($field: self.$field.apply(current.$field),)+ })
            }
        }

        impl NewEndpointRequest {
            /// The request that would create `ep` as it is (its credentials and header values
            /// included: redact before showing, see `EndpointView`).
            pub fn from_endpoint(ep: &Endpoint) -> Self {
                Self {
                    url: ep.url.to_string(),
                    disable_after_hours: Some(ep.limits.disable_after_hours),
                    $($field: { let $ep = ep; $stored },)+
                }
            }
        }
    };
}

fn source(template: &Option<Template>) -> Option<String> {
    template.as_ref().map(|t| t.source().to_owned())
}

// Each field's `#[schema]` (the OpenAPI document's type and limits) serves both structs: a
// request's `Option<T>` and a patch's `Patch<T>` are both "T or null".
endpoint_fields! {
    #[schema(value_type = Option<String>, max_length = 1024)]
    description: String = |ep| Some(ep.description.clone());
    /// Default: `["*"]`.
    #[schema(value_type = Option<Vec<EventTypePattern>>, max_items = 100)]
    event_types: Vec<String> = |ep| Some(ep.event_types.iter().map(|p| String::from(p.clone())).collect());
    #[schema(value_type = Option<RetryPolicy>)]
    retry: RetryPolicy = |ep| Some(ep.retry.clone());
    #[schema(value_type = Option<HttpMethod>)]
    method: HttpMethod = |ep| Some(ep.options.method);
    /// Shown without secrets.
    #[serde(serialize_with = "shown_auth")]
    #[schema(value_type = Option<AuthField>)]
    auth: EndpointAuth = |ep| Some(ep.options.auth.clone());
    #[schema(value_type = Option<HeadersRequest>)]
    headers: HeadersRequest = |ep| Some(HeadersRequest::from_stored(&ep.options.headers));
    /// At most 20 pairs; keys of at most 64 characters, values of at most 256.
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    metadata: BTreeMap<String, String> = |ep| Some(ep.options.metadata.clone());
    /// Default 15000.
    #[schema(value_type = Option<u64>, minimum = 1000, maximum = 30000)]
    timeout_ms: u64 = |ep| Some(u64::from(ep.options.timeout_ms));
    /// Requests per second through `rate_limit_key` (chat formats default to 1).
    #[schema(value_type = Option<u64>, minimum = 1, maximum = 1000)]
    rate_limit_per_second: u64 = |ep| ep.options.rate_limit_per_second.map(u64::from);
    /// Shares one limit between endpoints; for chat formats, alone, it names the room.
    #[schema(value_type = Option<String>, max_length = 128)]
    rate_limit_key: String = |ep| ep.options.rate_limit_key.clone();
    #[schema(value_type = Option<Format>)]
    format: Format = |ep| Some(ep.presentation.format);
    #[schema(value_type = Option<Template>)]
    template: String = |ep| source(&ep.presentation.template);
    /// At most 20 parameters, each a template.
    #[schema(value_type = Option<BTreeMap<String, Template>>)]
    query: BTreeMap<String, String> =
        |ep| Some(ep.presentation.query.iter().map(|(k, t)| (k.clone(), t.source().to_owned())).collect());
    #[schema(value_type = Option<Template>)]
    thread_key: String = |ep| source(&ep.presentation.thread_key);
    #[schema(value_type = Option<Template>)]
    cards: String = |ep| source(&ep.presentation.cards);
    #[schema(value_type = Option<bool>)]
    sign: bool = |ep| Some(ep.presentation.sign);
    #[schema(value_type = Option<Envelope>)]
    envelope: Envelope = |ep| Some(ep.presentation.envelope);
    #[schema(value_type = Option<DeletePayload>)]
    delete_payload: DeletePayload = |ep| Some(ep.presentation.delete_payload);
}
