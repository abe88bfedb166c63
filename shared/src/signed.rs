//! Tokens the API hands out and takes back, such as a recovery's `continuation`: base64url of
//! the claims' JSON, `.`, and base64url of an HMAC-SHA256 over it, under a key derived from the
//! deployment's `HOOKLINE_ENCRYPTION_KEY` for each purpose (its label). A client can carry one
//! but cannot change it or make one, and a token made for one purpose means nothing to another.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;

use crate::crypto::SecretBox;

/// The longest token accepted: far more than any claims this API signs.
const MAX_TOKEN_CHARS: usize = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Never in a deployment, whose functions refuse to start without a key.
    #[error("no encryption key is installed")]
    NoKey,
    /// Malformed, altered, signed by another deployment or for another purpose.
    #[error("not a token this API handed out")]
    Invalid,
}

fn mac(key: &SecretBox, label: &[u8]) -> Hmac<Sha256> {
    crate::crypto::hmac_sha256(&key.derive_key(label))
}

/// Signs `claims` for the purpose `label` with the installed key.
pub fn sign<T: Serialize>(label: &[u8], claims: &T) -> Result<String, TokenError> {
    sign_with(crate::crypto::installed().ok_or(TokenError::NoKey)?, label, claims)
}

/// The claims of a token [`sign`] made for `label` with the installed key.
pub fn verify<T: DeserializeOwned>(label: &[u8], token: &str) -> Result<T, TokenError> {
    verify_with(crate::crypto::installed().ok_or(TokenError::NoKey)?, label, token)
}

fn sign_with<T: Serialize>(key: &SecretBox, label: &[u8], claims: &T) -> Result<String, TokenError> {
    // Claims are plain data; one that cannot be written is a bug, not the caller's fault.
    let json = serde_json::to_vec(claims).map_err(|_| TokenError::Invalid)?;
    let body = URL_SAFE_NO_PAD.encode(json);
    let mut mac = mac(key, label);
    mac.update(body.as_bytes());
    Ok(format!("{body}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())))
}

/// Checks the signature (in constant time) before the claims are parsed.
fn verify_with<T: DeserializeOwned>(key: &SecretBox, label: &[u8], token: &str) -> Result<T, TokenError> {
    if token.len() > MAX_TOKEN_CHARS {
        return Err(TokenError::Invalid);
    }
    let (body, signature) = token.split_once('.').ok_or(TokenError::Invalid)?;
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| TokenError::Invalid)?;
    let mut mac = mac(key, label);
    mac.update(body.as_bytes());
    mac.verify_slice(&signature).map_err(|_| TokenError::Invalid)?;
    let json = URL_SAFE_NO_PAD.decode(body).map_err(|_| TokenError::Invalid)?;
    serde_json::from_slice(&json).map_err(|_| TokenError::Invalid)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Claims {
        after: String,
    }

    fn fresh_key() -> SecretBox {
        SecretBox::from_base64(&SecretBox::generate_key_base64()).unwrap()
    }

    #[test]
    fn a_signed_token_verifies_to_its_claims() {
        let key = fresh_key();
        let claims = Claims { after: "evt_01".into() };
        let token = sign_with(&key, b"test/v1", &claims).unwrap();
        assert_eq!(verify_with::<Claims>(&key, b"test/v1", &token), Ok(claims));
    }

    #[test]
    fn an_altered_token_another_purpose_another_deployment_or_garbage_is_refused() {
        let key = fresh_key();
        let token = sign_with(&key, b"test/v1", &Claims { after: "evt_01".into() }).unwrap();
        let (_, signature) = token.split_once('.').unwrap();
        let other_body = URL_SAFE_NO_PAD.encode(br#"{"after":"evt_99"}"#);
        let refused = |text: &str, key: &SecretBox, label: &[u8]| {
            assert_eq!(verify_with::<Claims>(key, label, text), Err(TokenError::Invalid), "{text}");
        };
        refused(&format!("{other_body}.{signature}"), &key, b"test/v1");
        refused(&token, &key, b"other/v1");
        refused(&token, &fresh_key(), b"test/v1");
        refused(&format!("{token}x"), &key, b"test/v1");
        for garbage in ["", ".", "abc", "a.b.c", &"a".repeat(MAX_TOKEN_CHARS + 1)] {
            refused(garbage, &key, b"test/v1");
        }
    }
}
