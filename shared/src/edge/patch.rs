//! A PATCH field: left out (unchanged), `null` (cleared, where that means something) or a
//! value. serde cannot tell "absent" from `null` with `Option<T>`; this type can.

use serde::{Deserialize, Deserializer};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Patch<T> {
    /// Not in the body: keep what is there.
    #[default]
    Absent,
    /// `null`: back to the default (or "none", where the field says so).
    Null,
    Value(T),
}

impl<T> Patch<T> {
    /// The field after the patch, as a request's `Option` (`None`: the default).
    pub fn apply(self, current: Option<T>) -> Option<T> {
        match self {
            Self::Absent => current,
            Self::Null => None,
            Self::Value(v) => Some(v),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    /// Only called for a field that is present (give the field `#[serde(default)]`).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Option::<T>::deserialize(d)?.map_or(Self::Null, Self::Value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        a: Patch<u32>,
    }

    #[test]
    fn absent_null_and_a_value_are_three_things() {
        let parse = |json: &str| serde_json::from_str::<Body>(json).unwrap().a;
        assert_eq!(parse("{}"), Patch::Absent);
        assert_eq!(parse(r#"{"a": null}"#), Patch::Null);
        assert_eq!(parse(r#"{"a": 3}"#), Patch::Value(3));
        assert_eq!(parse("{}").apply(Some(1)), Some(1));
        assert_eq!(parse(r#"{"a": null}"#).apply(Some(1)), None);
    }
}
