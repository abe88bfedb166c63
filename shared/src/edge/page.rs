//! The one page type of every list, and its cursor.
//!
//! A cursor is `base64url(position) "." base64url(tag)`, where the position is where the list
//! goes on (an id or name the caller has already seen, never a storage key) and the tag is the
//! first 16 bytes of HMAC-SHA256 over the list's name, the caller's scope and the position,
//! under a key derived from the deployment's key. So a cursor is opaque, cannot be forged or
//! edited, and opens only for the list and caller it was handed to: any other is a 422
//! `invalid_cursor`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac;
use serde::{Deserialize, Deserializer, Serialize};

use super::ErrorCode;
use crate::domain::{FieldError, Invalid};
use crate::web::ApiError;

/// The page size when the caller gives none.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// The largest page a caller may ask for.
pub const MAX_PAGE_SIZE: usize = crate::store::MAX_PAGE_SIZE;

const TAG_BYTES: usize = 16;
const KEY_LABEL: &[u8] = b"hookline/list-cursor/v1";
/// Positions are ids and names; anything longer was not made here.
const MAX_POSITION_BYTES: usize = 512;

/// A page of a list: `{"data": [...], "next_cursor": "..." | null}`. Pass `next_cursor` back as
/// `?cursor=` for the next page; `null` means there is none.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Opaque; pass it as `cursor` for the next page. `null`: this was the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A list small enough to come whole (an event's attempts, a tenant's API keys): the same
    /// shape, with no next page.
    pub fn whole(data: Vec<T>) -> Self {
        Self { data, next_cursor: None }
    }
}

/// `?limit=`: 1 to [`MAX_PAGE_SIZE`], [`DEFAULT_PAGE_SIZE`] when absent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit(usize);

impl Limit {
    pub fn of(limit: Option<Limit>) -> usize {
        limit.map_or(DEFAULT_PAGE_SIZE, |l| l.0)
    }
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        match text.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(Self(n)),
            _ => Err(serde::de::Error::custom(format!("an integer from 1 to {MAX_PAGE_SIZE}"))),
        }
    }
}

/// The query of a list that only pages: `?limit=&cursor=`. Lists with filters have these two
/// fields among theirs.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Items per page: 1 to 100, default 50.
    #[param(value_type = Option<usize>, minimum = 1, maximum = 100)]
    pub limit: Option<Limit>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<String>)]
    pub cursor: Option<Cursor>,
}

/// `?cursor=` as given: checked for its form here, for its tag by [`Lister::open`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    position: Vec<u8>,
    tag: Vec<u8>,
}

impl<'de> Deserialize<'de> for Cursor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let invalid = || serde::de::Error::custom("not a cursor this API returned");
        let (position, tag) = text.split_once('.').ok_or_else(invalid)?;
        let position = URL_SAFE_NO_PAD.decode(position).map_err(|_| invalid())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
        if position.is_empty() || position.len() > MAX_POSITION_BYTES || tag.len() != TAG_BYTES {
            return Err(invalid());
        }
        Ok(Self { position, tag })
    }
}

/// Which list a cursor belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum List {
    Tenants,
    EventTypes,
    Events,
    Endpoints,
    EndpointAttempts,
}

impl List {
    fn name(self) -> &'static str {
        match self {
            Self::Tenants => "tenants",
            Self::EventTypes => "event-types",
            Self::Events => "events",
            Self::Endpoints => "endpoints",
            Self::EndpointAttempts => "endpoint-attempts",
        }
    }
}

/// One list as one caller sees it: opens the cursors it was given and seals the next one.
pub struct Lister {
    /// The list's name and whose list it is (the tenant, or the tenant and the endpoint; the
    /// operator's tenant list has none), each preceded by its length so no two lists and
    /// scopes share these bytes.
    context: Vec<u8>,
}

impl Lister {
    pub fn new(list: List, scope: &[&str]) -> Self {
        let mut context = Vec::new();
        for part in std::iter::once(list.name()).chain(scope.iter().copied()) {
            context.extend_from_slice(&(part.len() as u64).to_be_bytes());
            context.extend_from_slice(part.as_bytes());
        }
        Self { context }
    }

    fn tag(&self, position: &[u8]) -> Vec<u8> {
        let mut mac = crate::crypto::hmac_sha256(&key());
        mac.update(&self.context);
        mac.update(position);
        mac.finalize().into_bytes()[..TAG_BYTES].to_vec()
    }

    /// The cursor that goes on after `position`.
    pub fn seal(&self, position: &str) -> String {
        let tag = self.tag(position.as_bytes());
        format!("{}.{}", URL_SAFE_NO_PAD.encode(position), URL_SAFE_NO_PAD.encode(tag))
    }

    /// The position a cursor of this list and caller holds; any other cursor is a 422
    /// `invalid_cursor`.
    pub fn open(&self, cursor: Option<&Cursor>) -> Result<Option<String>, ApiError> {
        let Some(cursor) = cursor else { return Ok(None) };
        let mut mac_ok = false;
        let expected = self.tag(&cursor.position);
        // Constant-time comparison of the tags.
        if expected.len() == cursor.tag.len() {
            mac_ok = expected.iter().zip(&cursor.tag).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        }
        match String::from_utf8(cursor.position.clone()) {
            Ok(position) if mac_ok => Ok(Some(position)),
            _ => Err(invalid_cursor()),
        }
    }

    /// The page answered for `data` with the store's next position.
    pub fn page<T>(&self, data: Vec<T>, next: Option<&str>) -> Page<T> {
        Page { data, next_cursor: next.map(|p| self.seal(p)) }
    }
}

fn invalid_cursor() -> ApiError {
    ApiError::Refused {
        code: ErrorCode::InvalidCursor,
        errors: Invalid(vec![FieldError::new("cursor", "not a cursor this API returned for this list and caller")]),
    }
}

/// The cursors' key: derived from the deployment's key, or a random one per process where none
/// is installed (cursors then last as long as the process).
fn key() -> [u8; 32] {
    static FALLBACK: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    match crate::crypto::installed() {
        Some(key) => key.derive_key(KEY_LABEL),
        None => *FALLBACK.get_or_init(|| {
            let mut key = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
            key
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(text: &str) -> Option<Cursor> {
        serde_json::from_value(serde_json::Value::String(text.to_owned())).ok()
    }

    #[test]
    fn a_cursor_opens_for_its_list_and_scope_only() {
        let mine = Lister::new(List::Events, &["ten_a"]);
        let sealed = mine.seal("evt_01ARZ3NDEKTSV4RRFFQ69G5FAV");
        assert!(!sealed.contains('#') && !sealed.contains("EVT"), "{sealed}");
        let c = cursor(&sealed).unwrap();
        assert_eq!(mine.open(Some(&c)).unwrap().as_deref(), Some("evt_01ARZ3NDEKTSV4RRFFQ69G5FAV"));
        assert!(Lister::new(List::Events, &["ten_b"]).open(Some(&c)).is_err());
        assert!(Lister::new(List::Endpoints, &["ten_a"]).open(Some(&c)).is_err());
        // The scope's parts are length-prefixed: ["ten_a", ""] is not ["ten_a"].
        assert!(Lister::new(List::Events, &["ten_a", ""]).open(Some(&c)).is_err());
    }

    #[test]
    fn an_edited_cursor_is_refused() {
        let lister = Lister::new(List::Tenants, &[]);
        let sealed = lister.seal("ten_01ARZ3NDEKTSV4RRFFQ69G5FAV");
        let (_, tag) = sealed.split_once('.').unwrap();
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode("ten_01ARZ3NDEKTSV4RRFFQ69G5FAW"));
        assert!(lister.open(Some(&cursor(&forged).unwrap())).is_err());
        for malformed in ["", "abc", "!!.!!", "YQ.YQ"] {
            assert!(cursor(malformed).is_none(), "{malformed}");
        }
    }
}
