//! One delivery attempt of a `publish` job: find the named broker
//! connection *now* (the job may predate a reload or a restart), send the
//! message, wait for the broker's acknowledgement, and say what happened.
//!
//! Every failure is a transport-like one, retried by the job's policy: a
//! broker that is down, refuses (no JetStream stream for the subject, an
//! unroutable AMQP message), or does not acknowledge in time; and a broker
//! name no longer configured (a reload removed it: it may come back, and
//! the dead letter says which name after the last attempt).

use std::time::Instant;

use bytes::Bytes;

use super::attempt::Outcome;
use super::job::AnswerDetail;
use super::retry::AttemptResult;
use crate::actions::publish::{Brokers, PublishError, PublishTarget};

/// Publishes `target`'s message with `body` through the registry's
/// connector of that name.
pub(crate) async fn send(brokers: &Brokers, target: &PublishTarget, body: Bytes) -> Outcome {
    let started = Instant::now();
    let result = match brokers.get(&target.broker) {
        Some(connector) => connector.publish(&target.message(body), target.timeout()).await,
        None => Err(PublishError::Unavailable {
            broker: target.broker.clone(),
            detail: "no such connection in `brokers:` (a reload removed or renamed it)".into(),
        }),
    };
    let (result, error) = match result {
        Ok(()) => (AttemptResult::Done, None),
        Err(e) => {
            (AttemptResult::Transport { timeout: matches!(e, PublishError::Timeout { .. }) }, Some(e.to_string()))
        }
    };
    Outcome { result, status: None, error, latency: started.elapsed(), answer: AnswerDetail::default() }
}
