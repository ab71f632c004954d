//! Rate limits per destination: so many attempts started per second,
//! minute or hour to one host:port, shared by every route sending there.
//!
//! A downstream's quota is about the whole service, so the limit belongs to
//! the destination, next to its concurrency limit and breaker
//! ([`super::destination`]), and not to a route or a forward. Jobs over the
//! limit are not refused or failed: they stay queued, and the scheduler
//! wakes when the next one may start (no polling). Attempts are spaced
//! evenly (a burst of one): `10/s` is one every 100 ms, so a downstream
//! never sees more than its quota in any window.
//!
//! The limiter is governor's GCRA on tokio's clock, so the scheduler's
//! paused-time tests move it too. The limit holds per process: replicas
//! sharing a JetStream queue each keep their own budget.

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

pub(crate) use crate::config::rate_spec::RateSpec;

/// The limit of each destination that has one, by `host:port`.
pub(crate) type RateLimits = BTreeMap<String, RateSpec>;

/// Adds `rate` as `destination`'s limit to `limits`; where one is set
/// already, the lower one stays (two forwards to one service share its
/// quota, and the stricter reading of it is the safe one).
pub(crate) fn add_limit(limits: &mut RateLimits, destination: &str, rate: RateSpec) {
    match limits.get(destination) {
        Some(held) if per_second(held) <= per_second(&rate) => {}
        _ => {
            limits.insert(destination.to_string(), rate);
        }
    }
}

fn per_second(rate: &RateSpec) -> f64 {
    f64::from(rate.count) / rate.per.as_secs_f64()
}

/// governor's clock reading tokio's time.
#[derive(Debug, Clone, Default)]
struct TokioClock;

impl Clock for TokioClock {
    type Instant = std::time::Instant;
    fn now(&self) -> std::time::Instant {
        Instant::now().into_std()
    }
}

/// One destination's limiter.
pub(crate) struct Pace {
    rate: RateSpec,
    limiter: RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<std::time::Instant>>,
}

impl Pace {
    pub(crate) fn new(rate: RateSpec) -> Pace {
        let period = rate.per / rate.count.max(1);
        // A period of zero (over a billion a second) cannot be written in
        // routes.yaml's units; one nanosecond is "no limit" in practice.
        let quota = Quota::with_period(period.max(std::time::Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(NonZeroU32::MIN);
        Pace { rate, limiter: RateLimiter::direct_with_clock(quota, TokioClock) }
    }

    pub(crate) fn rate(&self) -> RateSpec {
        self.rate
    }

    /// Takes one start from the budget, or says when the next is allowed.
    pub(crate) fn take(&self) -> Result<(), Instant> {
        self.limiter.check().map_err(|not_until| Instant::from_std(not_until.earliest_possible()))
    }
}

impl std::fmt::Debug for Pace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pace").field("rate", &self.rate.to_string()).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spaces_starts_evenly_and_says_when_the_next_is_allowed() {
        let pace = Pace::new(RateSpec { count: 10, per: Duration::from_secs(1) });
        let t0 = Instant::now();
        assert_eq!(pace.take(), Ok(()));
        let next = pace.take().expect_err("the second start must wait");
        assert_eq!(next - t0, Duration::from_millis(100));
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(pace.take(), Ok(()));
    }

    #[test]
    fn the_lower_limit_of_a_destination_wins() {
        let mut limits = RateLimits::new();
        let per_min = |count| RateSpec { count, per: Duration::from_secs(60) };
        add_limit(&mut limits, "a:80", per_min(120));
        add_limit(&mut limits, "a:80", RateSpec { count: 1, per: Duration::from_secs(1) });
        add_limit(&mut limits, "a:80", per_min(600));
        assert_eq!(limits["a:80"], RateSpec { count: 1, per: Duration::from_secs(1) });
    }
}
