//! Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256(secret, body)>`.
//!
//! Newer deliveries name the header `shopify-hmac-sha256` (lower case, no
//! `X-`); both names are accepted. Header names are case-insensitive in
//! HTTP, so the case of either spelling does not matter. No timestamp is
//! signed.

use std::time::SystemTime;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::HeaderMap;

use super::support::{self, raw_keys, secret_list, Keys};
use super::{Verify, VerifyError};
use crate::config::spec::{HmacAlgorithm, ShopifyVerifySpec};
use crate::config::ConfigError;

pub(crate) const HEADERS: [&str; 2] = ["x-shopify-hmac-sha256", "shopify-hmac-sha256"];

/// Compiled `shopify`: the app secrets (several while rotating).
#[derive(Debug)]
pub struct Shopify {
    keys: Keys,
}

impl Shopify {
    pub(crate) fn compile(spec: &ShopifyVerifySpec, path: &str, errors: &mut Vec<ConfigError>) -> Option<Shopify> {
        let secrets = secret_list(spec.secret.as_ref(), spec.secrets.as_deref(), path, ("secret", "secrets"), errors)?;
        Some(Shopify { keys: raw_keys(&secrets) })
    }
}

/// The MAC in a Shopify header: 44 characters of standard base64.
pub fn parse_header(value: &str) -> Result<[u8; 32], VerifyError> {
    let mut mac = [0u8; 32];
    match STANDARD.decode_slice(value.trim(), &mut mac) {
        Ok(32) => Ok(mac),
        _ => Err(VerifyError::Malformed { header: HEADERS[0], reason: "expected a base64 SHA-256 HMAC" }),
    }
}

impl Verify for Shopify {
    fn verify(&self, headers: &HeaderMap, body: &[u8], _now: SystemTime) -> Result<(), VerifyError> {
        let mac = parse_header(support::header_any(headers, &HEADERS)?)?;
        if self.keys.any_hmac(HmacAlgorithm::Sha256, &[body], &mac) {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        }
    }
}
