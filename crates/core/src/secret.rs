//! A string that must never reach a log, an API response or the UI after creation.
//!
//! `Debug` and `Display` print a mask; the only way to the value is [`Secret::expose`], which
//! makes every use that sends it somewhere easy to find.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer};

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(Arc<str>);

impl Secret {
    pub fn new(value: impl Into<Arc<str>>) -> Self {
        Self(value.into())
    }

    /// The real value, for the one place that sends it (a header, a comparison, a file).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this secret, compared in constant time (a credential check
    /// must not tell a guesser how many characters were right).
    pub fn matches(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(presented.as_bytes().ct_eq(self.0.as_bytes()))
    }

    /// A new random secret: `prefix` and 40 alphanumerics (~238 bits).
    pub fn random(prefix: &str) -> Self {
        use rand::Rng;
        let body: String = rand::rng()
            .sample_iter(&rand::distr::Alphanumeric)
            .take(40)
            .map(char::from)
            .collect();
        Self::new(format!("{prefix}{body}"))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A short, non-reversible hint for humans ("sk-a…9f"), never more than 4 characters
    /// of the value, and nothing at all for short secrets.
    pub fn hint(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        if chars.len() < 16 {
            return "…".to_owned();
        }
        let head: String = chars[..2].iter().collect();
        let tail: String = chars[chars.len() - 2..].iter().collect();
        format!("{head}…{tail}")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let s = Secret::new("sk-very-secret-value-123456");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(s.hint(), "sk…56");
        assert_eq!(Secret::new("short").hint(), "…");
        assert_eq!(s.expose(), "sk-very-secret-value-123456");
    }

    #[test]
    fn matches_only_the_whole_value() {
        let s = Secret::new("sk-right-value");
        assert!(s.matches("sk-right-value"));
        for wrong in ["sk-right-valu", "sk-right-value2", "SK-RIGHT-VALUE", ""] {
            assert!(!s.matches(wrong), "{wrong}");
        }
    }
}
