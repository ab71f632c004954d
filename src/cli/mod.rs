//! The binary's edge: command-line arguments, and one module per command
//! that is more than a call into the library — the admin-API client of
//! `deliveries` and `health` ([`admin`]), reading a body file for `explain`,
//! and printing each command's result. None of this is in the library
//! (`src/lib.rs`): it offers the functions these call, with typed results.

pub mod admin;
pub mod alerts;
pub mod deliveries;
pub mod explain;
pub mod health;
pub mod preview;
pub mod problems;
pub mod test;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "hookroute",
    version,
    about = "Route webhooks by path, headers and JSONPath matches to internal services, logs and files.",
    after_help = "Examples:\n  hookroute serve -c routes.yaml\n  hookroute serve --listen 127.0.0.1:3000\n  hookroute check -c examples/github.yaml\n  HOOKROUTE_CONFIG=/etc/hookroute/routes.yaml hookroute serve"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log output format. Default: json when stdout is not a terminal.
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log filter, e.g. `info` or `hookroute=debug` (RUST_LOG also works).
    #[arg(long, global = true)]
    pub log_level: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the router.
    #[command(after_help = "Example:\n  hookroute serve -c routes.yaml --listen 0.0.0.0:8080")]
    Serve(ServeArgs),
    /// Load and validate a config as `serve` would, without listening; print
    /// every problem with its location. Exits 1 on problems.
    #[command(after_help = "Example:\n  hookroute check -c routes.yaml && echo deployable")]
    Check(ConfigArg),
    /// Show what the routes would do with one request, and why: each
    /// candidate route's conditions with the values they saw, the routes
    /// taken, and each action rendered as it would run. Executes nothing.
    #[command(
        after_help = "Examples:\n  hookroute explain -c routes.yaml --path /hooks/github -H 'X-GitHub-Event: push' --body push.json\n  hookroute explain --path /hooks/stripe --body event.json --format json"
    )]
    Explain(explain::ExplainArgs),
    /// Run route tests (`tests:` in the config, or files given with
    /// --tests): one PASS/FAIL line each, a diff for each difference.
    /// Exits 1 when any test fails. No network, no side effects.
    #[command(
        after_help = "Examples:\n  hookroute test -c routes.yaml\n  hookroute test -c routes.yaml --tests routes.test.yaml"
    )]
    Test(test::TestArgs),
    /// Print the JSON Schema of routes.yaml (committed as routes.schema.json
    /// for editors: `# yaml-language-server: $schema=./routes.schema.json`).
    #[command(after_help = "Example:\n  hookroute schema > routes.schema.json")]
    Schema,
    /// Inspect and replay deliveries (dead letters) of a running server
    /// through its admin API, by delivery id or by the event id of the 202.
    #[command(
        after_help = "Examples:\n  hookroute deliveries -c routes.yaml list --status dead\n  hookroute deliveries show 01JD3T...   (a delivery id, or the event id from the 202)\n  hookroute deliveries retry --status dead --route github\n  hookroute deliveries destinations"
    )]
    Deliveries(deliveries::DeliveriesArgs),
    /// Print Prometheus alerting rules for the routes and destinations in
    /// the config (dead letters, jobs waiting too long, failing
    /// destinations, signature failures, failed reloads), with the
    /// thresholds of its `alerts:` keys. Runs nothing.
    #[command(after_help = "Example:\n  hookroute alerts -c routes.yaml > /etc/prometheus/rules/hookroute.yaml")]
    Alerts(alerts::AlertsArgs),
    /// Ask a running server whether it is ready (GET /-/readyz on its admin
    /// listener). Exits 0 when ready, 1 otherwise: for container health
    /// checks and scripts.
    #[command(
        after_help = "Examples:\n  hookroute health -c /etc/hookroute/routes.yaml\n  hookroute health --admin 127.0.0.1:9090"
    )]
    Health(health::HealthArgs),
    /// Run a changed routes file against a running server's recent
    /// traffic (its event log) and print which events would be routed,
    /// answered or rendered differently. Sends nothing. Exits 0 when
    /// nothing changes, 3 when something does, 1 when the file does not
    /// compile: a gate for config changes in CI.
    #[command(
        after_help = "Examples:\n  hookroute preview -c new-routes.yaml --admin 127.0.0.1:9090\n  hookroute preview -c new-routes.yaml --admin https://hooks-admin.internal --token \"$T\" --events 500"
    )]
    Preview(preview::PreviewArgs),
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// The routes file [env: HOOKROUTE_CONFIG, then ./routes.yaml].
    #[arg(short = 'c', long = "config", env = "HOOKROUTE_CONFIG", default_value = "routes.yaml", hide_env = true)]
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Public listen address; overrides `listen:` in the config.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Admin listen address; overrides `admin_listen:` in the config.
    #[arg(long)]
    pub admin_listen: Option<SocketAddr>,
    /// Do not watch the config's directory; reload only on SIGHUP or
    /// `POST /-/reload`.
    #[arg(long)]
    pub no_watch: bool,
    /// Directory of the delivery queue; overrides `data_dir:` in the config.
    #[arg(long, env = "HOOKROUTE_DATA_DIR")]
    pub data_dir: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Json,
    Pretty,
}
