//! Sealing secrets at rest (endpoint credentials): AES-256-GCM under one deployment key, each
//! value with its own random 96-bit nonce, stored as `v2:<base64(nonce || ciphertext || tag)>`.
//!
//! A `v2` value is bound to where it is stored: the tenant, the item and the attribute are
//! AES-GCM's associated data ([`Binding`]), so a value copied into another endpoint, another
//! tenant or another field does not open. Values written before binding existed (`v1:`, no
//! associated data) still open, and are sealed again as `v2` when their attribute is next written
//! (an endpoint update for credentials, headers and URL; a rotation for signing secrets).

use std::fmt;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;

const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 12;
const TAG_BYTES: usize = 16;
/// Unbound values, written before [`Binding`] existed: read, never written.
const PREFIX: &str = "v1:";
const BOUND_PREFIX: &str = "v2:";

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the sealing key must be 32 bytes in standard base64")]
    InvalidKey,
    #[error("not a sealed value (`v1:` or `v2:` followed by base64)")]
    Malformed,
    /// The value was sealed under another key, or changed since.
    #[error("the sealed value does not open with this key, or was altered")]
    Rejected,
}

/// Where a sealed value lives: the tenant, the item (its sort key, e.g. `EP#ep_…`) and the
/// attribute. Opening it anywhere else fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Binding<'a> {
    pub tenant: &'a str,
    pub item: &'a str,
    pub field: &'a str,
}

impl Binding<'_> {
    /// The associated data: the parts separated by NUL, which no id or attribute name holds,
    /// so no two bindings share it.
    fn associated_data(&self) -> Vec<u8> {
        [BOUND_PREFIX, self.tenant, self.item, self.field].join("\0").into_bytes()
    }
}

/// Seals and opens secrets with one 256-bit key. `Debug` never shows the key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
    /// Kept only to derive other purposes' keys ([`SecretBox::derive_key`]); never used raw.
    root: [u8; KEY_BYTES],
}

impl SecretBox {
    /// A key given as 32 bytes in standard base64 (surrounding whitespace is ignored).
    pub fn from_base64(key: &str) -> Result<Self, CryptoError> {
        let bytes = STANDARD.decode(key.trim()).map_err(|_| CryptoError::InvalidKey)?;
        if bytes.len() != KEY_BYTES {
            return Err(CryptoError::InvalidKey);
        }
        let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| CryptoError::InvalidKey)?;
        let root: [u8; KEY_BYTES] = bytes.as_slice().try_into().map_err(|_| CryptoError::InvalidKey)?;
        Ok(Self { cipher, root })
    }

    /// A fresh random key in the form [`SecretBox::from_base64`] takes, for local development.
    pub fn generate_key_base64() -> String {
        let mut key = [0u8; KEY_BYTES];
        rand::rng().fill_bytes(&mut key);
        STANDARD.encode(key)
    }

    /// A 256-bit key for another purpose, derived from the deployment key and a label
    /// (HMAC-SHA256(key, label)), so one secret serves several uses without reusing the AES key
    /// itself: portal sessions are signed with `derive_key(b"hookline/portal-session/v1")`.
    pub fn derive_key(&self, label: &[u8]) -> [u8; 32] {
        use hmac::Mac;
        let mut mac = hmac_sha256(&self.root);
        mac.update(label);
        mac.finalize().into_bytes().into()
    }

    /// `v1:` + base64(nonce || ciphertext || tag). Sealing the same plaintext twice gives two
    /// different values.
    ///
    /// # Panics
    ///
    /// Only for a plaintext beyond AES-GCM's limit of about 64 GiB.
    pub fn seal(&self, plaintext: &[u8]) -> String {
        self.seal_with(PREFIX, plaintext, b"")
    }

    /// `v2:` + base64(nonce || ciphertext || tag), opening only with the same `binding`.
    ///
    /// # Panics
    ///
    /// Only for a plaintext beyond AES-GCM's limit of about 64 GiB.
    pub fn seal_bound(&self, plaintext: &[u8], binding: Binding<'_>) -> String {
        self.seal_with(BOUND_PREFIX, plaintext, &binding.associated_data())
    }

    fn seal_with(&self, prefix: &str, msg: &[u8], aad: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let Ok(ciphertext) = self.cipher.encrypt(&Nonce::from(nonce), Payload { msg, aad }) else {
            unreachable!("AES-GCM only refuses plaintexts over 64 GiB");
        };
        let mut out = Vec::with_capacity(NONCE_BYTES + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        format!("{prefix}{}", STANDARD.encode(out))
    }

    /// The plaintext of a `v1` value [`SecretBox::seal`] made under this key.
    pub fn open(&self, sealed: &str) -> Result<Vec<u8>, CryptoError> {
        let encoded = sealed.strip_prefix(PREFIX).ok_or(CryptoError::Malformed)?;
        self.open_with(encoded, b"")
    }

    /// The plaintext of a value sealed for `binding` (`v2`), or of an unbound `v1` value.
    pub fn open_bound(&self, sealed: &str, binding: Binding<'_>) -> Result<Vec<u8>, CryptoError> {
        match sealed.strip_prefix(BOUND_PREFIX) {
            Some(encoded) => self.open_with(encoded, &binding.associated_data()),
            None => self.open(sealed),
        }
    }

    fn open_with(&self, encoded: &str, aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let bytes = STANDARD.decode(encoded).map_err(|_| CryptoError::Malformed)?;
        if bytes.len() < NONCE_BYTES + TAG_BYTES {
            return Err(CryptoError::Malformed);
        }
        let (nonce, msg) = bytes.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| CryptoError::Malformed)?;
        self.cipher.decrypt(&Nonce::from(nonce), Payload { msg, aad }).map_err(|_| CryptoError::Rejected)
    }
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox(<redacted>)")
    }
}

/// The deployment's key for secrets at rest, installed once per process: from
/// `HOOKLINE_ENCRYPTION_KEY` in the Lambdas, a fresh random key in local development and tests
/// (whose data lives no longer than the process's local AWS server).
static INSTALLED: std::sync::OnceLock<SecretBox> = std::sync::OnceLock::new();

/// Installs the process's key. The first call wins; later calls are ignored.
pub fn install(key: SecretBox) {
    let _ = INSTALLED.set(key);
}

/// Installs a random key unless one is installed (local development and tests).
pub fn install_random_if_missing() {
    if INSTALLED.get().is_none()
        && let Ok(key) = SecretBox::from_base64(&SecretBox::generate_key_base64())
    {
        install(key);
    }
}

/// Reads and installs `HOOKLINE_ENCRYPTION_KEY` (32 bytes, base64). The Lambdas refuse to start
/// without it.
pub fn install_from_env() -> Result<(), CryptoError> {
    let key = std::env::var("HOOKLINE_ENCRYPTION_KEY").map_err(|_| CryptoError::InvalidKey)?;
    install(SecretBox::from_base64(&key)?);
    Ok(())
}

/// The installed key, if any.
/// HMAC-SHA256 keyed with `key`: what every signature and derived key here is made with.
pub fn hmac_sha256(key: &[u8]) -> hmac::Hmac<sha2::Sha256> {
    use hmac::KeyInit;
    let Ok(mac) = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key) else {
        unreachable!("HMAC accepts keys of any length");
    };
    mac
}

pub fn installed() -> Option<&'static SecretBox> {
    INSTALLED.get()
}

/// Seals `plaintext` for `binding` with the installed key (`v2:…`); without one (never in a
/// deployment, whose functions refuse to start without a key) the text is kept as it is.
pub fn seal_text(plaintext: &str, binding: Binding<'_>) -> String {
    match installed() {
        Some(key) => key.seal_bound(plaintext.as_bytes(), binding),
        None => plaintext.to_owned(),
    }
}

/// Opens what [`seal_text`] wrote for `binding`, or an older unbound `v1` value; text that was
/// never sealed reads as itself.
pub fn open_text(stored: &str, binding: Binding<'_>) -> Result<String, CryptoError> {
    if !stored.starts_with(PREFIX) && !stored.starts_with(BOUND_PREFIX) {
        return Ok(stored.to_owned());
    }
    let key = installed().ok_or(CryptoError::InvalidKey)?;
    String::from_utf8(key.open_bound(stored, binding)?).map_err(|_| CryptoError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret_box() -> SecretBox {
        SecretBox::from_base64(&SecretBox::generate_key_base64()).unwrap()
    }

    #[test]
    fn sealed_values_open_to_the_plaintext() {
        let sb = secret_box();
        for plaintext in [&b""[..], b"s3cret", &[0u8, 255, 7, 128][..], "pässwörd".as_bytes()] {
            let sealed = sb.seal(plaintext);
            assert!(sealed.starts_with("v1:"), "{sealed}");
            assert!(!sealed.contains("s3cret"));
            assert_eq!(sb.open(&sealed).unwrap(), plaintext);
        }
    }

    #[test]
    fn two_seals_of_the_same_plaintext_differ() {
        let sb = secret_box();
        let a = sb.seal(b"same");
        let b = sb.seal(b"same");
        assert_ne!(a, b);
        assert_eq!(sb.open(&a).unwrap(), b"same");
        assert_eq!(sb.open(&b).unwrap(), b"same");
    }

    #[test]
    fn any_flipped_byte_is_detected() {
        let sb = secret_box();
        let sealed = sb.seal(b"{\"type\":\"bearer\",\"token\":\"abc\"}");
        let raw = STANDARD.decode(sealed.strip_prefix("v1:").unwrap()).unwrap();
        for i in 0..raw.len() {
            let mut tampered = raw.clone();
            tampered[i] ^= 0x01;
            let tampered = format!("v1:{}", STANDARD.encode(&tampered));
            assert_eq!(sb.open(&tampered), Err(CryptoError::Rejected), "byte {i}");
        }
        let mut truncated = raw.clone();
        truncated.pop();
        assert_eq!(sb.open(&format!("v1:{}", STANDARD.encode(&truncated))), Err(CryptoError::Rejected));
    }

    #[test]
    fn another_key_cannot_open() {
        let sealed = secret_box().seal(b"secret");
        assert_eq!(secret_box().open(&sealed), Err(CryptoError::Rejected));
    }

    #[test]
    fn malformed_values_are_refused() {
        let sb = secret_box();
        let sealed = sb.seal(b"x");
        for bad in [
            "",
            "secret",
            "v2:AAAA",
            "v1:not base64!",
            "v1:AAAA",
            // A nonce and a tag's worth minus one byte.
            &format!("v1:{}", STANDARD.encode([0u8; 27])),
            sealed.strip_prefix("v1:").unwrap(),
        ] {
            assert_eq!(sb.open(bad), Err(CryptoError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        assert!(SecretBox::from_base64(&STANDARD.encode([7u8; 32])).is_ok());
        assert!(SecretBox::from_base64(&format!("{}\n", STANDARD.encode([7u8; 32]))).is_ok());
        for bad in [String::new(), STANDARD.encode([7u8; 16]), STANDARD.encode([7u8; 33]), "!!".into()] {
            assert_eq!(SecretBox::from_base64(&bad).unwrap_err(), CryptoError::InvalidKey, "{bad:?}");
        }
        let generated = SecretBox::generate_key_base64();
        assert_eq!(STANDARD.decode(&generated).unwrap().len(), 32);
        assert_ne!(generated, SecretBox::generate_key_base64());
    }

    const HOME: Binding<'static> = Binding { tenant: "ten_A", item: "EP#ep_1", field: "auth" };

    #[test]
    fn bound_values_open_only_where_they_were_sealed() {
        let sb = secret_box();
        let sealed = sb.seal_bound(b"s3cret", HOME);
        assert!(sealed.starts_with("v2:"), "{sealed}");
        assert_eq!(sb.open_bound(&sealed, HOME).unwrap(), b"s3cret");
        for elsewhere in [
            Binding { tenant: "ten_B", ..HOME },
            Binding { item: "EP#ep_2", ..HOME },
            Binding { field: "secret", ..HOME },
            // The separator keeps the parts apart: moving a character across it changes the data.
            Binding { tenant: "ten_", item: "AEP#ep_1", ..HOME },
        ] {
            assert_eq!(sb.open_bound(&sealed, elsewhere), Err(CryptoError::Rejected), "{elsewhere:?}");
        }
        // Relabelled as an unbound value, it does not open either.
        let relabelled = sealed.replacen("v2:", "v1:", 1);
        assert_eq!(sb.open_bound(&relabelled, HOME), Err(CryptoError::Rejected));
        assert_eq!(sb.open(&relabelled), Err(CryptoError::Rejected));
    }

    #[test]
    fn values_sealed_before_binding_still_open() {
        let sb = secret_box();
        let legacy = sb.seal(b"old secret");
        assert!(legacy.starts_with("v1:"));
        assert_eq!(sb.open_bound(&legacy, HOME).unwrap(), b"old secret");
    }

    #[test]
    fn debug_hides_the_key() {
        let key = STANDARD.encode([0xABu8; 32]);
        let shown = format!("{:?}", SecretBox::from_base64(&key).unwrap());
        assert_eq!(shown, "SecretBox(<redacted>)");
        assert!(!shown.contains(&key));
    }
}
