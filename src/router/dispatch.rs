//! The decision for one request: a [`Dispatch`].
//!
//! Routing a request yields one value, built here and nowhere else: the
//! routes taken (references into the snapshot), each with its actions
//! planned for the event (log messages, file lines and paths, forward
//! requests rendered into delivery jobs) and its dedup claim, and the reply
//! plan. Building it has no side effect. `crate::pipeline` executes it when
//! serving; `explain` and `hookroute test` print and compare it, so what
//! they show is what `serve` does.
//!
//! The reasons (each candidate's condition values) cost an evaluation per
//! condition with its values recorded, so they are only gathered when asked
//! ([`Snapshot::decide`]); serving asks for the decision alone
//! ([`Snapshot::dispatch`]).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use super::{Matched, Route, Snapshot};
use crate::actions::{Action, Planned, Respond};
use crate::event::Event;
use crate::matcher::explain::Trace;
use crate::matcher::path::Candidate;
use crate::matcher::{Condition, EvalContext};
use crate::template::{RenderError, Scope};

/// What one request becomes.
#[derive(Debug)]
pub(crate) struct Dispatch<'s> {
    /// The routes taken, in order; the first one answers the sender.
    pub(crate) taken: Vec<Taken<'s>>,
    /// Every candidate route and why it was or was not taken, in file
    /// order; empty unless asked for ([`Snapshot::decide`]).
    pub(crate) considered: Vec<Considered<'s>>,
    /// What the sender is answered.
    pub(crate) reply: ReplyPlan,
}

/// A route taken, with its actions planned for the event.
#[derive(Debug)]
pub(crate) struct Taken<'s> {
    pub(crate) route: &'s Route,
    /// In listing order.
    pub(crate) actions: Vec<Planned<'s>>,
    /// The key this event claims when the route has `dedup:` and the event
    /// carries one.
    pub(crate) dedup: Option<DedupClaim>,
}

/// A dedup key the event claims for a route, for `window`.
#[derive(Debug, Clone)]
pub(crate) struct DedupClaim {
    pub(crate) key: String,
    pub(crate) window: Duration,
}

/// How the sender is answered, from the first route taken.
#[derive(Debug)]
pub(crate) enum ReplyPlan {
    /// 202 with the event id and the routes taken ([`accepted_body`]); also
    /// the answer when no route is taken.
    Accepted,
    /// The route's `respond:`, rendered; an error means it cannot be given,
    /// and the sender gets 500 before anything runs.
    Static(Result<(StatusCode, HeaderMap, Bytes), RenderError>),
    /// The answer of the forward planned as [`Planned::Relayed`] (or the
    /// output of the exec planned as [`Planned::ExecNow`]) in the first
    /// route's actions.
    Relayed,
}

/// One candidate route (path and method fit) and why it was or was not taken.
#[derive(Debug)]
pub(crate) struct Considered<'s> {
    pub(crate) route: &'s Route,
    pub(crate) params: Vec<(String, String)>,
    /// Each `when:` condition in evaluation order, with the values it saw.
    pub(crate) conditions: Vec<Trace>,
    pub(crate) holds: bool,
    pub(crate) taken: bool,
    /// The name of the route taken before this one that does not
    /// `continue`: routing never got here.
    pub(crate) not_tried_after: Option<Arc<str>>,
}

/// The body of a 202: the event id and the routes taken. A redelivery
/// caught by dedup gets it again with the first delivery's id.
pub(crate) fn accepted_body(id: &str, routes: &[&str]) -> serde_json::Value {
    serde_json::json!({ "id": id, "routes": routes })
}

/// Why a route's reply cannot be given for an event (answered with 500).
pub(crate) fn not_rendered(route: &str, e: &RenderError) -> String {
    format!("route {route}: the reply could not be rendered: {e}")
}

impl Snapshot {
    /// Decides what `event` becomes among `candidates` (see
    /// [`Snapshot::lookup`]), with every candidate's condition values
    /// ([`Dispatch::considered`]): what `explain` and `hookroute test` show.
    /// Serving selects and checks rate limits first, then calls
    /// [`Snapshot::dispatch`], which gathers no reasons.
    pub(crate) fn decide<'s>(&'s self, candidates: Vec<Candidate>, event: &Event) -> Dispatch<'s> {
        let traced = candidates.clone();
        let matched = self.select(candidates, event);
        let mut dispatch = self.dispatch(event, &matched);
        dispatch.considered = self.considered(&traced, event, &matched);
        dispatch
    }

    /// Every candidate and why it was or was not taken, given the routes
    /// `matched` among them: the reasons of [`Snapshot::decide`], for a
    /// caller that selected already (the event log records them).
    pub(crate) fn considered<'s>(
        &'s self,
        candidates: &[Candidate],
        event: &Event,
        matched: &[Matched],
    ) -> Vec<Considered<'s>> {
        let mut out = Vec::with_capacity(candidates.len());
        let mut stopped_by: Option<Arc<str>> = None;
        for candidate in candidates {
            let conditions = self.trace(candidate, event);
            let index = candidate.route;
            let route = &self.routes[index];
            let taken = matched.iter().any(|m| m.route == index);
            out.push(Considered {
                route,
                params: candidate.params.clone(),
                holds: conditions.iter().all(Trace::result),
                conditions,
                taken,
                not_tried_after: stopped_by.clone(),
            });
            if taken && !route.continue_matching {
                stopped_by = Some(route.name.clone());
            }
        }
        out
    }

    /// The decision for routes already selected (`serve` selects, then
    /// checks rate limits, before deciding).
    pub(crate) fn dispatch<'s>(&'s self, event: &Event, matched: &[Matched]) -> Dispatch<'s> {
        let mut taken = Vec::with_capacity(matched.len());
        let mut reply = ReplyPlan::Accepted;
        for (i, m) in matched.iter().enumerate() {
            let route = &self.routes[m.route];
            let scope = Scope::new(event, &route.name, &m.params);
            // The first route answers; with `respond: {from: forward}` its
            // first forward is sent at once and its answer relayed (with
            // `from: exec`, its first exec is run at once).
            let mut relay = i == 0 && matches!(route.respond, Respond::FromForward | Respond::FromExec);
            if i == 0 {
                reply = match &route.respond {
                    Respond::Accepted => ReplyPlan::Accepted,
                    Respond::Static(s) => ReplyPlan::Static(s.render(&scope)),
                    Respond::FromForward | Respond::FromExec => ReplyPlan::Relayed,
                };
            }
            let actions = route
                .actions
                .iter()
                .map(|action| {
                    let relayed = relay
                        && match route.respond {
                            Respond::FromExec => matches!(action, Action::Exec(_)),
                            _ => matches!(action, Action::Forward(_)),
                        };
                    relay &= !relayed;
                    action.plan(&scope, &route.name, route.delivery, relayed)
                })
                .collect();
            let dedup = route.dedup.as_ref().and_then(|d| d.key(event).map(|key| DedupClaim { key, window: d.window }));
            taken.push(Taken { route, actions, dedup });
        }
        Dispatch { taken, considered: Vec::new(), reply }
    }

    /// Each condition of a candidate, evaluated with the values it saw.
    fn trace(&self, candidate: &Candidate, event: &Event) -> Vec<Trace> {
        let ctx = EvalContext { event, params: &candidate.params };
        match &self.routes[candidate.route].condition {
            Some(Condition::All(items)) => items.iter().map(|i| i.explain(&ctx)).collect(),
            Some(other) => vec![other.explain(&ctx)],
            None => Vec::new(),
        }
    }
}

impl<'s> Dispatch<'s> {
    /// The names of the routes taken, in order.
    pub(crate) fn route_names(&self) -> Vec<&'s str> {
        self.taken.iter().map(|t| &*t.route.name).collect()
    }
}
