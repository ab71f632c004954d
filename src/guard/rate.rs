//! Per-route rate limits (`rate_limit: { per_second, burst, by }`), using
//! governor's GCRA limiters.
//!
//! `by: route` keeps one budget for the route; `by: client_ip` one per
//! client address (as resolved through trusted proxies). The per-client map
//! would grow with every address ever seen, so it is pruned of idle clients
//! every so often. The state lives in the compiled snapshot: a config
//! reload starts every budget afresh.

use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::spec::{RateLimitBy, RateLimitSpec};
use crate::config::ConfigError;

/// Checks between two prunings of the per-client map.
const PRUNE_EVERY: u64 = 4096;

#[derive(Debug)]
pub struct RouteRateLimit {
    limiter: Limiter,
    checks: AtomicU64,
}

#[derive(Debug)]
enum Limiter {
    Route(DefaultDirectRateLimiter),
    ClientIp(DefaultKeyedRateLimiter<IpAddr>),
}

impl RouteRateLimit {
    pub fn compile(spec: &RateLimitSpec, path: &str, errors: &mut Vec<ConfigError>) -> Option<RouteRateLimit> {
        let rate = spec.per_second;
        if !rate.is_finite() || rate <= 0.0 || rate > 1e9 {
            errors.push(ConfigError::new(
                format!("{path}.per_second"),
                "must be a number above 0 (e.g. 10, or 0.5 for one every two seconds)",
            ));
            return None;
        }
        let burst = match spec.burst {
            Some(b) => match NonZeroU32::new(b) {
                Some(b) => b,
                None => {
                    errors.push(ConfigError::new(format!("{path}.burst"), "must be at least 1"));
                    return None;
                }
            },
            None => NonZeroU32::new(rate.ceil() as u32).unwrap_or(NonZeroU32::MIN),
        };
        let period = Duration::from_secs_f64(1.0 / rate);
        let Some(quota) = Quota::with_period(period) else {
            errors.push(ConfigError::new(format!("{path}.per_second"), "is too high"));
            return None;
        };
        let quota = quota.allow_burst(burst);
        let limiter = match spec.by.unwrap_or(RateLimitBy::Route) {
            RateLimitBy::Route => Limiter::Route(RateLimiter::direct(quota)),
            RateLimitBy::ClientIp => Limiter::ClientIp(RateLimiter::keyed(quota)),
        };
        Some(RouteRateLimit { limiter, checks: AtomicU64::new(0) })
    }

    /// Takes one request from the budget, or says how long until one is
    /// available. An unknown client shares one budget with other unknowns.
    pub fn check(&self, client: Option<IpAddr>) -> Result<(), Duration> {
        let clock = DefaultClock::default();
        let outcome = match &self.limiter {
            Limiter::Route(l) => l.check(),
            Limiter::ClientIp(l) => {
                if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
                    l.retain_recent();
                    l.shrink_to_fit();
                }
                l.check_key(&client.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))
            }
        };
        outcome.map_err(|not_until| not_until.wait_time_from(clock.now()))
    }
}

/// `Retry-After` seconds for a wait: rounded up, at least 1.
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(yaml: &str) -> RouteRateLimit {
        let spec: RateLimitSpec = serde_yaml::from_str(yaml).unwrap();
        RouteRateLimit::compile(&spec, "rate_limit", &mut Vec::new()).unwrap()
    }

    #[test]
    fn burst_then_refuse() {
        let l = limit("{per_second: 0.1, burst: 2}");
        assert!(l.check(None).is_ok());
        assert!(l.check(None).is_ok());
        let wait = l.check(None).unwrap_err();
        assert!(retry_after_secs(wait) >= 1);
    }

    #[test]
    fn per_client_budgets() {
        let l = limit("{per_second: 0.1, burst: 1, by: client_ip}");
        let a = Some("192.0.2.1".parse().unwrap());
        let b = Some("192.0.2.2".parse().unwrap());
        assert!(l.check(a).is_ok());
        assert!(l.check(a).is_err());
        assert!(l.check(b).is_ok());
    }

    #[test]
    fn bad_specs() {
        let mut errors = Vec::new();
        for yaml in ["{per_second: 0}", "{per_second: -1}", "{per_second: 5, burst: 0}"] {
            let spec: RateLimitSpec = serde_yaml::from_str(yaml).unwrap();
            assert!(RouteRateLimit::compile(&spec, "r", &mut errors).is_none(), "{yaml}");
        }
        assert_eq!(errors.len(), 3);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(2500)), 3);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
    }
}
