//! `exec`: run a command when a webhook arrives (deploy on push), safely.
//!
//! Safety is structural, not a matter of quoting: the command never goes
//! through a shell, and each `command:` element becomes exactly one argv
//! entry whatever the payload holds (`; rm -rf /`, `$(…)`, backticks, line
//! breaks, a leading `-` are just bytes of one argument). The program is a
//! literal absolute path, never a template, so a payload cannot choose what
//! runs; env names are literal, their values templates. The command runs in
//! its own process group, so at its timeout it is killed together with
//! every process it started.
//!
//! Like `forward`, an exec is planned when the event is routed: its argv,
//! env and stdin choice are rendered into an [`ExecTarget`] (what `explain`
//! shows without running anything, and what a queued job stores), and run
//! by [`run::run`] later: by delivery, with retries, for a queued exec, or
//! at once by the pipeline for the exec a `respond: {from: exec}` route
//! answers with. `max_concurrent` bounds the runs of one action at once
//! ([`limits`]), queueing the rest.

pub(crate) mod capture;
pub(crate) mod compile;
pub(crate) mod job;
pub(crate) mod limits;
pub(crate) mod run;
pub(crate) mod target;
pub(crate) mod user;

use std::time::Duration;

use crate::actions::forward::RetryOverrides;
use crate::matcher::JsonPathExpr;
use crate::template::{RenderError, Scope, Text};
pub(crate) use run::Ended;
pub(crate) use target::{ExecTarget, RunAs, Stdin};

/// Time one run may take unless `timeout:` says otherwise: long enough for
/// a typical deploy script, short enough that a hung one is noticed.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs of one action at once unless `max_concurrent:` says otherwise: one,
/// so two deploys of the same thing never overlap.
pub(crate) const DEFAULT_MAX_CONCURRENT: u32 = 1;

/// Bytes of standard output, and of standard error, kept per run; the rest
/// is read and dropped so a chatty command never blocks on a full pipe.
pub(crate) const OUTPUT_LIMIT: usize = 64 * 1024;

/// `PATH` of a command whose `env:` does not set one: the command does not
/// inherit hookroute's environment (which may hold the config's secrets).
pub(crate) const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A compiled `exec` action.
#[derive(Debug)]
pub(crate) struct Exec {
    /// `command[0]`: a literal absolute path.
    pub(crate) program: String,
    /// `command[1..]`, each one argv entry.
    pub(crate) args: Vec<Text>,
    /// `env:` in name order; names checked at load.
    pub(crate) env: Vec<(String, Text)>,
    pub(crate) stdin: Stdin,
    pub(crate) timeout: Duration,
    pub(crate) max_concurrent: u32,
    pub(crate) working_dir: Option<String>,
    pub(crate) user: Option<RunAs>,
    /// This action's `retry:`; the rest comes from `defaults.retry`.
    pub(crate) retry: RetryOverrides,
    /// `ordering_key:` — runs with the same value go one at a time.
    pub(crate) ordering_key: Option<JsonPathExpr>,
    /// Where the action sits in its route (`actions[1]`): with the route's
    /// name, the key of its concurrency limit.
    pub(crate) at: String,
}

impl Exec {
    /// The run for the event in `scope`: every template rendered, nothing
    /// started. An error fails this action only.
    pub(crate) fn render(&self, scope: &Scope) -> Result<ExecTarget, RenderError> {
        let mut argv = Vec::with_capacity(self.args.len() + 1);
        argv.push(self.program.clone());
        for (i, arg) in self.args.iter().enumerate() {
            let value = arg.render(scope).map_err(|e| RenderError(format!("command[{}]: {e}", i + 1)))?;
            argv.push(no_nul(value.into_owned(), || format!("command[{}]", i + 1))?);
        }
        let mut env = Vec::with_capacity(self.env.len() + 3);
        env.push(("HOOKROUTE_EVENT_ID".to_string(), scope.event.id.to_string()));
        env.push(("HOOKROUTE_ROUTE".to_string(), scope.route.to_string()));
        if !self.env.iter().any(|(name, _)| name == "PATH") {
            env.push(("PATH".to_string(), DEFAULT_PATH.to_string()));
        }
        for (name, value) in &self.env {
            let value = value.render(scope).map_err(|e| RenderError(format!("env.{name}: {e}")))?;
            env.push((name.clone(), no_nul(value.into_owned(), || format!("env.{name}"))?));
        }
        Ok(ExecTarget {
            argv,
            env,
            stdin: self.stdin,
            timeout_ms: self.timeout.as_millis() as u64,
            working_dir: self.working_dir.clone(),
            user: self.user,
            limit_key: limits::key(scope.route, &self.at),
            max_concurrent: self.max_concurrent,
            unsendable: None,
        })
    }
}

/// A NUL byte cannot be passed in an argument or an environment value (the
/// kernel would cut it there): refused, rather than run a shortened one.
fn no_nul(value: String, key: impl FnOnce() -> String) -> Result<String, RenderError> {
    match value.contains('\0') {
        false => Ok(value),
        true => Err(RenderError(format!("{}: the rendered value contains a NUL byte", key()))),
    }
}
