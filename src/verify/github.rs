//! GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`.
//!
//! The secret is used as bytes, as typed in the webhook settings. GitHub
//! signs no timestamp, so a captured delivery can be replayed; pair this
//! with deduplication on `X-GitHub-Delivery` where that matters. The older
//! SHA-1 header (`X-Hub-Signature`) is deliberately not accepted.

use std::time::SystemTime;

use http::HeaderMap;

use super::support::{self, raw_keys, secret_list, Keys};
use super::{Verify, VerifyError};
use crate::config::spec::{GithubVerifySpec, HmacAlgorithm};
use crate::config::ConfigError;

pub(crate) const HEADER: &str = "x-hub-signature-256";

/// Compiled `github`: the webhook secrets (several while rotating).
#[derive(Debug)]
pub struct GitHub {
    keys: Keys,
}

impl GitHub {
    pub(crate) fn compile(spec: &GithubVerifySpec, path: &str, errors: &mut Vec<ConfigError>) -> Option<GitHub> {
        let secrets = secret_list(spec.secret.as_ref(), spec.secrets.as_deref(), path, ("secret", "secrets"), errors)?;
        Some(GitHub { keys: raw_keys(&secrets) })
    }
}

/// The MAC bytes of a header value `sha256=<64 hex digits>`.
pub fn parse_header(value: &str) -> Result<[u8; 32], VerifyError> {
    let malformed = |reason| VerifyError::Malformed { header: HEADER, reason };
    let hex_part = value.trim().strip_prefix("sha256=").ok_or(malformed("expected sha256=<hex>"))?;
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut out).map_err(|_| malformed("expected 64 hex digits after sha256="))?;
    Ok(out)
}

impl Verify for GitHub {
    fn verify(&self, headers: &HeaderMap, body: &[u8], _now: SystemTime) -> Result<(), VerifyError> {
        let mac = parse_header(support::header(headers, HEADER)?)?;
        if self.keys.any_hmac(HmacAlgorithm::Sha256, &[body], &mac) {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::secret::Secret;

    #[test]
    fn published_vector() {
        // GitHub docs, "Validating webhook deliveries".
        let gh = GitHub { keys: raw_keys(&[Secret::new("It's a Secret to Everybody")]) };
        let mut h = HeaderMap::new();
        h.insert(HEADER, "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17".parse().unwrap());
        assert_eq!(gh.verify(&h, b"Hello, World!", SystemTime::now()), Ok(()));
        assert_eq!(gh.verify(&h, b"Hello, World?", SystemTime::now()), Err(VerifyError::Mismatch));
    }

    #[test]
    fn header_shapes() {
        assert!(parse_header("sha1=abcd").is_err());
        assert!(parse_header("sha256=zz").is_err());
        assert!(parse_header(&format!("sha256={}", "A".repeat(64))).is_ok());
    }
}
