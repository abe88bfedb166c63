//! Customer-portal sessions: short-lived, stateless bearer tokens a tenant mints for one of its
//! customers (`POST /v1/portal-sessions`). A token is `hps_` + base64url(claims JSON) + `.` +
//! base64url(HMAC-SHA256(claims)), signed with a key derived from the deployment's
//! `HOOKLINE_ENCRYPTION_KEY` ([`crate::crypto::SecretBox::derive_key`]), so any function of the
//! deployment can check one without a table read, and no other deployment can make one.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use time::OffsetDateTime;

use crate::crypto::SecretBox;
use crate::ids::TenantId;

/// What every portal token starts with (API keys start with `hk_`).
pub const TOKEN_PREFIX: &str = "hps_";
/// The label the signing key is derived under; a new label invalidates every session.
const KEY_LABEL: &[u8] = b"hookline/portal-session/v1";
pub const DEFAULT_TTL_SECONDS: i64 = 3600;
pub const MIN_TTL_SECONDS: i64 = 60;
pub const MAX_TTL_SECONDS: i64 = 24 * 3600;

/// Endpoints whose `metadata` holds every pair of the filter are in a session's scope.
pub type MetadataFilter = BTreeMap<String, String>;

/// What a portal session may see and do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortalClaims {
    #[serde(rename = "t")]
    pub tenant_id: TenantId,
    /// Unix seconds.
    #[serde(rename = "exp")]
    pub expires_at: i64,
    #[serde(rename = "ro")]
    pub read_only: bool,
    /// `None`: every endpoint of the tenant.
    #[serde(rename = "md")]
    pub metadata: Option<MetadataFilter>,
}

impl PortalClaims {
    /// Whether an endpoint with this metadata is in the session's scope.
    pub fn covers(&self, metadata: &BTreeMap<String, String>) -> bool {
        self.metadata.as_ref().is_none_or(|filter| filter.iter().all(|(k, v)| metadata.get(k) == Some(v)))
    }

    pub fn expires_at(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.expires_at).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("not a portal session token")]
    Malformed,
    #[error("the portal session's signature does not match")]
    BadSignature,
    #[error("the portal session has expired")]
    Expired,
}

fn mac(key: &SecretBox) -> Hmac<Sha256> {
    crate::crypto::hmac_sha256(&key.derive_key(KEY_LABEL))
}

/// The token for these claims.
pub fn mint(key: &SecretBox, claims: &PortalClaims) -> String {
    let Ok(json) = serde_json::to_vec(claims) else {
        unreachable!("claims are strings, numbers and booleans");
    };
    let body = URL_SAFE_NO_PAD.encode(json);
    let mut mac = mac(key);
    mac.update(body.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{TOKEN_PREFIX}{body}.{signature}")
}

/// The claims of a token this deployment signed and that has not expired at `now`. The
/// signature is checked (in constant time) before the claims are parsed.
pub fn verify(key: &SecretBox, token: &str, now: OffsetDateTime) -> Result<PortalClaims, SessionError> {
    let rest = token.strip_prefix(TOKEN_PREFIX).ok_or(SessionError::Malformed)?;
    let (body, signature) = rest.split_once('.').ok_or(SessionError::Malformed)?;
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| SessionError::Malformed)?;
    let mut mac = mac(key);
    mac.update(body.as_bytes());
    mac.verify_slice(&signature).map_err(|_| SessionError::BadSignature)?;
    let json = URL_SAFE_NO_PAD.decode(body).map_err(|_| SessionError::Malformed)?;
    let claims: PortalClaims = serde_json::from_slice(&json).map_err(|_| SessionError::Malformed)?;
    if claims.expires_at <= now.unix_timestamp() {
        return Err(SessionError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn fresh_key() -> SecretBox {
        SecretBox::from_base64(&SecretBox::generate_key_base64()).unwrap()
    }

    fn claims(now: OffsetDateTime) -> PortalClaims {
        PortalClaims {
            tenant_id: TenantId::generate(),
            expires_at: now.unix_timestamp() + 60,
            read_only: true,
            metadata: Some(BTreeMap::from([("customer".to_owned(), "acme".to_owned())])),
        }
    }

    #[test]
    fn a_minted_token_verifies_to_its_claims_until_it_expires() {
        let (key, now) = (fresh_key(), OffsetDateTime::now_utc());
        let claims = claims(now);
        let token = mint(&key, &claims);
        assert!(token.starts_with(TOKEN_PREFIX));
        assert_eq!(verify(&key, &token, now), Ok(claims));
        assert_eq!(verify(&key, &token, now + time::Duration::seconds(60)), Err(SessionError::Expired));
    }

    #[test]
    fn a_changed_claim_another_deployment_or_garbage_is_refused() {
        let (key, now) = (fresh_key(), OffsetDateTime::now_utc());
        let token = mint(&key, &claims(now));
        let (body, signature) = token.split_once('.').unwrap();
        let mut widened = claims(now);
        widened.metadata = None;
        widened.read_only = false;
        let forged_body = mint(&fresh_key(), &widened);
        let forged = format!("{}.{signature}", forged_body.split_once('.').unwrap().0);
        assert_eq!(verify(&key, &forged, now), Err(SessionError::BadSignature));
        assert_eq!(verify(&fresh_key(), &token, now), Err(SessionError::BadSignature));
        assert_eq!(verify(&key, &format!("{body}.AAAA"), now), Err(SessionError::BadSignature));
        for garbage in ["", "hps_", "hps_abc", "hk_abc.def", "hps_a.b.c"] {
            assert!(verify(&key, garbage, now).is_err(), "{garbage}");
        }
    }

    #[test]
    fn the_signing_key_is_derived_not_the_sealing_key() {
        let key = fresh_key();
        assert_ne!(key.derive_key(KEY_LABEL), key.derive_key(b"another purpose"));
    }

    #[test]
    fn a_filter_covers_endpoints_holding_all_its_pairs() {
        let mut claims = claims(OffsetDateTime::now_utc());
        let md = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        assert!(claims.covers(&md(&[("customer", "acme"), ("tier", "gold")])));
        assert!(!claims.covers(&md(&[("customer", "globex")])));
        assert!(!claims.covers(&md(&[])));
        claims.metadata = None;
        assert!(claims.covers(&md(&[])));
    }
}
