//! Actions: what a matched route does with an event.
//!
//! Each action kind lives in its own module with the same shape: `compile`
//! from its spec at config load (collecting located errors); `plan` for one
//! event, which renders its inputs and runs nothing (the router's decision,
//! `crate::router::dispatch`, is made of these plans, and `explain` prints
//! them); and its execution of a plan (`write` for log and file, `relay`
//! for the forward a route answers with; a queued forward is run by
//! delivery from its [`QueuedJob`]). Adding a kind is one module here,
//! one [`Action`] variant and one [`Planned`] variant. They share one HTTP
//! client and one registry of file writers, [`Resources`], which outlives
//! config reloads.

pub(crate) mod exec;
pub(crate) mod file;
pub(crate) mod forward;
pub(crate) mod job;
pub(crate) mod log;
pub(crate) mod publish;
pub(crate) mod respond;

use std::borrow::Cow;
use std::sync::Arc;

use crate::config::spec::ActionSpec;
use crate::config::ConfigError;
use crate::template::{RenderError, Scope};
pub(crate) use exec::{Exec, ExecTarget};
pub(crate) use file::{FileAction, FileWriters, PlannedLine};
pub(crate) use forward::{Forward, ForwardError, Outgoing};
pub(crate) use job::{QueuedJob, Work};
pub(crate) use log::LogAction;
pub(crate) use respond::Respond;

/// How a route's forwards are queued: `durable` jobs are on disk before
/// the sender is answered; `memory` ones are only queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum DeliveryMode {
    #[default]
    Durable,
    Memory,
}

#[derive(Debug)]
pub(crate) enum Action {
    Forward(Arc<Forward>),
    Log(LogAction),
    File(FileAction),
    Publish(Arc<publish::Publish>),
    Exec(Arc<Exec>),
}

impl Action {
    /// Compiles one action at `path`; `brokers` are the config's
    /// connections, which `publish:` actions name.
    pub(crate) fn compile(
        spec: &ActionSpec,
        path: &str,
        resources: &Resources,
        brokers: &publish::BrokerTable,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Action> {
        match spec {
            ActionSpec::Forward(f) => {
                Forward::compile(f, &format!("{path}.forward"), errors).map(|f| Action::Forward(Arc::new(f)))
            }
            ActionSpec::Log(l) => LogAction::compile(l, &format!("{path}.log"), errors).map(Action::Log),
            ActionSpec::File(f) => {
                FileAction::compile(f, &format!("{path}.file"), &resources.files, errors).map(Action::File)
            }
            ActionSpec::Publish(p) => publish::Publish::compile(p, &format!("{path}.publish"), brokers, errors)
                .map(|p| Action::Publish(Arc::new(p))),
            ActionSpec::Exec(e) => {
                Exec::compile(e, &format!("{path}.exec"), path, errors).map(|e| Action::Exec(Arc::new(e)))
            }
        }
    }
}

/// One action of a taken route, planned for one event: its inputs
/// rendered, nothing run yet.
#[derive(Debug)]
pub(crate) enum Planned<'s> {
    Log {
        action: &'s LogAction,
        message: Result<Cow<'s, str>, RenderError>,
    },
    File {
        action: &'s FileAction,
        line: PlannedLine,
    },
    /// A job handed to delivery: a queued forward or publish.
    Queued(QueuedJob),
    /// The forward a `respond: {from: forward}` route sends at once and
    /// answers the sender with.
    Relayed {
        forward: &'s Forward,
        request: Result<Outgoing, RenderError>,
    },
    /// The exec a `respond: {from: exec}` route runs at once and answers
    /// the sender with (its standard output).
    ExecNow {
        exec: &'s Exec,
        run: Result<ExecTarget, RenderError>,
    },
}

impl Action {
    /// Plans this action for the event in `scope` (see [`Planned`]);
    /// `relayed` marks the forward (or exec) whose answer is the reply.
    pub(crate) fn plan<'s>(
        &'s self,
        scope: &Scope,
        route: &Arc<str>,
        mode: DeliveryMode,
        relayed: bool,
    ) -> Planned<'s> {
        match self {
            Action::Log(action) => Planned::Log { action, message: action.plan(scope) },
            Action::File(action) => Planned::File { action, line: action.plan(scope) },
            Action::Forward(forward) if relayed => Planned::Relayed { forward, request: forward.render(scope) },
            Action::Forward(forward) => Planned::Queued(forward.job(scope.event, route, &forward.render(scope), mode)),
            Action::Publish(publish) => Planned::Queued(publish.job(scope, route, mode)),
            Action::Exec(exec) if relayed => Planned::ExecNow { exec, run: exec.render(scope) },
            Action::Exec(exec) => Planned::Queued(exec.job(scope, route, mode)),
        }
    }
}

/// What actions share, created once per process and kept across reloads.
#[derive(Debug)]
pub struct Resources {
    /// One pooled client for every forward.
    pub(crate) http: crate::upstream::Upstream,
    pub(crate) files: FileWriters,
    /// The live broker connections, by name (see [`publish::registry`]).
    pub(crate) brokers: publish::Brokers,
}

impl Resources {
    /// The client and an empty file registry; fails only when the HTTP
    /// client cannot be built (no TLS roots).
    pub fn new() -> Result<Self, crate::upstream::SetupError> {
        let http = crate::upstream::Upstream::new()?;
        Ok(Resources { http, files: FileWriters::default(), brokers: publish::Brokers::default() })
    }
}
