//! GitLab: `X-Gitlab-Token` carries the configured secret token as is.
//!
//! Nothing is signed — the token only proves the sender knows it — so the
//! body could be altered by anyone who can see a request in transit; use
//! HTTPS in front. The comparison is constant-time.

use std::time::SystemTime;

use http::HeaderMap;

use super::support::{raw_keys, secret_list, Keys};
use super::{Verify, VerifyError};
use crate::config::spec::TokenVerifySpec;
use crate::config::ConfigError;

pub(crate) const HEADER: &str = "x-gitlab-token";

#[derive(Debug)]
pub struct GitLab {
    tokens: Keys,
}

impl GitLab {
    pub fn compile(spec: &TokenVerifySpec, path: &str, errors: &mut Vec<ConfigError>) -> Option<GitLab> {
        let tokens = secret_list(spec.token.as_ref(), spec.tokens.as_deref(), path, ("token", "tokens"), errors)?;
        Some(GitLab { tokens: raw_keys(&tokens) })
    }
}

impl Verify for GitLab {
    fn verify(&self, headers: &HeaderMap, _body: &[u8], _now: SystemTime) -> Result<(), VerifyError> {
        let received = headers.get(HEADER).ok_or(VerifyError::MissingHeader(HEADER))?;
        if self.tokens.any_token(received.as_bytes()) {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        }
    }
}
