//! `hmac`: a generic HMAC over the raw body, for providers without a
//! scheme of their own.
//!
//! The header carries `<prefix><encoded MAC>`; the algorithm (SHA-1,
//! SHA-256 or SHA-512), encoding (hex or base64) and prefix (`sha256=`,
//! `sha1=`…) are configured. The prefix is matched case-insensitively, hex
//! in either case. No timestamp is signed.

use std::time::SystemTime;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::header::HeaderName;
use http::HeaderMap;

use super::support::{raw_keys, secret_list, Keys};
use super::{Verify, VerifyError};
use crate::config::spec::{HmacAlgorithm, HmacVerifySpec, SignatureEncoding};
use crate::config::ConfigError;

#[derive(Debug)]
pub struct GenericHmac {
    header: HeaderName,
    pub algorithm: HmacAlgorithm,
    pub encoding: SignatureEncoding,
    pub prefix: String,
    keys: Keys,
}

impl GenericHmac {
    pub fn compile(spec: &HmacVerifySpec, path: &str, errors: &mut Vec<ConfigError>) -> Option<GenericHmac> {
        let header = match &spec.header {
            None => {
                errors.push(ConfigError::new(
                    path,
                    "missing `header`: the name of the header carrying the signature (e.g. X-Signature)",
                ));
                None
            }
            Some(h) => match HeaderName::from_bytes(h.as_bytes()) {
                Ok(name) => Some(name),
                Err(_) => {
                    errors.push(ConfigError::new(format!("{path}.header"), format!("invalid header name {h:?}")));
                    None
                }
            },
        };
        let secrets = secret_list(spec.secret.as_ref(), spec.secrets.as_deref(), path, ("secret", "secrets"), errors);
        Some(GenericHmac {
            header: header?,
            algorithm: spec.algorithm.unwrap_or(HmacAlgorithm::Sha256),
            encoding: spec.encoding.unwrap_or(SignatureEncoding::Hex),
            prefix: spec.prefix.clone().unwrap_or_default(),
            keys: raw_keys(&secrets?),
        })
    }

    /// Builds a verifier directly (tests, fuzzing).
    pub fn new(
        header: HeaderName,
        algorithm: HmacAlgorithm,
        encoding: SignatureEncoding,
        prefix: &str,
        keys: Keys,
    ) -> Self {
        GenericHmac { header, algorithm, encoding, prefix: prefix.to_string(), keys }
    }

    /// The MAC bytes in a header value, or why there are none.
    pub fn parse_header(&self, value: &[u8]) -> Result<Vec<u8>, VerifyError> {
        let malformed = |reason| VerifyError::Malformed { header: "(configured signature header)", reason };
        let value = value.trim_ascii();
        let prefix = self.prefix.as_bytes();
        if value.len() < prefix.len() || !value[..prefix.len()].eq_ignore_ascii_case(prefix) {
            return Err(malformed("does not start with the configured prefix"));
        }
        let encoded = &value[prefix.len()..];
        let mac = match self.encoding {
            SignatureEncoding::Hex => hex::decode(encoded).map_err(|_| malformed("not hex")),
            SignatureEncoding::Base64 => STANDARD.decode(encoded).map_err(|_| malformed("not base64")),
        }?;
        let expected_len = match self.algorithm {
            HmacAlgorithm::Sha1 => 20,
            HmacAlgorithm::Sha256 => 32,
            HmacAlgorithm::Sha512 => 64,
        };
        if mac.len() != expected_len {
            return Err(malformed("wrong length for the configured algorithm"));
        }
        Ok(mac)
    }
}

impl Verify for GenericHmac {
    fn verify(&self, headers: &HeaderMap, body: &[u8], _now: SystemTime) -> Result<(), VerifyError> {
        let value = headers.get(&self.header).ok_or(VerifyError::MissingHeader("(configured signature header)"))?;
        let mac = self.parse_header(value.as_bytes())?;
        if self.keys.any_hmac(self.algorithm, &[body], &mac) {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        }
    }
}
