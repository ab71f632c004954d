//! `hookroute alerts`: the rules it prints name every route and destination
//! of the config, Prometheus accepts them, and each alert fires on series
//! that should make it fire and stays quiet on series that should not —
//! judged by Prometheus's own `promtool test rules`, with the thresholds
//! the config sets (defaults and per-route overrides).
//!
//! promtool comes with Debian's `prometheus` package (`.ci/run` installs
//! it); without it the promtool tests say so and pass, unless
//! `HOOKROUTE_REQUIRE_SERVERS=1` makes them fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_yaml::Value;

/// Two forwarding routes sharing one destination, one route that verifies
/// signatures, one that only logs; thresholds set at the top and per route.
///
/// Retry budgets (waits at their ceiling + attempts at their timeout):
/// billing 10s + 20s + 3 × 5s = 45s, share 1 → 45s;
/// orders (both forwards) 40s + 2 × 10s = 60s, share 0.5 → 30s. The larger, 45s, is the
/// pending-job threshold.
const CONFIG: &str = r#"
alerts:
  window: 10m
  failure_ratio: 0.5
  signature_failures: 3
routes:
  - name: billing
    path: /hooks/billing
    alerts: { dead_letters: 2, failure_ratio: 0.1, pending_budget_share: 1 }
    actions:
      - forward:
          url: http://billing.internal:8080/events
          timeout: 5s
          retry: { max_attempts: 3, initial_backoff: 10s, max_backoff: 1m, max_age: 1h }
  - name: orders
    path: /hooks/orders
    verify: { github: { secret: "not-a-real-secret" } }
    actions:
      - forward:
          url: "https://shipping.internal/orders/{{ json.id }}"
          retry: { max_attempts: 2, initial_backoff: 40s }
      - forward: { url: http://billing.internal:8080/orders, retry: { max_attempts: 2, initial_backoff: 40s } }
  - name: audit
    path: /hooks/audit
    actions: [ { log: {} } ]
"#;

fn binary(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hookroute")).args(args).current_dir(dir).output().unwrap()
}

/// The rules `hookroute alerts` prints for [`CONFIG`], and the directory
/// holding the config.
fn generated() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("routes.yaml"), CONFIG).unwrap();
    let out = binary(&["alerts", "-c", "routes.yaml"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "hookroute alerts failed: {stderr}");
    (dir, String::from_utf8(out.stdout).unwrap())
}

fn rules(text: &str) -> Vec<Value> {
    let file: Value = serde_yaml::from_str(text).unwrap();
    file["groups"].as_sequence().unwrap().iter().flat_map(|g| g["rules"].as_sequence().unwrap().clone()).collect()
}

fn exprs_of<'a>(rules: &'a [Value], alert: &str) -> Vec<&'a str> {
    rules.iter().filter(|r| r["alert"].as_str() == Some(alert)).map(|r| r["expr"].as_str().unwrap()).collect()
}

#[test]
fn the_rules_name_each_forwarding_route_and_destination_with_its_thresholds() {
    let (_dir, text) = generated();
    let rules = rules(&text);
    let dead = exprs_of(&rules, "HookrouteDeadLetters");
    assert_eq!(dead.len(), 2, "one dead-letter rule per route with forwards: {dead:#?}");
    assert!(dead.iter().any(|e| e.contains(r#"route="billing""#) && e.ends_with(">= 2")), "{dead:#?}");
    assert!(dead.iter().any(|e| e.contains(r#"route="orders""#) && e.ends_with(">= 1")), "{dead:#?}");
    assert!(!text.contains("audit"), "a route without forwards has no delivery alerts:\n{text}");

    let failing = exprs_of(&rules, "HookrouteDeliveryFailing");
    assert_eq!(failing.len(), 2, "one rule per destination: {failing:#?}");
    // Shared by billing (0.1) and orders (the default 0.5): the strictest wins.
    assert!(failing.iter().any(|e| e.contains(r#"destination="billing.internal:8080""#) && e.ends_with("> 0.1")));
    // The label the server gives a templated https URL: its literal host and default port.
    assert!(failing.iter().any(|e| e.contains(r#"destination="shipping.internal:443""#) && e.ends_with("> 0.5")));

    assert_eq!(
        exprs_of(&rules, "HookroutePendingJobAtRisk"),
        vec!["max(hookroute_queue_oldest_pending_age_seconds) > 45"]
    );
    assert_eq!(exprs_of(&rules, "HookrouteSignatureFailures").len(), 1);
    assert_eq!(exprs_of(&rules, "HookrouteReloadFailed").len(), 1);
    for rule in &rules {
        let severity = rule["labels"]["severity"].as_str().unwrap_or_default();
        assert!(["warning", "critical"].contains(&severity), "{rule:?}");
        for key in ["summary", "description", "hint"] {
            assert!(rule["annotations"][key].as_str().is_some_and(|s| !s.is_empty()), "{key} missing: {rule:?}");
        }
    }
}

#[test]
fn a_config_without_verification_or_forwards_gets_only_the_reload_and_event_log_alerts() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("routes.yaml"), "routes:\n  - {name: a, path: /a, actions: [{log: {}}]}\n").unwrap();
    let out = binary(&["alerts", "-c", "routes.yaml"], dir.path());
    assert!(out.status.success());
    let names: Vec<String> =
        rules(&String::from_utf8_lossy(&out.stdout)).iter().map(|r| r["alert"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, vec!["HookrouteReloadFailed", "HookrouteEventLogDropping"]);
}

#[test]
fn check_and_alerts_refuse_a_bad_threshold_and_say_where_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let config = "alerts:\n  failure_ratio: 2\nroutes:\n  - name: a\n    path: /a\n    alerts: { dead_letters: 0 }\n    actions: [{log: {}}]\n";
    std::fs::write(dir.path().join("routes.yaml"), config).unwrap();
    for command in ["check", "alerts"] {
        let out = binary(&[command, "-c", "routes.yaml"], dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{command} accepted it");
        assert!(stderr.contains("routes.yaml:2:3: alerts.failure_ratio: 2 is not a share"), "{command}: {stderr}");
        assert!(stderr.contains(r#"routes.yaml:6:29: route "a": alerts.dead_letters: must be at least 1"#), "{stderr}");
    }
}

/// promtool, or None (with a line saying so) when it is not installed.
fn promtool() -> Option<PathBuf> {
    let found = Command::new("promtool").arg("--version").output().is_ok_and(|o| o.status.success());
    if found {
        return Some(PathBuf::from("promtool"));
    }
    if std::env::var("HOOKROUTE_REQUIRE_SERVERS").as_deref() == Ok("1") {
        panic!("promtool is missing (Debian package `prometheus`) and HOOKROUTE_REQUIRE_SERVERS=1");
    }
    eprintln!("skipped: promtool not found (install the Debian package `prometheus`)");
    None
}

fn run_promtool(promtool: &Path, args: &[&str], dir: &Path) {
    let out = Command::new(promtool).args(args).current_dir(dir).output().unwrap();
    assert!(
        out.status.success(),
        "promtool {}:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn promtool_accepts_the_rules() {
    let Some(promtool) = promtool() else { return };
    let (dir, text) = generated();
    std::fs::write(dir.path().join("rules.yaml"), text).unwrap();
    run_promtool(&promtool, &["check", "rules", "rules.yaml"], dir.path());
}

/// Synthetic series for each alert, one promtool test group each: the
/// series that must fire it and the series that must not. Time starts at
/// 0 (so `time()` is the evaluation time), one sample a minute.
const PROMTOOL_TESTS: &str = r#"
rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
  # orders (threshold 1): its counter appears with its first dead letter —
  # increase() alone would never see that one.
  - interval: 1m
    input_series:
      - { series: 'hookroute_dead_letters_total{route="orders"}', values: '_ _ _ 1 1 1' }
    alert_rule_test:
      - { eval_time: 2m, alertname: HookrouteDeadLetters }
      - eval_time: 4m
        alertname: HookrouteDeadLetters
        exp_alerts:
          - exp_labels: { severity: critical, route: orders }
            exp_annotations: { summary: Route orders moved events to dead letters }
  # orders: a counter that stopped growing long ago is quiet.
  - interval: 1m
    input_series:
      - { series: 'hookroute_dead_letters_total{route="orders"}', values: '4x30' }
    alert_rule_test:
      - { eval_time: 25m, alertname: HookrouteDeadLetters }
  # billing (override 2): one dead letter is not enough, the second fires.
  - interval: 1m
    input_series:
      - { series: 'hookroute_dead_letters_total{route="billing"}', values: '0 0 0 1 1 1 1 2 2' }
    alert_rule_test:
      - { eval_time: 6m, alertname: HookrouteDeadLetters }
      - eval_time: 8m
        alertname: HookrouteDeadLetters
        exp_alerts:
          - exp_labels: { severity: critical, route: billing }
            exp_annotations: { summary: Route billing moved events to dead letters }
  # A job 44s old is within billing's allowance (45s, the largest).
  - interval: 1m
    input_series:
      - { series: 'hookroute_queue_oldest_pending_age_seconds', values: '0 20 40 44 44 44 44' }
    alert_rule_test:
      - { eval_time: 6m, alertname: HookroutePendingJobAtRisk }
  # Past it for a minute: fires.
  - interval: 1m
    input_series:
      - { series: 'hookroute_queue_oldest_pending_age_seconds', values: '0 30 50 110 170 230' }
    alert_rule_test:
      - { eval_time: 2m, alertname: HookroutePendingJobAtRisk }
      - eval_time: 4m
        alertname: HookroutePendingJobAtRisk
        exp_alerts:
          - exp_labels: { severity: critical }
            exp_annotations: { summary: A delivery job has waited past its share of the retry budget }
  # 3 failed attempts in 13 (23%) for 20 minutes: over billing's 0.1, under
  # shipping's 0.5.
  - interval: 1m
    input_series:
      - { series: 'hookroute_forward_attempts_total{destination="billing.internal:8080",outcome="success"}', values: '0+10x30' }
      - { series: 'hookroute_forward_attempts_total{destination="billing.internal:8080",outcome="retry"}', values: '0+3x30' }
      - { series: 'hookroute_forward_attempts_total{destination="shipping.internal:443",outcome="success"}', values: '0+10x30' }
      - { series: 'hookroute_forward_attempts_total{destination="shipping.internal:443",outcome="retry"}', values: '0+3x30' }
    alert_rule_test:
      - { eval_time: 5m, alertname: HookrouteDeliveryFailing }
      - eval_time: 25m
        alertname: HookrouteDeliveryFailing
        exp_alerts:
          - exp_labels: { severity: warning, destination: "billing.internal:8080" }
            exp_annotations: { summary: "Forwards to billing.internal:8080 are failing" }
  # shipping failing for good (6 of 10): fires.
  - interval: 1m
    input_series:
      - { series: 'hookroute_forward_attempts_total{destination="shipping.internal:443",outcome="success"}', values: '0+4x30' }
      - { series: 'hookroute_forward_attempts_total{destination="shipping.internal:443",outcome="failed"}', values: '0+6x30' }
    alert_rule_test:
      - eval_time: 25m
        alertname: HookrouteDeliveryFailing
        exp_alerts:
          - exp_labels: { severity: warning, destination: "shipping.internal:443" }
            exp_annotations: { summary: "Forwards to shipping.internal:443 are failing" }
  # Two bad signatures (threshold 3): quiet.
  - interval: 1m
    input_series:
      - { series: 'hookroute_rejected_total{reason="signature"}', values: '0 0 1 2 2 2' }
      - { series: 'hookroute_rejected_total{reason="ip"}', values: '0 50 100 150 200 250' }
    alert_rule_test:
      - { eval_time: 5m, alertname: HookrouteSignatureFailures }
  # A burst of 5, in a series that did not exist before: fires.
  - interval: 1m
    input_series:
      - { series: 'hookroute_rejected_total{reason="signature"}', values: '_ _ 5 5' }
    alert_rule_test:
      - eval_time: 3m
        alertname: HookrouteSignatureFailures
        exp_alerts:
          - exp_labels: { severity: warning }
            exp_annotations: { summary: Webhooks are being refused for bad signatures }
  # A reload failed at 2m and nothing loaded after the start: fires.
  - interval: 1m
    input_series:
      - { series: 'hookroute_config_reloads_total{outcome="failure"}', values: '0 0 1 1 1 1 1 1 1 1 1 1' }
      - { series: 'hookroute_config_last_reload_success_timestamp_seconds', values: '0x11' }
    alert_rule_test:
      - eval_time: 11m
        alertname: HookrouteReloadFailed
        exp_alerts:
          - exp_labels: { severity: warning, outcome: failure }
            exp_annotations: { summary: "A config reload failed; the previous config is still serving" }
  # A reload failed at 2m, the fixed file loaded at 3m: quiet.
  - interval: 1m
    input_series:
      - { series: 'hookroute_config_reloads_total{outcome="failure"}', values: '0 0 1 1 1 1 1 1 1 1 1 1' }
      - { series: 'hookroute_config_last_reload_success_timestamp_seconds', values: '0 0 0 180 180 180 180 180 180 180 180 180' }
    alert_rule_test:
      - { eval_time: 11m, alertname: HookrouteReloadFailed }
"#;

#[test]
fn each_alert_fires_on_series_that_should_fire_it_and_no_others() {
    let Some(promtool) = promtool() else { return };
    let (dir, text) = generated();
    // promtool compares every annotation; the descriptions render
    // `$value`, so only the summary (fixed text naming the route or
    // destination) is kept for the comparison. `promtool_accepts_the_rules`
    // checks the full annotations' templates.
    let mut file: Value = serde_yaml::from_str(&text).unwrap();
    for group in file["groups"].as_sequence_mut().unwrap() {
        for rule in group["rules"].as_sequence_mut().unwrap() {
            let summary = rule["annotations"]["summary"].clone();
            rule["annotations"] = Value::Mapping([(Value::from("summary"), summary)].into_iter().collect());
        }
    }
    std::fs::write(dir.path().join("rules.yaml"), serde_yaml::to_string(&file).unwrap()).unwrap();
    std::fs::write(dir.path().join("tests.yaml"), PROMTOOL_TESTS).unwrap();
    if let Ok(keep) = std::env::var("HOOKROUTE_ALERTS_TEST_DIR") {
        // To try a changed rule by hand: `promtool test rules tests.yaml` there.
        for name in ["rules.yaml", "tests.yaml"] {
            std::fs::copy(dir.path().join(name), Path::new(&keep).join(name)).unwrap();
        }
    }
    run_promtool(&promtool, &["test", "rules", "tests.yaml"], dir.path());
}
