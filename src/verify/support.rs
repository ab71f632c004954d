//! What the schemes share: key lists, HMAC, constant-time token comparison,
//! header access and timestamp windows.
//!
//! Every comparison of received material against a secret goes through
//! here, so "is this constant-time?" has one answer to check: MACs are
//! compared by `hmac`'s `verify_slice` (built on `subtle`), and tokens by
//! comparing SHA-256 digests with `subtle`, which also hides the token's
//! length.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::VerifyError;
use crate::config::secret::Secret;
use crate::config::spec::HmacAlgorithm;
use crate::config::ConfigError;

/// Key material, tried in order (rotation). Never printed.
#[derive(Clone)]
pub struct Keys(Vec<Vec<u8>>);

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keys(*** x{})", self.0.len())
    }
}

impl Keys {
    pub fn new(keys: Vec<Vec<u8>>) -> Self {
        Keys(keys)
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.0.iter().map(Vec::as_slice)
    }

    /// True when any key's HMAC over the concatenated `parts` equals
    /// `expected`. Every key is tried, so the time taken does not say which
    /// key (if any) matched.
    pub fn any_hmac(&self, algorithm: HmacAlgorithm, parts: &[&[u8]], expected: &[u8]) -> bool {
        let mut ok = false;
        for key in self.iter() {
            ok |= hmac_matches(algorithm, key, parts, expected);
        }
        ok
    }

    /// True when `received` equals any key, compared in constant time.
    pub fn any_token(&self, received: &[u8]) -> bool {
        let mut ok = subtle::Choice::from(0);
        for key in self.iter() {
            ok |= token_eq(key, received);
        }
        ok.into()
    }
}

/// Collects `secret` / `secrets` into the list of secrets to try; `one` and
/// `many` are the key names as written (`secret`, `secrets`).
pub(crate) fn secret_list(
    one: Option<&Secret>,
    many: Option<&[Secret]>,
    path: &str,
    (one_key, many_key): (&str, &str),
    errors: &mut Vec<ConfigError>,
) -> Option<Vec<Secret>> {
    let list: Vec<Secret> = match (one, many) {
        (Some(_), Some(_)) => {
            errors.push(ConfigError::new(
                path,
                format!("write either `{one_key}` or `{many_key}` (a list, for rotation), not both"),
            ));
            return None;
        }
        (Some(s), None) => vec![s.clone()],
        (None, Some(list)) if !list.is_empty() => list.to_vec(),
        (None, Some(_)) => {
            errors.push(ConfigError::new(format!("{path}.{many_key}"), "list at least one secret"));
            return None;
        }
        (None, None) => {
            errors.push(ConfigError::new(
                path,
                format!("missing `{one_key}` (or `{many_key}: [...]` to accept several during a rotation)"),
            ));
            return None;
        }
    };
    let mut ok = true;
    for (i, s) in list.iter().enumerate() {
        if s.is_empty() {
            let key = if one.is_some() { format!("{path}.{one_key}") } else { format!("{path}.{many_key}[{i}]") };
            errors
                .push(ConfigError::new(key, "is empty; an empty secret would let anyone sign (is its variable set?)"));
            ok = false;
        }
    }
    ok.then_some(list)
}

/// The key path of secret `i` of a list gathered by [`secret_list`].
pub(crate) fn secret_path(path: &str, single: bool, (one_key, many_key): (&str, &str), i: usize) -> String {
    if single {
        format!("{path}.{one_key}")
    } else {
        format!("{path}.{many_key}[{i}]")
    }
}

/// Keys that are the secrets' bytes as written.
pub(crate) fn raw_keys(secrets: &[Secret]) -> Keys {
    Keys(secrets.iter().map(|s| s.expose().as_bytes().to_vec()).collect())
}

pub(crate) fn hmac_matches(algorithm: HmacAlgorithm, key: &[u8], parts: &[&[u8]], expected: &[u8]) -> bool {
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]], expected: &[u8]) -> bool {
        let Ok(mut mac) = <M as hmac::digest::KeyInit>::new_from_slice(key) else { return false };
        for part in parts {
            mac.update(part);
        }
        mac.verify_slice(expected).is_ok()
    }
    match algorithm {
        HmacAlgorithm::Sha1 => run::<Hmac<sha1::Sha1>>(key, parts, expected),
        HmacAlgorithm::Sha256 => run::<Hmac<Sha256>>(key, parts, expected),
        HmacAlgorithm::Sha512 => run::<Hmac<sha2::Sha512>>(key, parts, expected),
    }
}

/// Constant-time equality that does not reveal either length: both sides
/// are hashed first, and the digests compared with `subtle`.
pub(crate) fn token_eq(expected: &[u8], received: &[u8]) -> subtle::Choice {
    Sha256::digest(expected).ct_eq(&Sha256::digest(received))
}

/// The first value of header `name` (lower-case), as text.
pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, VerifyError> {
    let value = headers.get(name).ok_or(VerifyError::MissingHeader(name))?;
    value.to_str().map_err(|_| VerifyError::Malformed { header: name, reason: "not visible ASCII" })
}

/// The first of several alternative header names that is present.
pub(crate) fn header_any<'a>(headers: &'a HeaderMap, names: &[&'static str]) -> Result<&'a str, VerifyError> {
    for name in names {
        if headers.contains_key(*name) {
            return header(headers, name);
        }
    }
    Err(VerifyError::MissingHeader(names.first().copied().unwrap_or("?")))
}

/// A Unix timestamp in seconds: ASCII digits only, no sign, no spaces.
pub(crate) fn parse_unix(text: &str, header: &'static str) -> Result<i64, VerifyError> {
    let malformed = VerifyError::Malformed { header, reason: "timestamp is not a whole number of seconds" };
    if text.is_empty() || text.len() > 18 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed);
    }
    text.parse().map_err(|_| malformed)
}

pub(crate) fn unix_now(now: SystemTime) -> i64 {
    match now.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// Checks a signed timestamp against the clock. `reject_future`: whether a
/// timestamp ahead of the clock by more than the tolerance is refused too.
pub(crate) fn check_window(
    timestamp: i64,
    now: i64,
    tolerance_secs: u64,
    reject_future: bool,
) -> Result<(), VerifyError> {
    let tolerance = i128::from(tolerance_secs);
    let age = i128::from(now) - i128::from(timestamp);
    if age > tolerance {
        return Err(VerifyError::Expired);
    }
    if reject_future && -age > tolerance {
        return Err(VerifyError::Future);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows() {
        assert_eq!(check_window(1000, 1300, 300, true), Ok(()));
        assert_eq!(check_window(1000, 1301, 300, true), Err(VerifyError::Expired));
        assert_eq!(check_window(1301, 1000, 300, true), Err(VerifyError::Future));
        assert_eq!(check_window(1301, 1000, 300, false), Ok(()));
        assert_eq!(check_window(i64::MAX, i64::MIN, 300, true), Err(VerifyError::Future));
        assert_eq!(check_window(i64::MIN, i64::MAX, 300, false), Err(VerifyError::Expired));
    }

    #[test]
    fn timestamps_are_digits() {
        assert_eq!(parse_unix("1614265330", "t"), Ok(1614265330));
        for bad in ["", "+1", "-1", " 1", "1e3", "99999999999999999999"] {
            assert!(parse_unix(bad, "t").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tokens() {
        let keys = raw_keys(&[Secret::new("old"), Secret::new("new")]);
        assert!(keys.any_token(b"old") && keys.any_token(b"new"));
        assert!(!keys.any_token(b"ne") && !keys.any_token(b""));
        assert_eq!(format!("{keys:?}"), "Keys(*** x2)");
    }
}
