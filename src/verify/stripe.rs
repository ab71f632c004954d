//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]`.
//!
//! The signed payload is `"{t}.{raw body}"`, keyed by the endpoint secret
//! exactly as shown in the dashboard: the whole string, `whsec_` prefix
//! included, is the HMAC key (unlike Standard Webhooks, nothing is base64
//! decoded). Several `v1` entries appear while Stripe rolls a secret; any
//! may match. Other schemes (`v0`) are ignored. Like Stripe's own
//! libraries, only timestamps older than the tolerance are refused; a clock
//! running ahead is not.

use std::time::SystemTime;

use http::HeaderMap;

use super::support::{self, raw_keys, secret_list, Keys};
use super::{tolerance, Verify, VerifyError};
use crate::config::spec::{HmacAlgorithm, StripeVerifySpec};
use crate::config::ConfigError;

pub(crate) const HEADER: &str = "stripe-signature";

/// Compiled `stripe`: the endpoint secrets and the timestamp tolerance.
#[derive(Debug)]
pub struct Stripe {
    keys: Keys,
    tolerance_secs: u64,
}

/// A parsed `Stripe-Signature` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeHeader<'a> {
    /// The `t` value as sent: it is signed as text.
    pub timestamp_text: &'a str,
    pub(crate) timestamp: i64,
    /// Every well-formed `v1` MAC.
    pub signatures: Vec<[u8; 32]>,
}

impl Stripe {
    pub(crate) fn compile(spec: &StripeVerifySpec, path: &str, errors: &mut Vec<ConfigError>) -> Option<Stripe> {
        let secrets = secret_list(spec.secret.as_ref(), spec.secrets.as_deref(), path, ("secret", "secrets"), errors);
        let tolerance_secs = tolerance(spec.tolerance, path, errors);
        Some(Stripe { keys: raw_keys(&secrets?), tolerance_secs: tolerance_secs? })
    }
}

/// Splits the header on `,` then on the first `=`, as Stripe's libraries do.
pub fn parse_header(value: &str) -> Result<StripeHeader<'_>, VerifyError> {
    let malformed = |reason| VerifyError::Malformed { header: HEADER, reason };
    let mut timestamp_text = None;
    let mut v1_seen = false;
    let mut signatures = Vec::new();
    for item in value.split(',') {
        let Some((key, val)) = item.trim().split_once('=') else { continue };
        match key {
            "t" => timestamp_text = Some(val),
            "v1" => {
                v1_seen = true;
                let mut mac = [0u8; 32];
                // A v1 that is not 64 hex digits cannot match; skip it
                // rather than fail, so one bad entry does not hide a good one.
                if hex::decode_to_slice(val, &mut mac).is_ok() {
                    signatures.push(mac);
                }
            }
            _ => {}
        }
    }
    let timestamp_text = timestamp_text.ok_or(malformed("no t= timestamp"))?;
    let timestamp = support::parse_unix(timestamp_text, HEADER)?;
    if !v1_seen {
        return Err(malformed("no v1= signature"));
    }
    Ok(StripeHeader { timestamp_text, timestamp, signatures })
}

impl Verify for Stripe {
    fn verify(&self, headers: &HeaderMap, body: &[u8], now: SystemTime) -> Result<(), VerifyError> {
        let parsed = parse_header(support::header(headers, HEADER)?)?;
        let parts: [&[u8]; 3] = [parsed.timestamp_text.as_bytes(), b".", body];
        let mut matched = false;
        for sig in &parsed.signatures {
            matched |= self.keys.any_hmac(HmacAlgorithm::Sha256, &parts, sig);
        }
        if !matched {
            return Err(VerifyError::Mismatch);
        }
        support::check_window(parsed.timestamp, support::unix_now(now), self.tolerance_secs, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_stripe() {
        let header = format!("t=1492774577,v1={},v0={},v1=nothex", "a".repeat(64), "b".repeat(64));
        let h = parse_header(&header).unwrap();
        assert_eq!(h.timestamp, 1492774577);
        assert_eq!(h.timestamp_text, "1492774577");
        assert_eq!(h.signatures.len(), 1);
        assert!(parse_header("v1=00").is_err());
        assert!(parse_header("t=12").is_err());
        assert!(parse_header("t=x,v1=00").is_err());
        assert!(parse_header("").is_err());
    }
}
