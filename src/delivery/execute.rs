//! One step of a queued job: an attempt (or the end without one), recorded.
//!
//! The scheduler decides *when*; this decides *what happened*: it checks the
//! job may still be sent (`max_age`, a request that could not be built),
//! finds its body (at hand, or read from the store), sends it through
//! [`super::attempt`], lets the job's retry policy judge the outcome, logs
//! and counts it, and saves the updated record of a durable job. Each step
//! runs as its own task and hands the job back to the scheduler with the
//! verdict.

use std::time::{Duration, SystemTime};

use bytes::Bytes;

use super::attempt;
use super::destination::Health;
use super::job::{Attempt, JobRecord, Status, Timestamp, Work};
use super::retry::Verdict;
use super::scheduler::{Entry, StoreSlot};
use crate::metrics as m;
use crate::observe::trace;

/// What attempts need: shared by every attempt task.
pub(crate) struct Ctx {
    pub senders: super::Senders,
    pub store: StoreSlot,
}

/// Runs one attempt of `work` with `body`: the one place a job's kind
/// decides what an attempt does. A new kind (`exec`) adds its arm here,
/// returning an [`attempt::Outcome`] like the others (see
/// `crate::actions::job` for the rest of the checklist).
async fn attempt(ctx: &Ctx, work: &Work, body: Bytes, number: u32, traceparent: Option<&str>) -> attempt::Outcome {
    match work {
        Work::Http(target) => attempt::send(&ctx.senders.http, target, body, number, traceparent).await,
        Work::Publish(target) => super::publish_attempt::send(&ctx.senders.brokers, target, body, traceparent).await,
        Work::Exec(target) => super::exec_attempt::run(target, body).await,
    }
}

/// Runs one attempt of a job and records it.
pub(crate) async fn run(ctx: &Ctx, mut entry: Entry) -> (Entry, Verdict, Health) {
    // A job held back (open breaker, busy key) may outlive max_age waiting.
    let max_age = entry.job.retry.max_age;
    if SystemTime::now() > entry.job.round_started_at.0 + max_age {
        let reason = format!(
            "expired: not delivered within max_age ({}) while waiting for its destination or ordering key",
            humantime::format_duration(max_age)
        );
        return finish_without_attempt(ctx, entry, Verdict::Dead { reason }).await;
    }
    // Built at acceptance and failed there (a template): a manual retry
    // ends as the first time did, without sending anything.
    if let Some(reason) = entry.job.request.unsendable().map(str::to_string) {
        return finish_without_attempt(ctx, entry, Verdict::Dead { reason }).await;
    }
    let rendered = entry.job.request.rendered_body().map(|b| Bytes::copy_from_slice(b.as_bytes()));
    let body = match rendered.or_else(|| entry.body.as_ref().map(|b| b.bytes().clone())) {
        Some(body) => body,
        None => match load_body(ctx, &entry.job).await {
            Ok(body) => body,
            Err(Unavailable::Missing) => {
                let reason = "the event's body is no longer in the store".to_string();
                return finish_without_attempt(ctx, entry, Verdict::Dead { reason }).await;
            }
            Err(Unavailable::Store(e)) => {
                // Not an attempt: try again shortly, budget untouched.
                tracing::warn!(job = %entry.job.id, "cannot read the job's body ({e}); trying again in 1s");
                let after = Duration::from_secs(1);
                entry.job.next_attempt_at = Some(Timestamp(SystemTime::now() + after));
                return (entry, Verdict::Retry { after }, Health::Neutral);
            }
        },
    };
    let job = &mut entry.job;
    let number = job.attempts.len() as u32 + 1;
    let started_at = SystemTime::now();
    let target = job.request.describe();
    let span = trace::AttemptSpan::begin(
        job.trace.as_deref(),
        trace::AttemptInfo {
            route: &job.route,
            destination: &job.destination,
            event_id: &job.event_id,
            job_id: &job.id,
            number,
            url: &target,
        },
    );
    let outcome = attempt(ctx, &job.request, body, number, span.traceparent().as_deref()).await;
    let now = SystemTime::now();
    let describe = outcome.describe();
    let verdict = job.retry.decide(&outcome.result, job.round_attempts() + 1, job.round_started_at.0, now, &describe);
    job.attempts.push(Attempt {
        number,
        at: Timestamp(started_at),
        status: outcome.status,
        error: outcome.error.clone(),
        latency_ms: outcome.latency.as_millis() as u64,
        answer: outcome.answer.clone(),
    });
    let destination = job.destination.clone();
    metrics::histogram!(m::FORWARD_DURATION, "destination" => destination.clone())
        .record(outcome.latency.as_secs_f64());
    let (route, event_id) = (job.route.as_str(), job.event_id.as_str());
    let url = job.request.describe();
    let kind = job.request.action();
    let latency_ms = outcome.latency.as_millis() as u64;
    let label = match &verdict {
        Verdict::Succeeded => {
            match &outcome.answer.note {
                // Delivered, but the upstream is misbehaving: worth a line.
                Some(note) => {
                    tracing::info!(route, event_id, url = %url, attempt = number, latency_ms, "{kind} delivered; {note}")
                }
                None => {
                    tracing::debug!(route, event_id, url = %url, attempt = number, latency_ms, "{kind} delivered")
                }
            }
            "success"
        }
        Verdict::Retry { after } => {
            tracing::info!(
                route,
                event_id,
                url = %url,
                attempt = number,
                latency_ms,
                "{kind} failed ({describe}); retrying in {}",
                humantime::format_duration(Duration::from_millis(after.as_millis() as u64))
            );
            metrics::counter!(m::RETRIES, "destination" => destination.clone()).increment(1);
            "retry"
        }
        Verdict::Dead { reason } => {
            tracing::warn!(
                route,
                event_id,
                url = %url,
                attempt = number,
                latency_ms,
                "{kind} moved to dead letters: {reason}"
            );
            count_dead_letter(&job.route);
            "failed"
        }
    };
    metrics::counter!(m::FORWARD_ATTEMPTS, "destination" => destination, "outcome" => label).increment(1);
    span.finish(outcome.status, label, outcome.error.as_deref());
    let health = outcome.health();
    let (entry, verdict) = record(ctx, entry, verdict, now).await;
    (entry, verdict, health)
}

/// Counts a job of `route` moved to dead letters
/// (`hookroute_dead_letters_total{route}`): the one place it is counted,
/// whether the job was refused at acceptance (it cannot be sent), ran out
/// of attempts, or lost its body.
pub(crate) fn count_dead_letter(route: &str) {
    metrics::counter!(m::DEAD_LETTERS, "route" => route.to_string()).increment(1);
}

/// Ends a job without sending it (its body is gone).
async fn finish_without_attempt(ctx: &Ctx, entry: Entry, verdict: Verdict) -> (Entry, Verdict, Health) {
    if let Verdict::Dead { reason } = &verdict {
        tracing::warn!(route = %entry.job.route, event_id = %entry.job.event_id, "{} moved to dead letters: {reason}", entry.job.request.action());
        count_dead_letter(&entry.job.route);
    }
    let (entry, verdict) = record(ctx, entry, verdict, SystemTime::now()).await;
    (entry, verdict, Health::Neutral)
}

/// Applies a verdict to the job and saves it (durable jobs).
async fn record(ctx: &Ctx, mut entry: Entry, verdict: Verdict, now: SystemTime) -> (Entry, Verdict) {
    let job = &mut entry.job;
    job.updated_at = Timestamp(now);
    match &verdict {
        Verdict::Succeeded => {
            job.status = Status::Succeeded;
            job.next_attempt_at = None;
        }
        Verdict::Retry { after } => job.next_attempt_at = Some(Timestamp(now + *after)),
        Verdict::Dead { reason } => {
            job.status = Status::Dead;
            job.next_attempt_at = None;
            job.dead_reason = Some(reason.clone());
        }
    }
    if !job.memory {
        if let Some(store) = ctx.store.get() {
            // A lost update only repeats an attempt later; say so and go on.
            if let Err(e) = store.save(vec![job.clone()]).await {
                tracing::warn!(job = %job.id, "cannot record the attempt ({e}); it may be repeated after a restart");
            }
        }
        // Retries re-read the body: a long outage must not pin every body in memory.
        entry.body = None;
    }
    (entry, verdict)
}

enum Unavailable {
    Missing,
    Store(super::store::StoreError),
}

async fn load_body(ctx: &Ctx, job: &JobRecord) -> Result<Bytes, Unavailable> {
    let store = ctx.store.get().ok_or(Unavailable::Missing)?;
    match store.body(job.event_id.clone()).await {
        Ok(Some(body)) => Ok(body),
        Ok(None) => Err(Unavailable::Missing),
        Err(e) => Err(Unavailable::Store(e)),
    }
}
