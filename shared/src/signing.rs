//! Standard Webhooks signatures: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed by the
//! bytes behind a `whsec_<base64>` secret.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

const SECRET_PREFIX: &str = "whsec_";
const SECRET_BYTES: usize = 24;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("a signing secret starts with `whsec_` followed by base64")]
    Malformed,
}

/// An endpoint's signing secret. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret {
    key: Vec<u8>,
}

impl SigningSecret {
    pub fn generate() -> Self {
        let mut key = vec![0u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut key);
        Self { key }
    }

    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let encoded = text.strip_prefix(SECRET_PREFIX).ok_or(SecretError::Malformed)?;
        let key = STANDARD.decode(encoded).map_err(|_| SecretError::Malformed)?;
        if key.is_empty() {
            return Err(SecretError::Malformed);
        }
        Ok(Self { key })
    }

    /// The `whsec_…` form shown to the endpoint's owner once, and kept in the store.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.key))
    }

    /// The value of one `v1,…` signature over exactly these bytes.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = self.mac();
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }

    /// True when any `v1` signature in a space-separated `webhook-signature` header matches, compared
    /// in constant time. Receivers (and our tests) use this; timestamp tolerance is the caller's.
    pub fn verify(&self, msg_id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
        header.split(' ').any(|candidate| {
            let Some(encoded) = candidate.strip_prefix("v1,") else {
                return false;
            };
            let Ok(expected) = STANDARD.decode(encoded) else {
                return false;
            };
            let mut mac = self.mac();
            mac.update(msg_id.as_bytes());
            mac.update(b".");
            mac.update(timestamp.to_string().as_bytes());
            mac.update(b".");
            mac.update(body);
            mac.verify_slice(&expected).is_ok()
        })
    }

    fn mac(&self) -> Hmac<Sha256> {
        crate::crypto::hmac_sha256(&self.key)
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The public Standard Webhooks test vectors, vendored as test data so the tests below run
    /// from any checkout (a missing file fails the build, not silently the test).
    const VECTORS: &str = include_str!("../testdata/standard-webhooks-vectors.json");

    fn vectors() -> serde_json::Value {
        serde_json::from_str(VECTORS).unwrap()
    }

    fn parts(v: &serde_json::Value) -> (SigningSecret, &str, i64, &[u8]) {
        (
            SigningSecret::parse(v["secret"].as_str().unwrap()).unwrap(),
            v["id"].as_str().unwrap(),
            v["timestamp"].as_i64().unwrap(),
            v["payload"].as_str().unwrap().as_bytes(),
        )
    }

    #[test]
    fn signs_every_valid_vector_exactly() {
        let vectors = vectors();
        let valid = vectors["valid"].as_array().unwrap();
        assert_eq!(valid.len(), 2);
        for v in valid {
            let (secret, id, ts, body) = parts(v);
            assert_eq!(secret.sign(id, ts, body), v["signature"].as_str().unwrap());
        }
    }

    #[test]
    fn verifies_valid_and_refuses_invalid_vectors() {
        let vectors = vectors();
        let v = &vectors["valid"][1];
        let (secret, id, ts, body) = parts(v);
        let good = v["signature"].as_str().unwrap();
        assert!(secret.verify(id, ts, body, good));
        assert!(
            secret.verify(id, ts, body, &format!("v1,bm90IGl0 {good}")),
            "one matching signature among several is enough"
        );
        let invalid = vectors["invalid_against_second_valid_vector"].as_array().unwrap();
        assert_eq!(invalid.len(), 3);
        for header in invalid {
            assert!(!secret.verify(id, ts, body, header.as_str().unwrap()), "{header}");
        }
        assert!(!secret.verify(id, ts + 1, body, good), "the timestamp is signed");
    }

    #[test]
    fn generated_secrets_round_trip_and_never_debug_print() {
        let secret = SigningSecret::generate();
        let text = secret.expose();
        assert!(text.starts_with("whsec_"));
        assert_eq!(SigningSecret::parse(&text), Ok(secret.clone()));
        assert!(!format!("{secret:?}").contains(&text[6..]));
        assert_eq!(SigningSecret::parse("whsec_"), Err(SecretError::Malformed));
        assert_eq!(SigningSecret::parse("sk_abc"), Err(SecretError::Malformed));
    }
}
