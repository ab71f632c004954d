//! `bearer`: `Authorization: Bearer <token>` with a configured token.
//!
//! For senders that can only be given a static credential. The token
//! proves knowledge of a secret, not the integrity of the body; use HTTPS in
//! front. The scheme word is case-insensitive (RFC 7235); the token is
//! compared in constant time.

use std::time::SystemTime;

use http::header::AUTHORIZATION;
use http::HeaderMap;

use super::support::{raw_keys, secret_list, Keys};
use super::{Verify, VerifyError};
use crate::config::spec::TokenVerifySpec;
use crate::config::ConfigError;

/// Compiled `bearer`: the accepted tokens.
#[derive(Debug)]
pub struct Bearer {
    tokens: Keys,
}

impl Bearer {
    pub(crate) fn compile(spec: &TokenVerifySpec, path: &str, errors: &mut Vec<ConfigError>) -> Option<Bearer> {
        let tokens = secret_list(spec.token.as_ref(), spec.tokens.as_deref(), path, ("token", "tokens"), errors)?;
        Some(Bearer { tokens: raw_keys(&tokens) })
    }
}

/// The credential of an `Authorization` value with the given scheme word
/// (`Bearer`, `Basic`), compared case-insensitively.
pub fn credentials<'a>(value: &'a [u8], scheme: &str) -> Result<&'a [u8], VerifyError> {
    let malformed = VerifyError::Malformed { header: "authorization", reason: "wrong authentication scheme" };
    let value = value.trim_ascii();
    let n = scheme.len();
    if value.len() <= n || !value[..n].eq_ignore_ascii_case(scheme.as_bytes()) || value[n] != b' ' {
        return Err(malformed);
    }
    Ok(value[n + 1..].trim_ascii())
}

impl Verify for Bearer {
    fn verify(&self, headers: &HeaderMap, _body: &[u8], _now: SystemTime) -> Result<(), VerifyError> {
        let value = headers.get(AUTHORIZATION).ok_or(VerifyError::MissingHeader("authorization"))?;
        let token = credentials(value.as_bytes(), "bearer")?;
        if self.tokens.any_token(token) {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_word() {
        assert_eq!(credentials(b"Bearer abc", "bearer"), Ok(&b"abc"[..]));
        assert_eq!(credentials(b"bearer  abc ", "bearer"), Ok(&b"abc"[..]));
        assert!(credentials(b"Bearerabc", "bearer").is_err());
        assert!(credentials(b"Basic abc", "bearer").is_err());
        assert!(credentials(b"Bearer", "bearer").is_err());
    }
}
