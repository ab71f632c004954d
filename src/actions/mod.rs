//! Actions: what a matched route does with an event.
//!
//! Each action kind lives in its own module with the same shape: `compile`
//! from its spec at config load (collecting located errors), then run per
//! event. They share one HTTP client and one registry of file writers,
//! [`Resources`], which outlives config reloads.

pub mod file;
pub mod forward;
pub mod log;
pub mod respond;

use std::sync::Arc;

use crate::config::spec::ActionSpec;
use crate::config::ConfigError;
pub use file::{FileAction, FileWriters};
pub use forward::{Forward, ForwardError, ForwardResponse};
pub use log::LogAction;
pub use respond::{Respond, StaticReply};

/// How a route's forwards are queued: `durable` jobs are on disk before
/// the sender is answered; `memory` ones are only queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeliveryMode {
    #[default]
    Durable,
    Memory,
}

#[derive(Debug)]
pub enum Action {
    Forward(Arc<Forward>),
    Log(LogAction),
    File(FileAction),
}

impl Action {
    pub fn compile(
        spec: &ActionSpec,
        path: &str,
        resources: &Resources,
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
        }
    }
}

/// What actions share, created once per process and kept across reloads.
#[derive(Debug)]
pub struct Resources {
    /// One pooled client for every forward.
    pub http: crate::upstream::Upstream,
    pub files: FileWriters,
    /// Per-route match and action counts for `GET /-/routes`, kept by route
    /// name across reloads.
    pub stats: crate::observe::RouteStats,
}

impl Resources {
    pub fn new() -> Result<Self, crate::upstream::SetupError> {
        let http = crate::upstream::Upstream::new()?;
        Ok(Resources { http, files: FileWriters::default(), stats: Default::default() })
    }
}
