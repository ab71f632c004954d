//! `hookroute preview`: a changed routes file run against a running
//! server's recorded traffic (`POST /-/preview`), so a config change can be
//! gated in CI: which recent events would be routed, answered or rendered
//! differently. Nothing is sent anywhere.
//!
//! Exit codes: 0 when no compared event changes, 3 when any does (the
//! differences are printed), 1 when the file does not compile (its
//! problems printed as `check` prints them) or the server cannot be asked.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use serde_json::Value;

use super::admin::{self, AdminEndpoint};
use super::problems::Problems;

/// The exit code when the preview finds changes.
pub(crate) const CHANGED: u8 = 3;

/// `hookroute preview`'s arguments.
#[derive(Debug, Args)]
pub(crate) struct PreviewArgs {
    /// The changed routes file to preview.
    #[arg(short = 'c', long = "config")]
    pub(crate) config: PathBuf,
    /// Admin address of the running server (host:port or URL); without it,
    /// the file's own `admin_listen` and `admin_token`.
    #[arg(long, env = "HOOKROUTE_ADMIN")]
    pub(crate) admin: Option<String>,
    /// Bearer token to send with --admin.
    #[arg(long, env = "HOOKROUTE_ADMIN_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// How many of the most recent events to run through both configs.
    #[arg(long, default_value_t = 100)]
    pub(crate) events: usize,
    /// Print the server's answer as JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Runs `preview`; see the module doc for the exit codes.
pub(crate) async fn run(args: &PreviewArgs) -> anyhow::Result<ExitCode> {
    let text = tokio::fs::read_to_string(&args.config)
        .await
        .with_context(|| format!("cannot read {}", args.config.display()))?;
    let AdminEndpoint { base, token } = match &args.admin {
        Some(address) => admin::given(address, args.token.clone()),
        None => admin::from_config(&args.config)?,
    };
    let client = reqwest::Client::builder().no_proxy().timeout(std::time::Duration::from_secs(60)).build()?;
    let url = format!("{base}/-/preview?events={}", args.events);
    let mut request = client.post(&url).header(hookroute::ADMIN_REQUEST_HEADER, "1").body(text);
    if let Some(token) = &token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.with_context(|| format!("cannot reach {}", hookroute::redact::url(&url)))?;
    let status = response.status();
    let bytes = response.bytes().await.context("the server's answer did not arrive")?;
    let body: Value = serde_json::from_slice(&bytes).context("the server's answer is not JSON")?;
    if status == reqwest::StatusCode::UNPROCESSABLE_ENTITY {
        let listing: Vec<&str> =
            body["errors"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        return Err(Problems::new(listing.join("\n"), format!("{} does not compile", args.config.display())).into());
    }
    if !status.is_success() {
        anyhow::bail!("{} answered {status}: {}", hookroute::redact::url(&url), body["error"].as_str().unwrap_or(""));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
    } else {
        print!("{}", render(&body));
    }
    let changed = body["changed"].as_u64().unwrap_or(0);
    Ok(if changed > 0 { ExitCode::from(CHANGED) } else { ExitCode::SUCCESS })
}

/// The report as text: one block per changed event, then a summary line.
fn render(report: &Value) -> String {
    let mut out = String::new();
    for warning in report["warnings"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        out.push_str(&format!("warning: {warning}\n"));
    }
    for event in report["events"].as_array().into_iter().flatten() {
        let changes: Vec<&str> = event["changes"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        if changes.is_empty() {
            continue;
        }
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        out.push_str(&format!(
            "{} {} {} {}: {} changed\n",
            text(&event["id"]),
            text(&event["time"]),
            text(&event["method"]),
            text(&event["path"]),
            changes.join(", ")
        ));
        let routes = |side: &Value| {
            let names: Vec<&str> = side["routes"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            if names.is_empty() {
                "(none)".to_string()
            } else {
                names.join(", ")
            }
        };
        let status = |side: &Value| side["status"].as_u64().map_or("relayed".to_string(), |s| s.to_string());
        out.push_str(&format!("  live: routes {} → {}\n", routes(&event["live"]), status(&event["live"])));
        out.push_str(&format!("  new:  routes {} → {}\n", routes(&event["new"]), status(&event["new"])));
        if changes.contains(&"actions") {
            out.push_str(&format!("  live actions: {}\n", event["live"]["actions"]));
            out.push_str(&format!("  new actions:  {}\n", event["new"]["actions"]));
        }
        if let Some(note) = event["note"].as_str() {
            out.push_str(&format!("  note: {note}\n"));
        }
    }
    out.push_str(&format!(
        "{} of {} recent events would change\n",
        report["changed"].as_u64().unwrap_or(0),
        report["compared"].as_u64().unwrap_or(0)
    ));
    out
}
