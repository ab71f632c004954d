//! Standard Webhooks (and Svix, which uses `svix-` header names).
//!
//! Headers `webhook-id`, `webhook-timestamp` and `webhook-signature`, the
//! last a space-separated list of `v1,<base64 MAC>` entries (several during
//! a key rotation; other versions such as `v1a` are ignored). The MAC is
//! HMAC-SHA256 over `"{id}.{timestamp}.{raw body}"`, keyed by the *base64
//! decoded* part of the secret after `whsec_` — the difference from Stripe,
//! whose `whsec_` secrets are used as text. Following the reference
//! libraries, timestamps more than the tolerance in the past *or* the
//! future are refused, and the timestamp is signed as its decimal number.

use std::time::SystemTime;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::HeaderMap;

use super::support::{self, secret_list, secret_path, Keys};
use super::{tolerance, Verify, VerifyError};
use crate::config::spec::{HmacAlgorithm, StandardWebhooksVerifySpec};
use crate::config::ConfigError;

pub(crate) const ID_HEADERS: [&str; 2] = ["webhook-id", "svix-id"];
pub(crate) const TIMESTAMP_HEADERS: [&str; 2] = ["webhook-timestamp", "svix-timestamp"];
pub(crate) const SIGNATURE_HEADERS: [&str; 2] = ["webhook-signature", "svix-signature"];

/// Longest `webhook-signature` value looked at; a rotation has a handful of
/// entries, and this bounds the work an attacker can ask for.
const MAX_SIGNATURES: usize = 16;

/// Compiled `standard_webhooks`: the decoded secrets and the timestamp tolerance.
#[derive(Debug)]
pub struct StandardWebhooks {
    keys: Keys,
    tolerance_secs: u64,
}

impl StandardWebhooks {
    pub(crate) fn compile(
        spec: &StandardWebhooksVerifySpec,
        path: &str,
        errors: &mut Vec<ConfigError>,
    ) -> Option<StandardWebhooks> {
        let names = ("secret", "secrets");
        let secrets = secret_list(spec.secret.as_ref(), spec.secrets.as_deref(), path, names, errors);
        let tolerance_secs = tolerance(spec.tolerance, path, errors);
        let secrets = secrets?;
        let mut keys = Vec::with_capacity(secrets.len());
        for (i, s) in secrets.iter().enumerate() {
            match decode_secret(s.expose()) {
                Ok(k) => keys.push(k),
                Err(msg) => {
                    errors.push(ConfigError::new(secret_path(path, spec.secret.is_some(), names, i), msg));
                }
            }
        }
        (keys.len() == secrets.len())
            .then_some(StandardWebhooks { keys: Keys::new(keys), tolerance_secs: tolerance_secs? })
    }
}

/// The HMAC key of a `whsec_<base64>` secret (the prefix is optional, as in
/// the reference libraries). The error never quotes the secret.
pub fn decode_secret(secret: &str) -> Result<Vec<u8>, &'static str> {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    match STANDARD.decode(encoded) {
        Ok(key) if !key.is_empty() => Ok(key),
        Ok(_) => Err("is empty after `whsec_`"),
        Err(_) => Err("is not valid base64 after `whsec_` (copy the whole `whsec_...` value from the provider)"),
    }
}

/// Every well-formed `v1` MAC in a signature header.
pub fn parse_signatures(value: &str) -> Vec<[u8; 32]> {
    value
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .take(MAX_SIGNATURES)
        .filter_map(|b64| {
            let mut mac = [0u8; 32];
            match STANDARD.decode_slice(b64, &mut mac) {
                Ok(32) => Some(mac),
                _ => None,
            }
        })
        .collect()
}

impl Verify for StandardWebhooks {
    fn verify(&self, headers: &HeaderMap, body: &[u8], now: SystemTime) -> Result<(), VerifyError> {
        let id = support::header_any(headers, &ID_HEADERS)?;
        let timestamp_text = support::header_any(headers, &TIMESTAMP_HEADERS)?;
        let signature_header = support::header_any(headers, &SIGNATURE_HEADERS)?;
        let timestamp = support::parse_unix(timestamp_text.trim(), TIMESTAMP_HEADERS[0])?;
        support::check_window(timestamp, support::unix_now(now), self.tolerance_secs, true)?;
        let signatures = parse_signatures(signature_header);
        if signatures.is_empty() {
            return Err(VerifyError::Malformed { header: SIGNATURE_HEADERS[0], reason: "no v1,<base64> signature" });
        }
        let timestamp = timestamp.to_string();
        let parts: [&[u8]; 5] = [id.as_bytes(), b".", timestamp.as_bytes(), b".", body];
        let mut matched = false;
        for sig in &signatures {
            matched |= self.keys.any_hmac(HmacAlgorithm::Sha256, &parts, sig);
        }
        if matched {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn check(secret: &str, id: &str, ts: u64, body: &str, sig: &str, svix: bool) -> Result<(), VerifyError> {
        let v = StandardWebhooks { keys: Keys::new(vec![decode_secret(secret).unwrap()]), tolerance_secs: 300 };
        let p = if svix { "svix" } else { "webhook" };
        let mut h = HeaderMap::new();
        h.insert(http::HeaderName::from_bytes(format!("{p}-id").as_bytes()).unwrap(), id.parse().unwrap());
        h.insert(
            http::HeaderName::from_bytes(format!("{p}-timestamp").as_bytes()).unwrap(),
            ts.to_string().parse().unwrap(),
        );
        h.insert(http::HeaderName::from_bytes(format!("{p}-signature").as_bytes()).unwrap(), sig.parse().unwrap());
        v.verify(&h, body.as_bytes(), UNIX_EPOCH + Duration::from_secs(ts + 10))
    }

    #[test]
    fn reference_vectors() {
        // Go and JavaScript reference tests.
        let (secret, id, ts, body) = (
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        let sig = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert_eq!(check(secret, id, ts, body, sig, false), Ok(()));
        assert_eq!(check(secret, id, ts, body, sig, true), Ok(()));
        assert_eq!(check(secret, id, ts, body, &format!("v1a,xyz {sig}"), false), Ok(()));
        assert_eq!(check(secret, id, ts, "{}", sig, false), Err(VerifyError::Mismatch));
        // Rust reference tests.
        assert_eq!(
            check(
                "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1649367553,
                r#"{"email":"test@example.com","username":"test_user"}"#,
                "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
                false
            ),
            Ok(())
        );
    }

    #[test]
    fn secret_must_be_base64() {
        assert!(decode_secret("whsec_not base64!").is_err());
        assert!(decode_secret("whsec_").is_err());
        assert_eq!(decode_secret("whsec_AAEC").unwrap(), vec![0, 1, 2]);
    }
}
