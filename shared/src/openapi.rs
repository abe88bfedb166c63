//! What the OpenAPI document says about the edge every HTTP function shares: the security
//! schemes and the error responses (`{"code", "message"}`), grouped by what produces them, so a
//! handler's `#[utoipa::path(responses(...))]` names the groups its extractors and checks can
//! answer with. The document itself is assembled in `functions/api/src/openapi.rs`.

use std::collections::BTreeMap;

use utoipa::IntoResponses;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, RefOr, Response, ResponseBuilder};

/// The security scheme of a tenant's API key (`hk_…`).
pub const API_KEY: &str = "apiKey";
/// The security scheme of a customer-portal session (`hps_…`), limited to its endpoints.
pub const PORTAL_SESSION: &str = "portalSession";
/// The security scheme of the deployment's admin token.
pub const ADMIN_TOKEN: &str = "adminToken";

/// The three bearer schemes, by name, for the document's `components.securitySchemes`.
pub fn security_schemes() -> [(&'static str, SecurityScheme); 3] {
    let bearer = |description: &str| {
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.description = Some(description.to_owned());
        SecurityScheme::Http(http)
    };
    [
        (API_KEY, bearer("A tenant's API key (`hk_…`), as `Authorization: Bearer <key>`.")),
        (
            PORTAL_SESSION,
            bearer(
                "A customer-portal session (`hps_…`, from `POST /v1/portal-sessions`): sees only the endpoints its \
                 metadata filter covers and their deliveries; a read-only one is refused every write (403).",
            ),
        ),
        (ADMIN_TOKEN, bearer("The deployment's admin token (`HOOKLINE_ADMIN_TOKEN`).")),
    ]
}

/// A string schema with a description, and optionally a pattern and a maximum length.
pub fn string_schema(description: &str, pattern: Option<&str>, max_length: Option<usize>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .pattern(pattern)
        .max_length(max_length)
        .into()
}

/// An error response: `{"code", "message"}` (the `Error` schema), with `Retry-After` if asked.
fn error(description: &str, retry_after: bool) -> RefOr<Response> {
    let mut response = ResponseBuilder::new()
        .description(description)
        .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("Error"))).build());
    if retry_after {
        let seconds = ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)).build();
        response = response.header(
            "Retry-After",
            HeaderBuilder::new().schema(Some(seconds)).description(Some("Seconds to wait before retrying")).build(),
        );
    }
    response.build().into()
}

fn responses(list: &[(&str, &str, bool)]) -> BTreeMap<String, RefOr<Response>> {
    list.iter().map(|(status, description, retry)| ((*status).to_owned(), error(description, *retry))).collect()
}

const UNAUTHORIZED: (&str, &str, bool) = ("401", "`unauthorized`: no valid credential", false);
const SERVER_ERROR: (&str, &str, bool) =
    ("500", "`internal_error`: a fault of ours, such as a stored item that does not read back (logged)", false);
const UNAVAILABLE: (&str, &str, bool) =
    ("503", "`unavailable`: a dependency was throttled or unavailable; safe to retry", true);

/// A route for the operator (admin token): 401, and the store's 500 and 503.
pub struct AdminErrors;

impl IntoResponses for AdminErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[UNAUTHORIZED, SERVER_ERROR, UNAVAILABLE])
    }
}

/// A route for a tenant's credential (`TenantAuth`, `TenantKey`): 401, 403 (a suspended tenant, a
/// read-only portal session writing, a portal session on a tenant-wide route), the store's 500
/// and 503.
pub struct TenantErrors;

impl IntoResponses for TenantErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[
            UNAUTHORIZED,
            ("403", "`tenant_suspended`, `read_only` or `portal_forbidden`", false),
            SERVER_ERROR,
            UNAVAILABLE,
        ])
    }
}

/// A route with a JSON body: 400 (not JSON), 413 (over 256 KB), 422 (the wrong shape, or
/// values that break the rules; `errors[]` names each field).
pub struct BodyErrors;

impl IntoResponses for BodyErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[
            ("400", "`invalid_json`: the body is not JSON", false),
            ("413", "`payload_too_large`: the body is over 256 KB", false),
            ("422", "`validation_error`: `errors[]` names each field and what it must be", false),
        ])
    }
}

/// A route with query parameters: 400 (a malformed query string), 422 (an unknown parameter or a
/// bad value, each in `errors[]`).
pub struct QueryErrors;

impl IntoResponses for QueryErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[
            ("400", "`invalid_query`: the query string does not parse", false),
            ("422", "`validation_error`: `errors[]` names each unknown parameter or bad value", false),
        ])
    }
}

/// A route naming an item in its path: 404 when it does not exist, is not the caller's, or
/// the id is malformed.
pub struct NotFound;

impl IntoResponses for NotFound {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[("404", "`not_found`: no such item for this caller", false)])
    }
}

/// A route that writes: 409 `conflict` when the item changed under the request (a lost race);
/// read it again and retry.
pub struct WriteConflict;

impl IntoResponses for WriteConflict {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[("409", "`conflict`: the item changed while the request ran; read it again and retry", false)])
    }
}

/// A route counted against a per-minute quota: 429 with `Retry-After`.
pub struct RateLimited;

impl IntoResponses for RateLimited {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[("429", "`rate_limited` or `quota_exceeded`: see `Retry-After`", true)])
    }
}
