//! What the server is handed: the running application, seen through the
//! few things HTTP needs of it.
//!
//! The server sits above the runtime in the picture but must not import
//! it (app, reload, pipeline import the server, and a cycle would follow).
//! So the server defines the handle it works with, [`State`], and the
//! application implements it: the active config, the shared resources and
//! the delivery queue to read from, and two actions it asks for, running a
//! routed event and reloading the config.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use futures_util::future::BoxFuture;

use super::Reply;
use crate::config::ConfigErrors;
use crate::delivery::Delivery;
use crate::event::Event;
use crate::router::{Matched, Snapshot};
use crate::settings::{Loaded, Settings};

/// The outcome of a reload the admin API asked for, as it is shown.
#[derive(Debug, Clone)]
pub(crate) struct ReloadReport {
    /// The reload summary as JSON (routes added, settings changed…).
    pub summary: serde_json::Value,
    /// The same, as the one line the log shows.
    pub message: String,
}

/// The last reload that failed: when, and its error lines.
#[derive(Debug, Clone)]
pub(crate) struct ReloadFailure {
    pub at: SystemTime,
    pub errors: Vec<String>,
}

/// The running application, as the server uses it.
pub(crate) trait State: Send + Sync + 'static {
    /// The active config, routes and settings of one file; hold it for a
    /// whole request.
    fn active(&self) -> Arc<Loaded>;

    /// The active routes.
    fn snapshot(&self) -> Arc<Snapshot> {
        self.active().snapshot.clone()
    }

    /// The active settings.
    fn settings(&self) -> Arc<Settings> {
        self.active().settings.clone()
    }

    /// Per-route match and action counts, kept across reloads.
    fn stats(&self) -> &crate::observe::RouteStats;

    /// The delivery queue.
    fn delivery(&self) -> &Delivery;

    /// The address the admin listener is bound to.
    fn bound_admin_addr(&self) -> SocketAddr;

    /// Ready to take traffic (see `GET /-/readyz`).
    fn is_ready(&self) -> bool;

    /// The last reload that failed, if the latest one did.
    fn last_reload_failure(&self) -> Option<ReloadFailure>;

    /// Reloads the config now, as `POST /-/reload` asks.
    fn reload(&self) -> BoxFuture<'_, Result<ReloadReport, ConfigErrors>>;

    /// Runs the routes `matched` of `active` for `event` and answers.
    fn run<'a>(&'a self, active: &'a Loaded, event: Arc<Event>, matched: &'a [Matched]) -> BoxFuture<'a, Reply>;
}

/// The handle the server's filters take: `Arc<App>`, `&App`.
pub(crate) type App = dyn State;
