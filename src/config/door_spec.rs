//! The routes.yaml types for trust at the door: `verify:` (one scheme per
//! route) and `rate_limit:`. Part of [`super::spec`], which re-exports
//! them; kept apart because the signature schemes are many small types.

use schemars::JsonSchema;
use serde::Deserialize;

use super::secret::Secret;
use super::spec::HumanDuration;

/// `verify:` on a route: exactly one scheme, written as a one-key mapping
/// (`verify: { github: { secret: ... } }`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(try_from = "VerifyKeys")]
pub enum VerifySpec {
    /// `github`: `X-Hub-Signature-256`, HMAC-SHA256 of the body.
    Github(GithubVerifySpec),
    /// `stripe`: `Stripe-Signature`, a signed timestamp and body.
    Stripe(StripeVerifySpec),
    /// `slack`: `X-Slack-Signature` over `v0:timestamp:body`.
    Slack(SlackVerifySpec),
    /// `standard_webhooks`: the Standard Webhooks (Svix) headers.
    StandardWebhooks(StandardWebhooksVerifySpec),
    /// `shopify`: `X-Shopify-Hmac-Sha256`, base64 HMAC of the body.
    Shopify(ShopifyVerifySpec),
    /// `gitlab`: the `X-Gitlab-Token` shared token.
    Gitlab(TokenVerifySpec),
    /// `hmac`: a generic HMAC header, algorithm and encoding as configured.
    Hmac(HmacVerifySpec),
    /// `bearer`: an `Authorization: Bearer` token.
    Bearer(TokenVerifySpec),
    /// `basic`: `Authorization: Basic` user and password.
    Basic(BasicVerifySpec),
}

/// The written form of `verify:`; decoded by hand like [`ActionKeys`].
impl VerifySpec {
    /// Every secret the scheme is keyed with, in the order written (a
    /// reload compares them to say which route's secret was rotated).
    pub(crate) fn secrets(&self) -> Vec<&Secret> {
        fn both<'a>(one: &'a Option<Secret>, many: &'a Option<Vec<Secret>>) -> Vec<&'a Secret> {
            one.iter().chain(many.iter().flatten()).collect()
        }
        match self {
            VerifySpec::Github(s) => both(&s.secret, &s.secrets),
            VerifySpec::Stripe(s) => both(&s.secret, &s.secrets),
            VerifySpec::Slack(s) => both(&s.signing_secret, &s.signing_secrets),
            VerifySpec::StandardWebhooks(s) => both(&s.secret, &s.secrets),
            VerifySpec::Shopify(s) => both(&s.secret, &s.secrets),
            VerifySpec::Gitlab(s) | VerifySpec::Bearer(s) => both(&s.token, &s.tokens),
            VerifySpec::Hmac(s) => both(&s.secret, &s.secrets),
            VerifySpec::Basic(s) => s.password.iter().chain(s.users.iter().flatten().map(|u| &u.password)).collect(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
#[serde(deny_unknown_fields)]
pub struct VerifyKeys {
    /// GitHub: `X-Hub-Signature-256`.
    github: Option<GithubVerifySpec>,
    /// Stripe: `Stripe-Signature` with a timestamp tolerance.
    stripe: Option<StripeVerifySpec>,
    /// Slack: `X-Slack-Signature` and `X-Slack-Request-Timestamp`.
    slack: Option<SlackVerifySpec>,
    /// Standard Webhooks (Svix and others): `webhook-signature`.
    standard_webhooks: Option<StandardWebhooksVerifySpec>,
    /// Shopify: `X-Shopify-Hmac-Sha256`.
    shopify: Option<ShopifyVerifySpec>,
    /// GitLab: the `X-Gitlab-Token` shared token.
    gitlab: Option<TokenVerifySpec>,
    /// Any provider that signs the raw body with an HMAC in one header.
    hmac: Option<HmacVerifySpec>,
    /// `Authorization: Bearer <token>`.
    bearer: Option<TokenVerifySpec>,
    /// HTTP basic authentication.
    basic: Option<BasicVerifySpec>,
}

/// The schemes `verify:` knows, for the messages below.
const SCHEMES: &str =
    "`github`, `stripe`, `slack`, `standard_webhooks`, `shopify`, `gitlab`, `hmac`, `bearer` or `basic`";

/// A `verify:` that does not name exactly one scheme.
#[derive(Debug, thiserror::Error)]
pub enum SchemeCountError {
    #[error("`verify` needs one scheme: {SCHEMES}")]
    None,
    #[error("`verify` takes exactly one scheme; a route checks one provider's signature")]
    Several,
}

impl TryFrom<VerifyKeys> for VerifySpec {
    type Error = SchemeCountError;
    fn try_from(k: VerifyKeys) -> Result<Self, SchemeCountError> {
        let mut found: Vec<VerifySpec> = Vec::new();
        found.extend(k.github.map(VerifySpec::Github));
        found.extend(k.stripe.map(VerifySpec::Stripe));
        found.extend(k.slack.map(VerifySpec::Slack));
        found.extend(k.standard_webhooks.map(VerifySpec::StandardWebhooks));
        found.extend(k.shopify.map(VerifySpec::Shopify));
        found.extend(k.gitlab.map(VerifySpec::Gitlab));
        found.extend(k.hmac.map(VerifySpec::Hmac));
        found.extend(k.bearer.map(VerifySpec::Bearer));
        found.extend(k.basic.map(VerifySpec::Basic));
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err(SchemeCountError::None),
            _ => Err(SchemeCountError::Several),
        }
    }
}

/// `github: { secret }` — `X-Hub-Signature-256`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GithubVerifySpec {
    /// The webhook secret.
    pub secret: Option<Secret>,
    /// Several secrets, any of which may have signed (rotation).
    pub secrets: Option<Vec<Secret>>,
}

/// `stripe: { secret, tolerance }` — `Stripe-Signature`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StripeVerifySpec {
    /// The endpoint's signing secret (`whsec_...`).
    pub secret: Option<Secret>,
    /// Several secrets, any of which may have signed (rotation).
    pub secrets: Option<Vec<Secret>>,
    /// How old a signature's timestamp may be. Default 5m.
    pub tolerance: Option<HumanDuration>,
}

/// `slack: { signing_secret, tolerance }` — `X-Slack-Signature`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlackVerifySpec {
    /// The app's signing secret.
    pub signing_secret: Option<Secret>,
    /// Several signing secrets, any of which may have signed (rotation).
    pub signing_secrets: Option<Vec<Secret>>,
    /// How far the request timestamp may be from now, either way. Default 5m.
    pub tolerance: Option<HumanDuration>,
}

/// `standard_webhooks: { secret, tolerance }` — `webhook-signature` (or `svix-signature`).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StandardWebhooksVerifySpec {
    /// `whsec_` followed by the base64 key.
    pub secret: Option<Secret>,
    /// Several secrets, any of which may have signed (rotation).
    pub secrets: Option<Vec<Secret>>,
    /// How far the timestamp may be from now, either way. Default 5m.
    pub tolerance: Option<HumanDuration>,
}

/// `shopify: { secret }` — `X-Shopify-Hmac-Sha256`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShopifyVerifySpec {
    /// The app's client secret.
    pub secret: Option<Secret>,
    /// Several secrets, any of which may have signed (rotation).
    pub secrets: Option<Vec<Secret>>,
}

/// `gitlab: { token }` and `bearer: { token }`: a shared token sent as is.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenVerifySpec {
    /// The token the sender must present.
    pub token: Option<Secret>,
    /// Several tokens, any of which is accepted (rotation).
    pub tokens: Option<Vec<Secret>>,
}

/// `hmac: { header, algorithm, encoding, prefix, secret }`: any provider
/// that signs the raw body with an HMAC in one header.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HmacVerifySpec {
    /// The header carrying the signature.
    pub header: Option<String>,
    /// `sha1`, `sha256` (default) or `sha512`.
    pub algorithm: Option<HmacAlgorithm>,
    /// `hex` (default) or `base64`.
    pub encoding: Option<SignatureEncoding>,
    /// Text before the signature in the header, e.g. `sha256=`.
    pub prefix: Option<String>,
    /// The shared HMAC key.
    pub secret: Option<Secret>,
    /// Several keys, any of which may have signed (rotation).
    pub secrets: Option<Vec<Secret>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HmacAlgorithm {
    Sha1,
    Sha256,
    Sha512,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SignatureEncoding {
    Hex,
    Base64,
}

/// `basic: { username, password }`, or `users: [...]` for rotation.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BasicVerifySpec {
    /// The user name.
    pub username: Option<String>,
    /// The password.
    pub password: Option<Secret>,
    /// Several users, any of whom is accepted (rotation).
    pub users: Option<Vec<BasicUserSpec>>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BasicUserSpec {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: Secret,
}

/// `rate_limit:` on a route.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    /// Sustained rate; may be fractional (`0.5` is one every two seconds).
    pub per_second: f64,
    /// Requests allowed at once after a quiet spell. Default: `per_second`, at least 1.
    pub burst: Option<u32>,
    /// One budget for the route (default) or one per client address.
    pub by: Option<RateLimitBy>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitBy {
    Route,
    ClientIp,
}
