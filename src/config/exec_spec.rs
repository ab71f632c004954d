//! The `exec` action's keys: a command run when a webhook arrives (deploy
//! on push), through the same durable delivery as `forward`.
//!
//! Plain serde types, like the rest of `config/`: `crate::actions::exec`
//! checks their meaning (an absolute, literal program; env names; a `user`
//! only when running as root) and reports each problem at its key.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::delivery_spec::RetrySpec;
use super::spec::HumanDuration;

/// An `exec` action: `{ command: [/usr/local/bin/deploy, "{{ json.after }}"], timeout: 60s }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecSpec {
    /// The program and its arguments, one argv entry per element whatever the
    /// payload holds (never through a shell). The first element is a literal
    /// absolute path; the others may be templates.
    #[schemars(length(min = 1))]
    pub command: Vec<String>,
    /// Environment variables of the command: names literal
    /// (`[A-Za-z_][A-Za-z0-9_]*`), values may be templates. The command does
    /// not inherit hookroute's environment: it gets `PATH`, `HOOKROUTE_EVENT_ID`,
    /// `HOOKROUTE_ROUTE` and these.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// `body`: the event's body as received on standard input; `none`
    /// (default): standard input is empty (`/dev/null`).
    pub stdin: Option<ExecStdinSpec>,
    /// Time one run may take; at the end the command and every process it
    /// started (its process group) are killed. Default `60s`.
    pub timeout: Option<HumanDuration>,
    /// Runs of this action at once; more wait their turn (never dropped).
    /// Default 1: runs of one action never overlap.
    #[schemars(range(min = 1))]
    pub max_concurrent: Option<u32>,
    /// Absolute directory the command runs in. Default: hookroute's own.
    pub working_dir: Option<String>,
    /// User (name or numeric uid) the command runs as, with that user's
    /// primary group. Only when hookroute runs as root.
    pub user: Option<String>,
    /// Overrides `defaults.retry` for this action; a non-zero exit status or
    /// a timeout is a failed attempt.
    pub retry: Option<RetrySpec>,
    /// JSONPath whose value orders runs: one at a time per value.
    pub ordering_key: Option<String>,
}

/// What an `exec` command reads on standard input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExecStdinSpec {
    /// The event's body, byte for byte.
    Body,
    /// Nothing (`/dev/null`).
    None,
}
