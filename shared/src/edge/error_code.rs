//! Every `code` an API error can carry. The strings are part of the API: clients match on them,
//! so a variant's name never changes once released.

use serde::Serialize;

macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $code:literal,)+) => {
        /// The `code` of an error response (`{"code", "message", "errors"?}`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)+
        }

        impl ErrorCode {
            /// Every code, for documenting them (the OpenAPI document lists them as an enum).
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            /// The code as it appears in a response.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)+
                }
            }
        }
    };
}

error_codes! {
    /// A request the server could not read (a safety-net code for rejections we do not make).
    BadRequest = "bad_request",
    /// The body is not JSON.
    InvalidJson = "invalid_json",
    /// The query string cannot be read as `name=value` pairs (bad percent-encoding, a name twice).
    InvalidQuery = "invalid_query",
    /// A `cursor` this deployment did not hand out for this list and caller.
    InvalidCursor = "invalid_cursor",
    Unauthorized = "unauthorized",
    TenantSuspended = "tenant_suspended",
    /// A read-only portal session tried to change something.
    ReadOnly = "read_only",
    /// A portal session tried something only the tenant's API key may do.
    PortalForbidden = "portal_forbidden",
    NotFound = "not_found",
    MethodNotAllowed = "method_not_allowed",
    /// The item changed under the request (a lost race or condition): read it again and retry.
    Conflict = "conflict",
    EventTypeExists = "event_type_exists",
    EventTypeLimit = "event_type_limit",
    IdempotencyKeyReused = "idempotency_key_reused",
    IdempotencyInProgress = "idempotency_in_progress",
    PayloadExpunged = "payload_expunged",
    DeliveryPending = "delivery_pending",
    PayloadTooLarge = "payload_too_large",
    UnsupportedMediaType = "unsupported_media_type",
    /// Well-formed input with a wrong value: `errors[]` names each field or parameter.
    ValidationError = "validation_error",
    RateLimited = "rate_limited",
    QuotaExceeded = "quota_exceeded",
    /// A fault of ours (a stored item that does not read back): logged, never explained.
    InternalError = "internal_error",
    /// Throttled or unavailable for now: retry after `Retry-After` seconds.
    Unavailable = "unavailable",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_and_as_str_agree_for_every_code() {
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str(), "{code:?}");
        }
    }

    #[test]
    fn codes_are_unique() {
        let mut seen: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), ErrorCode::ALL.len());
    }
}
