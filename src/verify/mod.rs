//! Signature verification: is this request really from the provider?
//!
//! Each provider signs differently, so each scheme is its own small module
//! that does exactly what its provider documents (which bytes are signed,
//! how the key is derived, which timestamps are refused). They share one
//! interface, [`Verify`]: headers, the raw body bytes and the clock in,
//! `Ok(())` or a [`VerifyError`] out. The ingress calls it on the raw body
//! before anything is decoded, so a forged request never reaches a parser
//! or an action; the clock is a parameter so tests and fuzzers can pin it.
//!
//! A [`VerifyError`] says what was wrong (for the operator's log); the
//! sender only ever sees "signature verification failed".

pub mod basic;
pub mod bearer;
pub(crate) mod generic;
pub mod github;
pub(crate) mod gitlab;
pub mod shopify;
pub mod slack;
pub mod standard_webhooks;
pub mod stripe;
pub(crate) mod support;

use std::time::{Duration, SystemTime};

use http::HeaderMap;

use crate::config::spec::VerifySpec;
use crate::config::ConfigError;

/// Default timestamp tolerance of the schemes that sign a timestamp; the
/// providers' reference libraries all use five minutes.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Why a request failed verification. Never contains secret material or
/// the expected signature: it is logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The scheme's header (named) is absent.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// The header is present but cannot be parsed.
    #[error("malformed header {header}: {reason}")]
    Malformed {
        /// The header's name.
        header: &'static str,
        /// What is wrong with its value (never the value: it may be a secret).
        reason: &'static str,
    },
    /// The signed timestamp is older than `tolerance`.
    #[error("signed timestamp is older than the tolerance (replay?)")]
    Expired,
    /// The signed timestamp is later than now plus `tolerance`.
    #[error("signed timestamp is further in the future than the tolerance")]
    Future,
    /// The header parsed but no configured secret produces its signature.
    #[error("no signature matches any configured secret")]
    Mismatch,
}

/// One verification scheme.
pub trait Verify: std::fmt::Debug + Send + Sync {
    /// Checks a request, given its headers and the exact body bytes received.
    fn verify(&self, headers: &HeaderMap, body: &[u8], now: SystemTime) -> Result<(), VerifyError>;
}

/// A compiled `verify:` block.
#[derive(Debug)]
pub enum Verifier {
    /// See [`github`].
    Github(github::GitHub),
    /// See [`stripe`].
    Stripe(stripe::Stripe),
    /// See [`slack`].
    Slack(slack::Slack),
    /// See [`standard_webhooks`].
    StandardWebhooks(standard_webhooks::StandardWebhooks),
    /// See [`shopify`].
    Shopify(shopify::Shopify),
    /// `gitlab`: the `X-Gitlab-Token` shared token.
    Gitlab(gitlab::GitLab),
    /// `hmac`: a generic HMAC header.
    Hmac(generic::GenericHmac),
    /// See [`bearer`].
    Bearer(bearer::Bearer),
    /// See [`basic`].
    Basic(basic::Basic),
}

impl Verifier {
    /// Compiles a `verify:` block; errors carry key paths under `path`.
    pub fn compile(spec: &VerifySpec, path: &str, errors: &mut Vec<ConfigError>) -> Option<Verifier> {
        Some(match spec {
            VerifySpec::Github(s) => Verifier::Github(github::GitHub::compile(s, &format!("{path}.github"), errors)?),
            VerifySpec::Stripe(s) => Verifier::Stripe(stripe::Stripe::compile(s, &format!("{path}.stripe"), errors)?),
            VerifySpec::Slack(s) => Verifier::Slack(slack::Slack::compile(s, &format!("{path}.slack"), errors)?),
            VerifySpec::StandardWebhooks(s) => Verifier::StandardWebhooks(
                standard_webhooks::StandardWebhooks::compile(s, &format!("{path}.standard_webhooks"), errors)?,
            ),
            VerifySpec::Shopify(s) => {
                Verifier::Shopify(shopify::Shopify::compile(s, &format!("{path}.shopify"), errors)?)
            }
            VerifySpec::Gitlab(s) => Verifier::Gitlab(gitlab::GitLab::compile(s, &format!("{path}.gitlab"), errors)?),
            VerifySpec::Hmac(s) => Verifier::Hmac(generic::GenericHmac::compile(s, &format!("{path}.hmac"), errors)?),
            VerifySpec::Bearer(s) => Verifier::Bearer(bearer::Bearer::compile(s, &format!("{path}.bearer"), errors)?),
            VerifySpec::Basic(s) => Verifier::Basic(basic::Basic::compile(s, &format!("{path}.basic"), errors)?),
        })
    }

    /// The scheme's name as written in the config, for logs.
    pub fn scheme(&self) -> &'static str {
        match self {
            Verifier::Github(_) => "github",
            Verifier::Stripe(_) => "stripe",
            Verifier::Slack(_) => "slack",
            Verifier::StandardWebhooks(_) => "standard_webhooks",
            Verifier::Shopify(_) => "shopify",
            Verifier::Gitlab(_) => "gitlab",
            Verifier::Hmac(_) => "hmac",
            Verifier::Bearer(_) => "bearer",
            Verifier::Basic(_) => "basic",
        }
    }

    fn inner(&self) -> &dyn Verify {
        match self {
            Verifier::Github(v) => v,
            Verifier::Stripe(v) => v,
            Verifier::Slack(v) => v,
            Verifier::StandardWebhooks(v) => v,
            Verifier::Shopify(v) => v,
            Verifier::Gitlab(v) => v,
            Verifier::Hmac(v) => v,
            Verifier::Bearer(v) => v,
            Verifier::Basic(v) => v,
        }
    }
}

impl Verify for Verifier {
    fn verify(&self, headers: &HeaderMap, body: &[u8], now: SystemTime) -> Result<(), VerifyError> {
        self.inner().verify(headers, body, now)
    }
}

/// A tolerance from the config: default five minutes, and never zero (a
/// zero window would refuse every request whose clock is a second off).
pub(crate) fn tolerance(
    value: Option<crate::config::spec::HumanDuration>,
    path: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<u64> {
    let t = value.map(|d| d.0).unwrap_or(DEFAULT_TOLERANCE);
    if t.as_secs() == 0 {
        errors.push(ConfigError::new(format!("{path}.tolerance"), "must be at least 1s (the default is 5m)"));
        return None;
    }
    Some(t.as_secs())
}
