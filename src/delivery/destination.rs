//! Protecting downstreams: a concurrency limit, a circuit breaker and an
//! optional rate limit ([`super::rate`]) per destination (host:port).
//!
//! The limit keeps a backlog from turning into a flood when a service comes
//! back. The breaker stops spending attempts on a service that is down:
//! after `failures` consecutive failures it opens and nothing is sent for
//! `open_for`; then one probe goes out (half-open). A successful probe
//! closes it; a failed one opens it again for twice as long, up to
//! `max_open_for`. Jobs held while it is open keep their attempt budget —
//! they were not tried. Each destination has its own state, so one dead
//! service never holds back deliveries to the others.
//!
//! Pure state, no clocks or tasks: the scheduler passes `now` in, which
//! keeps the state machine unit-testable.

use std::time::Duration;

// tokio's clock, so the scheduler's paused-time tests move it too.
use tokio::time::Instant;

use super::rate::{Pace, RateSpec};

/// Breaker settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    pub failures: u32,
    pub open_for: Duration,
    pub max_open_for: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings { failures: 5, open_for: Duration::from_secs(5), max_open_for: Duration::from_secs(300) }
    }
}

/// What an attempt says about the destination's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Health {
    /// It answered 2xx.
    Up,
    /// No answer, a timeout, 408, 429 or 5xx.
    Down,
    /// It answered, but the answer is about the request (3xx, other 4xx).
    Neutral,
}

/// A breaker's state, as the admin API and the `hookroute_breaker_state`
/// gauge show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BreakerState {
    /// Attempts go out (up to the concurrency limit).
    Closed,
    /// The wait is over: the next attempt is a single probe that decides.
    HalfOpen,
    /// Nothing is sent until the wait is over.
    Open,
}

impl BreakerState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::HalfOpen => "half_open",
            BreakerState::Open => "open",
        }
    }

    /// The gauge's value: 0 closed, 1 half-open, 2 open, so `> 0` means
    /// "not sending freely".
    pub(crate) fn gauge(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 1.0,
            BreakerState::Open => 2.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant, level: u32 },
    HalfOpen { level: u32, probing: bool },
}

/// Whether an attempt may start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Permit {
    Go,
    /// Not before this instant (the breaker is open).
    WaitUntil(Instant),
    /// Not until something in flight finishes (limit reached, or a probe out).
    Busy,
    /// Not before this instant (the rate limit): unlike an open breaker,
    /// the destination is well and its jobs keep their place.
    Paced(Instant),
}

/// One destination's state.
#[derive(Debug)]
pub(crate) struct Destination {
    pub name: String,
    limit: usize,
    in_flight: usize,
    settings: BreakerSettings,
    state: State,
    pace: Option<Pace>,
}

impl Destination {
    pub(crate) fn new(name: String, limit: usize, settings: BreakerSettings) -> Self {
        Destination {
            name,
            limit: limit.max(1),
            in_flight: 0,
            settings,
            state: State::Closed { failures: 0 },
            pace: None,
        }
    }

    /// Sets the rate limit (None: none). An unchanged limit keeps its
    /// budget; a changed one starts afresh.
    pub(crate) fn set_rate(&mut self, rate: Option<RateSpec>) {
        if self.pace.as_ref().map(Pace::rate) != rate {
            self.pace = rate.map(Pace::new);
        }
    }

    /// Takes a start from the rate limit, if there is one.
    fn paced(&self) -> Option<Permit> {
        self.pace.as_ref()?.take().err().map(Permit::Paced)
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight
    }

    #[cfg(test)]
    pub(crate) fn is_open(&self) -> bool {
        matches!(self.state, State::Open { .. })
    }

    /// The breaker as of `now`: its state, until when it stays open, and
    /// the consecutive failures counted while closed. An open breaker whose
    /// wait is over is half-open: it turns so at its next attempt.
    pub(crate) fn breaker(&self, now: Instant) -> (BreakerState, Option<Instant>, u32) {
        match self.state {
            State::Closed { failures } => (BreakerState::Closed, None, failures),
            State::Open { until, .. } if now < until => (BreakerState::Open, Some(until), 0),
            State::Open { .. } | State::HalfOpen { .. } => (BreakerState::HalfOpen, None, 0),
        }
    }

    /// Asks to start an attempt; on `Go` the attempt is counted as started.
    pub(crate) fn try_start(&mut self, now: Instant) -> Permit {
        if let State::Open { until, level } = self.state {
            if now < until {
                return Permit::WaitUntil(until);
            }
            self.state = State::HalfOpen { level, probing: false };
            tracing::info!(destination = %self.name, "circuit breaker half-open: sending one probe");
        }
        match self.state {
            State::HalfOpen { probing: true, .. } => Permit::Busy,
            State::HalfOpen { .. } if self.in_flight == 0 => {
                if let Some(wait) = self.paced() {
                    return wait;
                }
                if let State::HalfOpen { probing, .. } = &mut self.state {
                    *probing = true;
                }
                self.in_flight += 1;
                Permit::Go
            }
            State::HalfOpen { .. } => Permit::Busy,
            _ if self.in_flight >= self.limit => Permit::Busy,
            _ => {
                if let Some(wait) = self.paced() {
                    return wait;
                }
                self.in_flight += 1;
                Permit::Go
            }
        }
    }

    /// Records a finished attempt.
    pub(crate) fn finish(&mut self, health: Health, now: Instant) {
        self.in_flight = self.in_flight.saturating_sub(1);
        match (self.state, health) {
            (State::Closed { .. } | State::Open { .. } | State::HalfOpen { .. }, Health::Up) => {
                if !matches!(self.state, State::Closed { .. }) {
                    tracing::info!(destination = %self.name, "circuit breaker closed: the destination answers again");
                }
                self.state = State::Closed { failures: 0 };
            }
            (State::Closed { failures }, Health::Down) => {
                let failures = failures + 1;
                self.state =
                    if failures >= self.settings.failures { self.open(0, now) } else { State::Closed { failures } };
            }
            (State::HalfOpen { level, .. }, Health::Down) => self.state = self.open(level + 1, now),
            // Attempts started before it opened report late; they change nothing.
            (State::Open { .. }, Health::Down) => {}
            (State::HalfOpen { level, .. }, Health::Neutral) => {
                // The probe got an answer about the request, not the service:
                // let another probe decide.
                self.state = State::HalfOpen { level, probing: false };
            }
            (_, Health::Neutral) => {}
        }
    }

    fn open(&self, level: u32, now: Instant) -> State {
        let wait = self
            .settings
            .open_for
            .saturating_mul(2u32.saturating_pow(level.min(31)))
            .min(self.settings.max_open_for.max(self.settings.open_for));
        tracing::warn!(
            destination = %self.name,
            "circuit breaker open: pausing deliveries for {}",
            humantime::format_duration(wait)
        );
        State::Open { until: now + wait, level }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(limit: usize) -> Destination {
        let settings =
            BreakerSettings { failures: 3, open_for: Duration::from_secs(1), max_open_for: Duration::from_secs(4) };
        Destination::new("svc:80".into(), limit, settings)
    }

    #[test]
    fn limits_concurrency() {
        let now = Instant::now();
        let mut d = dest(2);
        assert_eq!(d.try_start(now), Permit::Go);
        assert_eq!(d.try_start(now), Permit::Go);
        assert_eq!(d.try_start(now), Permit::Busy);
        d.finish(Health::Up, now);
        assert_eq!(d.try_start(now), Permit::Go);
    }

    #[test]
    fn opens_probes_and_closes() {
        let t0 = Instant::now();
        let mut d = dest(10);
        for _ in 0..3 {
            assert_eq!(d.try_start(t0), Permit::Go);
            d.finish(Health::Down, t0);
        }
        assert!(d.is_open());
        assert_eq!(d.breaker(t0), (BreakerState::Open, Some(t0 + Duration::from_secs(1)), 0));
        assert_eq!(d.breaker(t0 + Duration::from_secs(1)).0, BreakerState::HalfOpen);
        assert_eq!(d.try_start(t0), Permit::WaitUntil(t0 + Duration::from_secs(1)));
        // Half-open: exactly one probe.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(d.try_start(t1), Permit::Go);
        assert_eq!(d.try_start(t1), Permit::Busy);
        // A failed probe doubles the wait.
        d.finish(Health::Down, t1);
        assert_eq!(d.try_start(t1), Permit::WaitUntil(t1 + Duration::from_secs(2)));
        let t2 = t1 + Duration::from_secs(2);
        assert_eq!(d.try_start(t2), Permit::Go);
        d.finish(Health::Up, t2);
        assert!(!d.is_open());
        assert_eq!(d.try_start(t2), Permit::Go);
        assert_eq!(d.try_start(t2), Permit::Go);
    }

    #[test]
    fn wait_is_capped_and_neutral_answers_do_not_count() {
        let t0 = Instant::now();
        let mut d = dest(10);
        for _ in 0..10 {
            assert_eq!(d.try_start(t0), Permit::Go);
            d.finish(Health::Neutral, t0);
        }
        assert!(!d.is_open());
        let mut now = t0;
        for _ in 0..3 {
            d.try_start(now);
            d.finish(Health::Down, now);
        }
        for _ in 0..6 {
            let Permit::WaitUntil(until) = d.try_start(now) else { panic!("should be open") };
            assert!(until - now <= Duration::from_secs(4));
            now = until;
            assert_eq!(d.try_start(now), Permit::Go);
            d.finish(Health::Down, now);
        }
    }
}
