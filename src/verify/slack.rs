//! Slack: `X-Slack-Signature: v0=<hex>` with `X-Slack-Request-Timestamp`.
//!
//! The signed base string is `"v0:{timestamp}:{raw body}"`, keyed by the
//! app's signing secret as bytes. Slack asks receivers to refuse requests
//! whose timestamp is more than five minutes from local time; its SDKs
//! compare the absolute difference, so both stale and future timestamps
//! are refused here too.

use std::time::SystemTime;

use http::HeaderMap;

use super::support::{self, raw_keys, secret_list, Keys};
use super::{tolerance, Verify, VerifyError};
use crate::config::spec::{HmacAlgorithm, SlackVerifySpec};
use crate::config::ConfigError;

pub(crate) const SIGNATURE_HEADER: &str = "x-slack-signature";
pub(crate) const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";

/// Compiled `slack`: the signing secrets and the timestamp tolerance.
#[derive(Debug)]
pub struct Slack {
    keys: Keys,
    tolerance_secs: u64,
}

impl Slack {
    pub(crate) fn compile(spec: &SlackVerifySpec, path: &str, errors: &mut Vec<ConfigError>) -> Option<Slack> {
        let secrets = secret_list(
            spec.signing_secret.as_ref(),
            spec.signing_secrets.as_deref(),
            path,
            ("signing_secret", "signing_secrets"),
            errors,
        );
        let tolerance_secs = tolerance(spec.tolerance, path, errors);
        Some(Slack { keys: raw_keys(&secrets?), tolerance_secs: tolerance_secs? })
    }
}

/// The MAC of a `v0=<64 hex digits>` signature header.
pub fn parse_signature(value: &str) -> Result<[u8; 32], VerifyError> {
    let malformed = |reason| VerifyError::Malformed { header: SIGNATURE_HEADER, reason };
    let hex_part = value.trim().strip_prefix("v0=").ok_or(malformed("expected v0=<hex>"))?;
    let mut mac = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut mac).map_err(|_| malformed("expected 64 hex digits after v0="))?;
    Ok(mac)
}

impl Verify for Slack {
    fn verify(&self, headers: &HeaderMap, body: &[u8], now: SystemTime) -> Result<(), VerifyError> {
        let timestamp_text = support::header(headers, TIMESTAMP_HEADER)?.trim();
        let timestamp = support::parse_unix(timestamp_text, TIMESTAMP_HEADER)?;
        let mac = parse_signature(support::header(headers, SIGNATURE_HEADER)?)?;
        let parts: [&[u8]; 4] = [b"v0:", timestamp_text.as_bytes(), b":", body];
        if !self.keys.any_hmac(HmacAlgorithm::Sha256, &parts, &mac) {
            return Err(VerifyError::Mismatch);
        }
        support::check_window(timestamp, support::unix_now(now), self.tolerance_secs, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_shapes() {
        assert!(parse_signature(&format!("v0={}", "0".repeat(64))).is_ok());
        assert!(parse_signature(&format!("v1={}", "0".repeat(64))).is_err());
        assert!(parse_signature("v0=abc").is_err());
    }
}
