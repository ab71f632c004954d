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
use crate::eventlog::{
    EventDetail, EventLog, EventLogError, EventPage, EventQuery, PreviewError, PreviewReport, ReplayError, Replayed,
};
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
    /// With `trail` (the event log's draft of this request), each planned
    /// action and how it ended is added to it.
    fn run<'a>(
        &'a self,
        active: &'a Loaded,
        event: Arc<Event>,
        matched: &'a [Matched],
        trail: Option<&'a mut crate::eventlog::Draft>,
    ) -> BoxFuture<'a, Reply>;

    /// The event log: requests record into it; the admin API reads it.
    fn event_log(&self) -> &EventLog;

    /// `GET /-/events`: recorded events, newest first, filtered and paged.
    fn events(&self, query: EventQuery) -> BoxFuture<'_, Result<EventPage, EventLogError>> {
        Box::pin(async move { self.event_log().list(query).await })
    }

    /// `GET /-/events/{id}`: one recorded event with its delivery jobs
    /// (and their attempts); None when the log has no such event.
    fn event<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<EventDetail>, EventLogError>> {
        Box::pin(async move {
            let Some(event) = self.event_log().get(id).await? else { return Ok(None) };
            // No store yet (nothing durable queued): no jobs to show.
            let jobs = self.delivery().event_jobs(id).await.unwrap_or_default();
            let jobs = jobs.iter().map(super::admin_deliveries::detail).collect();
            Ok(Some(EventDetail { event, jobs }))
        })
    }

    /// `POST /-/events/{id}/replay`: runs the recorded request through the
    /// current config as if it arrived now (after the door: its signature
    /// and address were checked when it arrived), recorded as a new event
    /// with `replay_of` set to `id`.
    fn replay_event<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Replayed, ReplayError>>;

    /// `POST /-/preview`: compiles `routes_yaml` as a reload would and runs
    /// the last `last` recorded events through the live and the new
    /// routes; nothing is sent.
    fn preview(&self, routes_yaml: String, last: usize) -> BoxFuture<'_, Result<PreviewReport, PreviewError>>;
}

/// The handle the server's filters take: `Arc<App>`, `&App`.
pub(crate) type App = dyn State;
