//! Secret values in the config: HMAC keys, tokens, passwords.
//!
//! A [`Secret`] is a string that never prints. Its `Debug` and `Display`
//! both write `***`, so a secret cannot leak through a log line, a `check`
//! message or an admin endpoint that formats a spec, even by accident. Its
//! decoder accepts any scalar (a numeric token written without quotes is
//! still a token) and, when the value has the wrong shape, says so without
//! quoting it: serde's own "invalid type" messages would echo the value.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A secret string. Read it with [`Secret::expose`], only where it is used.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself. Call only to key a MAC or compare a token.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Where each secret of a config is used (`admin_token`, `route "github":
/// verify`), with a SHA-256 digest of the value(s) used there. A reload
/// compares two of these to say which secrets were rotated, by place and
/// never by value, without keeping a second copy of any secret.
pub(crate) type SecretDigests = BTreeMap<String, [u8; 32]>;

/// The digest of the secrets used in one place, in order.
pub(crate) fn digest<'a>(secrets: impl IntoIterator<Item = &'a Secret>) -> [u8; 32] {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    for secret in secrets {
        // Length first, so ["ab", "c"] and ["a", "bc"] differ.
        hasher.update((secret.0.len() as u64).to_le_bytes());
        hasher.update(secret.0.as_bytes());
    }
    hasher.finalize().into()
}

impl schemars::JsonSchema for Secret {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Secret".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": ["string", "number"],
            "description": "A secret; write `${VAR}` or `${file:/run/secrets/name}` rather than the value itself."
        })
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SecretVisitor;
        impl<'de> Visitor<'de> for SecretVisitor {
            type Value = Secret;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a secret string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Secret, E> {
                Ok(Secret(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Secret, E> {
                // A float has already lost digits; quote the value instead.
                Err(E::custom("a secret must be a string (put it in quotes); the value is not shown"))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Secret, E> {
                Err(E::custom("a secret must be a string (put it in quotes); the value is not shown"))
            }
            fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Secret, E> {
                Err(E::custom("a secret must be a string; the value is not shown"))
            }
        }
        d.deserialize_any(SecretVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints() {
        let s: Secret = serde_yaml::from_str("hunter2").unwrap();
        assert_eq!(s.expose(), "hunter2");
        assert_eq!(format!("{s:?} {s}"), "*** ***");
        let n: Secret = serde_yaml::from_str("123456").unwrap();
        assert_eq!(n.expose(), "123456");
        let err = serde_yaml::from_str::<Secret>("1.5").unwrap_err().to_string();
        assert!(!err.contains("1.5"), "{err}");
    }
}
