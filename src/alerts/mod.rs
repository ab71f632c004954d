//! `hookroute alerts`: Prometheus alerting rules written from the config.
//!
//! Hand-written alerts drift from the routes they watch: a new route gets
//! no dead-letter alert, a renamed one keeps an alert that can never fire,
//! and a threshold guessed once ignores each forward's retry policy. Here
//! the rules are derived from the compiled snapshot (the routes, their
//! forwards' destinations and retry budgets, which routes verify
//! signatures) and from the `alerts:` thresholds, and they name only
//! metrics the server exports, with the labels it gives them
//! ([`crate::observe::catalog`]). Like `explain`, this is a tool: it reads
//! the snapshot and runs nothing.
//!
//! Each kind of alert is one function in [`KINDS`]; adding one (a breaker
//! gauge, say, once the server exports it) is one more function there.

pub mod command;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::actions::Action;
use crate::config::alerts::AlertSettings;
use crate::delivery::DeliverySettings;
use crate::metrics as m;
use crate::router::Snapshot;
use crate::upstream::destination_of;

/// A Prometheus rules file: what `promtool check rules` reads.
#[derive(Debug, Serialize)]
pub(crate) struct RuleFile {
    groups: Vec<Group>,
}

/// One rule group.
#[derive(Debug, Serialize)]
struct Group {
    name: String,
    rules: Vec<Rule>,
}

/// One alerting rule.
#[derive(Debug, Serialize)]
struct Rule {
    /// The alert's name; several rules share one (one per route, say).
    alert: String,
    /// PromQL; the alert fires for each series it returns.
    expr: String,
    /// How long `expr` must hold before the alert fires.
    #[serde(rename = "for")]
    for_: String,
    /// `severity`: `critical` or `warning`.
    labels: BTreeMap<String, String>,
    /// `summary`, `description` and `hint`.
    annotations: BTreeMap<String, String>,
}

/// What the rules are written from: one entry per route, as the config
/// names it.
struct Facts<'a> {
    settings: &'a AlertSettings,
    routes: Vec<RouteFacts>,
}

struct RouteFacts {
    name: String,
    /// Destinations (`host:port`, as the metrics label them) of its forwards.
    destinations: Vec<String>,
    /// The longest time one of its forwards' jobs can stay pending under
    /// its retry policy; None without forwards.
    budget: Option<Duration>,
    verifies: bool,
}

/// Each kind of alert, in the order they are printed.
const KINDS: &[fn(&Facts) -> Vec<Rule>] =
    &[dead_letters, pending_job_at_risk, delivery_failing, signature_failures, reload_failed, event_log_dropping];

/// The rules for `snapshot`, with thresholds from `settings`.
pub(crate) fn rules(snapshot: &Snapshot, delivery: &DeliverySettings, settings: &AlertSettings) -> RuleFile {
    let routes = snapshot
        .routes
        .iter()
        .map(|route| {
            let mut destinations = Vec::new();
            let mut budget: Option<Duration> = None;
            for action in &route.actions {
                let Action::Forward(forward) = action else { continue };
                let destination = destination_of(&forward.url);
                if !destinations.contains(&destination) {
                    destinations.push(destination);
                }
                let policy = forward.retry.over(&delivery.retry);
                let this = retry_budget(&policy, forward.timeout);
                budget = Some(budget.map_or(this, |b| b.max(this)));
            }
            RouteFacts { name: route.name.to_string(), destinations, budget, verifies: route.guard.verify.is_some() }
        })
        .collect();
    let facts = Facts { settings, routes };
    let rules = KINDS.iter().flat_map(|kind| kind(&facts)).collect();
    RuleFile { groups: vec![Group { name: "hookroute".into(), rules }] }
}

/// The longest a job can stay pending under `policy`: every wait at its
/// ceiling plus every attempt running to its timeout, but no attempt
/// starting after `max_age`.
fn retry_budget(policy: &crate::delivery::retry::RetryPolicy, timeout: Duration) -> Duration {
    let mut waits = Duration::ZERO;
    for attempt in 1..policy.max_attempts {
        let cap = policy.backoff_cap(attempt);
        if cap >= policy.max_backoff {
            // Every later wait is capped too: no need to walk a huge max_attempts.
            waits = waits.saturating_add(cap.saturating_mul(policy.max_attempts - attempt));
            break;
        }
        waits = waits.saturating_add(cap);
    }
    let attempts = timeout.saturating_mul(policy.max_attempts);
    waits.saturating_add(attempts).min(policy.max_age.saturating_add(timeout))
}

/// `hookroute_dead_letters_total` per route with forwards.
fn dead_letters(facts: &Facts) -> Vec<Rule> {
    let window = duration(facts.settings.window);
    facts
        .routes
        .iter()
        .filter(|r| r.budget.is_some())
        .map(|route| {
            let limit = facts.settings.for_route(&route.name).dead_letters;
            let selector = format!("{}{{route={}}}", m::DEAD_LETTERS, quote(&route.name));
            rule(
                "HookrouteDeadLetters",
                format!("sum by (route) ({}) >= {limit}", count_in_window(&selector, &window)),
                "0s",
                "critical",
                format!("Route {} moved events to dead letters", route.name),
                format!(
                    "{{{{ $value }}}} job(s) of route {} went to dead letters in the last {window} (alert at {limit}): their destination refused them or retries ran out. They are kept, not delivered.",
                    route.name
                ),
                format!(
                    "See why with `hookroute deliveries list --status dead --route {0}`; once the destination is fixed, replay with `hookroute deliveries retry --status dead --route {0}`.",
                    route.name
                ),
            )
        })
        .collect()
}

/// The oldest pending job's age against the largest allowance (share ×
/// retry budget) among the routes. The gauge has no route or destination
/// label, so one rule; with the largest allowance, the job it fires for is
/// past its own route's share whichever route it belongs to.
fn pending_job_at_risk(facts: &Facts) -> Vec<Rule> {
    let allowances = facts.routes.iter().filter_map(|r| {
        let share = facts.settings.for_route(&r.name).pending_budget_share;
        // A budget near Duration::MAX (a huge max_age) would overflow
        // mul_f64; the share of it is then as good as all of it.
        r.budget.map(|b| (Duration::try_from_secs_f64(b.as_secs_f64() * share).unwrap_or(b), r, share, b))
    });
    let Some((allowance, route, share, budget)) = allowances.max_by_key(|(a, ..)| *a) else { return Vec::new() };
    let seconds = allowance.as_secs_f64();
    vec![rule(
        "HookroutePendingJobAtRisk",
        format!("max({}) > {}", m::QUEUE_OLDEST_AGE, number(seconds)),
        "1m",
        "critical",
        "A delivery job has waited past its share of the retry budget".into(),
        format!(
            "The oldest pending delivery job is {{{{ $value | humanizeDuration }}}} old: past {}, it has used more than its route's share of its retry budget, whichever route it belongs to (the longest allowance: route {}, {} of a {} budget). It goes to dead letters when its retries run out.",
            duration(allowance),
            route.name,
            number(share),
            duration(budget)
        ),
        "A destination is down or too slow: look at HookrouteDeliveryFailing and `hookroute deliveries list --status pending`.".into(),
    )]
}

/// Failed attempts over all attempts, per destination; the strictest
/// route sending there sets the ratio.
fn delivery_failing(facts: &Facts) -> Vec<Rule> {
    let mut ratios: BTreeMap<&str, (f64, Vec<&str>)> = BTreeMap::new();
    for route in &facts.routes {
        let ratio = facts.settings.for_route(&route.name).failure_ratio;
        for destination in &route.destinations {
            let entry = ratios.entry(destination).or_insert((ratio, Vec::new()));
            entry.0 = entry.0.min(ratio);
            entry.1.push(&route.name);
        }
    }
    let window = duration(facts.settings.window);
    ratios
        .into_iter()
        .map(|(destination, (ratio, routes))| {
            let d = quote(destination);
            let name = m::FORWARD_ATTEMPTS;
            rule(
                "HookrouteDeliveryFailing",
                format!(
                    "sum by (destination) (rate({name}{{destination={d},outcome=~\"retry|failed\"}}[{window}])) / sum by (destination) (rate({name}{{destination={d}}}[{window}])) > {}",
                    number(ratio)
                ),
                "10m",
                "warning",
                format!("Forwards to {destination} are failing"),
                format!(
                    "{{{{ $value | humanizePercentage }}}} of the attempts to {destination} failed over the last {window} (alert above {}; routes: {}). Failed jobs are retried, then dead-lettered.",
                    percent(ratio),
                    routes.join(", ")
                ),
                format!("Check that {destination} is up and answering 2xx; the attempts' errors are in the log lines `forward failed` and in `hookroute deliveries list`."),
            )
        })
        .collect()
}

/// Requests refused for a bad signature, all routes together (the
/// counter has a `reason` label, not a route), when any route verifies.
fn signature_failures(facts: &Facts) -> Vec<Rule> {
    let verifying: Vec<&str> = facts.routes.iter().filter(|r| r.verifies).map(|r| r.name.as_str()).collect();
    if verifying.is_empty() {
        return Vec::new();
    }
    let window = duration(facts.settings.window);
    let limit = facts.settings.signature_failures;
    let selector = format!("{}{{reason=\"signature\"}}", m::REJECTED);
    vec![rule(
        "HookrouteSignatureFailures",
        format!("sum({}) >= {limit}", count_in_window(&selector, &window)),
        "0s",
        "warning",
        "Webhooks are being refused for bad signatures".into(),
        format!(
            "{{{{ $value }}}} request(s) failed signature verification in the last {window} (alert at {limit}; routes that verify: {}).",
            verifying.join(", ")
        ),
        "A provider's secret was rotated and the config still has the old one, or someone is probing the endpoint; the access log has the route and client address of each 401.".into(),
    )]
}

/// A reload failed and nothing loaded since, as far as the window tells:
/// a failure within it and no successful load within it.
fn reload_failed(facts: &Facts) -> Vec<Rule> {
    let window = duration(facts.settings.window);
    let seconds = facts.settings.window.as_secs();
    vec![rule(
        "HookrouteReloadFailed",
        format!(
            "increase({}{{outcome=\"failure\"}}[{window}]) > 0 and ignoring (outcome) (time() - {}) > {seconds}",
            m::CONFIG_RELOADS,
            m::CONFIG_LAST_SUCCESS
        ),
        "0s",
        "warning",
        "A config reload failed; the previous config is still serving".into(),
        format!("A reload of the routes file failed in the last {window} and no config has loaded since; hookroute keeps serving the last good one, so the change is not in effect."),
        "Run `hookroute check -c` on the deployed routes file: it prints each problem with its line.".into(),
    )]
}

/// The event log dropped records (its queue was full, or its store could
/// not be written): the console and `GET /-/events` miss requests. The
/// senders were answered all the same; this is about what the operator
/// can see, so a warning.
fn event_log_dropping(facts: &Facts) -> Vec<Rule> {
    let window = duration(facts.settings.window);
    vec![rule(
        "HookrouteEventLogDropping",
        format!("increase({}[{window}]) > 0", m::EVENT_LOG_DROPPED),
        "0s",
        "warning",
        "The event log is dropping records".into(),
        format!("Within {window} the event log dropped records before writing them: requests were answered, but some are missing from `GET /-/events` and the console."),
        "The log's writer cannot keep up (a slow disk under `data_dir`, or NATS with `store: jetstream`) or cannot write at all (the server log says why). Lower the traffic recorded (`event_log: {bodies: false}`) or give the store faster storage.".into(),
    )]
}

/// How many times `selector`'s counter went up within `window`, per
/// series: `increase()`, except for a series that appeared within the
/// window (the server creates a labelled counter at its first increment,
/// which `increase()` alone would not count), whose whole value counts.
fn count_in_window(selector: &str, window: &str) -> String {
    format!("({selector} unless {selector} offset {window}) or increase({selector}[{window}])")
}

fn rule(
    alert: &str,
    expr: String,
    for_: &str,
    severity: &str,
    summary: String,
    description: String,
    hint: String,
) -> Rule {
    Rule {
        alert: alert.into(),
        expr,
        for_: for_.into(),
        labels: BTreeMap::from([("severity".to_string(), severity.to_string())]),
        annotations: BTreeMap::from([
            ("summary".to_string(), summary),
            ("description".to_string(), description),
            ("hint".to_string(), hint),
        ]),
    }
}

/// A PromQL string literal.
fn quote(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A PromQL duration: the largest whole unit (`10m`, `90s`, `2h`, `1d`).
fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    let ms = d.subsec_millis();
    if ms != 0 || secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if secs % size == 0 {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

/// A number without trailing zeros (`0.5`, `300`, `12.345`).
fn number(value: f64) -> String {
    let mut text = String::new();
    let _ = write!(text, "{value:.3}");
    let trimmed = text.trim_end_matches('0').trim_end_matches('.');
    trimmed.to_string()
}

fn percent(ratio: f64) -> String {
    format!("{}%", number(ratio * 100.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::retry::RetryPolicy;

    #[test]
    fn the_budget_is_the_waits_and_attempts_capped_by_max_age() {
        let policy = RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(3),
            max_age: Duration::from_secs(3600),
            retry_on: Vec::new(),
        };
        // Waits 1 + 2 + 3 (capped), attempts 4 × 10s.
        assert_eq!(retry_budget(&policy, Duration::from_secs(10)), Duration::from_secs(46));
        let short = RetryPolicy { max_age: Duration::from_secs(20), ..policy.clone() };
        assert_eq!(retry_budget(&short, Duration::from_secs(10)), Duration::from_secs(30));
        let huge = RetryPolicy { max_attempts: u32::MAX, max_age: Duration::MAX, ..policy };
        assert!(retry_budget(&huge, Duration::from_secs(1)) > Duration::from_secs(1 << 32));
    }

    #[test]
    fn durations_and_numbers_read_as_promql() {
        assert_eq!(duration(Duration::from_secs(600)), "10m");
        assert_eq!(duration(Duration::from_secs(90)), "90s");
        assert_eq!(duration(Duration::from_secs(7200)), "2h");
        assert_eq!(duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(300.0), "300");
        assert_eq!(quote("a\"b"), "\"a\\\"b\"");
    }
}
