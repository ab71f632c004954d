//! `basic`: HTTP Basic authentication, `Authorization: Basic
//! base64(username:password)`.
//!
//! For senders that only support URL credentials. Like `bearer`, it proves
//! knowledge of a secret but not the integrity of the body. Username and
//! password are both compared in constant time, and both always compared,
//! so the answer time does not say which one was wrong.

use std::time::SystemTime;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::header::AUTHORIZATION;
use http::HeaderMap;
use subtle::Choice;

use super::bearer::credentials;
use super::support::token_eq;
use super::{Verify, VerifyError};
use crate::config::secret::Secret;
use crate::config::spec::BasicVerifySpec;
use crate::config::ConfigError;

/// Compiled `basic`: the accepted user and password pairs.
#[derive(Debug)]
pub struct Basic {
    users: Vec<(String, Secret)>,
}

impl Basic {
    pub(crate) fn compile(spec: &BasicVerifySpec, path: &str, errors: &mut Vec<ConfigError>) -> Option<Basic> {
        let users: Vec<(String, Secret)> = match (&spec.username, &spec.password, &spec.users) {
            (Some(u), Some(p), None) => vec![(u.clone(), p.clone())],
            (None, None, Some(list)) if !list.is_empty() => {
                list.iter().map(|u| (u.username.clone(), u.password.clone())).collect()
            }
            (None, None, Some(_)) => {
                errors.push(ConfigError::new(format!("{path}.users"), "list at least one user"));
                return None;
            }
            (_, _, Some(_)) => {
                errors.push(ConfigError::new(
                    path,
                    "write either `username` and `password`, or `users: [...]` (for rotation), not both",
                ));
                return None;
            }
            _ => {
                errors.push(ConfigError::new(path, "needs `username` and `password` (or `users: [...]`)"));
                return None;
            }
        };
        if users.iter().any(|(u, p)| u.is_empty() || p.is_empty()) {
            errors.push(ConfigError::new(path, "username and password must not be empty (is a variable unset?)"));
            return None;
        }
        if users.iter().any(|(u, _)| u.contains(':')) {
            errors.push(ConfigError::new(path, "a Basic username cannot contain `:`"));
            return None;
        }
        Some(Basic { users })
    }
}

/// Username and password of an `Authorization: Basic ...` value.
pub fn parse_header(value: &[u8]) -> Result<(Vec<u8>, Vec<u8>), VerifyError> {
    let malformed = |reason| VerifyError::Malformed { header: "authorization", reason };
    let encoded = credentials(value, "basic")?;
    let decoded = STANDARD.decode(encoded).map_err(|_| malformed("credentials are not base64"))?;
    let colon = decoded.iter().position(|b| *b == b':').ok_or(malformed("credentials have no `:`"))?;
    Ok((decoded[..colon].to_vec(), decoded[colon + 1..].to_vec()))
}

impl Verify for Basic {
    fn verify(&self, headers: &HeaderMap, _body: &[u8], _now: SystemTime) -> Result<(), VerifyError> {
        let value = headers.get(AUTHORIZATION).ok_or(VerifyError::MissingHeader("authorization"))?;
        let (user, password) = parse_header(value.as_bytes())?;
        let mut ok = Choice::from(0);
        for (u, p) in &self.users {
            ok |= token_eq(u.as_bytes(), &user) & token_eq(p.expose().as_bytes(), &password);
        }
        if bool::from(ok) {
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
    fn parses_credentials() {
        // RFC 7617's example.
        let (u, p) = parse_header(b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==").unwrap();
        assert_eq!((u.as_slice(), p.as_slice()), (&b"Aladdin"[..], &b"open sesame"[..]));
        assert!(parse_header(b"Basic !!!").is_err());
        assert!(parse_header(b"Basic YWJj").is_err());
    }
}
