//! `hookroute deliveries list|show|retry`: dead letters and replay from the
//! terminal, through the admin API of a running server.
//!
//! The CLI never opens the store itself: the server holds it (redb allows
//! one writer), and going through the API means the CLI sees and does
//! exactly what an operator's script calling the API would. The API's
//! address comes from `--admin`, or from the routes file the server runs
//! with (`-c`, like `hookroute health`). Wherever a delivery id is taken,
//! the event id a sender got in its 202 works too and means all of that
//! event's deliveries.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::Value;

use super::admin::AdminEndpoint;

/// `hookroute deliveries`' arguments.
#[derive(Debug, Args)]
pub(crate) struct DeliveriesArgs {
    /// The routes file whose `admin_listen` and `admin_token` to use
    /// [env: HOOKROUTE_CONFIG; default ./routes.yaml when it exists, else
    /// 127.0.0.1:9090].
    #[arg(short = 'c', long = "config", global = true, env = "HOOKROUTE_CONFIG", hide_env = true)]
    pub config: Option<PathBuf>,
    /// Admin address of the running server (host:port or URL); skips the config.
    #[arg(long, global = true, env = "HOOKROUTE_ADMIN", hide_env_values = true)]
    pub admin: Option<String>,
    /// Bearer token, when the server sets `admin_token` (with --admin).
    #[arg(long, global = true, env = "HOOKROUTE_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: DeliveriesCommand,
}

/// What to do with deliveries.
#[derive(Debug, Subcommand)]
pub(crate) enum DeliveriesCommand {
    /// List deliveries, newest first.
    #[command(
        after_help = "Examples:\n  hookroute deliveries list --status dead\n  hookroute deliveries list --route github --limit 100"
    )]
    List {
        /// pending, succeeded or dead.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        route: Option<String>,
        /// Only the deliveries of this event (the `id` of the sender's 202).
        #[arg(long)]
        event: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Continue a listing from the `next` cursor it printed.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show a delivery with its attempt history, or every delivery of an
    /// event.
    #[command(
        after_help = "Examples:\n  hookroute deliveries show 01JD3T...      (a delivery id, or the id from the 202)"
    )]
    Show {
        /// A delivery id, or an event id (the `id` of the sender's 202).
        id: String,
    },
    /// Send deliveries again: one by id, an event's dead ones by event id,
    /// or every one matching --status/--route.
    #[command(
        after_help = "Examples:\n  hookroute deliveries retry 01JD3T...\n  hookroute deliveries retry --status dead --route github"
    )]
    Retry {
        /// The delivery to retry, or an event id (its dead deliveries);
        /// leave out to retry by --status/--route.
        id: Option<String>,
        /// Bulk retry: dead (default) or succeeded.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        route: Option<String>,
    },
    /// Show each destination (host:port) with its circuit breaker and the
    /// deliveries waiting for it.
    Destinations,
}

/// Why a `deliveries` command did not get an answer to print.
#[derive(Debug, thiserror::Error)]
enum CommandError {
    #[error("cannot reach the admin API at {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("{0}")]
    Usage(&'static str),
    /// The API refused: its own message, and the status.
    #[error("{message} ({status})")]
    Refused { message: String, status: reqwest::StatusCode },
}

/// Where to call: `--admin`, else `-c` (or HOOKROUTE_CONFIG), else
/// ./routes.yaml when there is one, else the default admin address.
fn endpoint(args: &DeliveriesArgs) -> anyhow::Result<AdminEndpoint> {
    use super::admin::{from_config, given};
    if let Some(admin) = &args.admin {
        return Ok(given(admin, args.token.clone()));
    }
    let config = match &args.config {
        Some(path) => path.clone(),
        None if std::path::Path::new("routes.yaml").exists() => PathBuf::from("routes.yaml"),
        None => return Ok(given("127.0.0.1:9090", args.token.clone())),
    };
    let mut endpoint = from_config(&config)?;
    if args.token.is_some() {
        endpoint.token = args.token.clone();
    }
    Ok(endpoint)
}

/// Runs a `deliveries` command; prints its result.
pub(crate) async fn run(args: DeliveriesArgs) -> anyhow::Result<ExitCode> {
    let AdminEndpoint { base, token } = endpoint(&args)?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| CommandError::Unreachable { url: base.clone(), message: e.to_string() })?;
    let call = |method: reqwest::Method, path: String, query: Vec<(&'static str, String)>| {
        let mut url = format!("{base}{path}");
        if !query.is_empty() {
            url.push('?');
            url.push_str(&form_urlencoded::Serializer::new(String::new()).extend_pairs(query).finish());
        }
        // Every call, not only the POSTs: one rule, and a proxy in front may
        // check it on all of them.
        let mut request = client.request(method, url).header(hookroute::ADMIN_REQUEST_HEADER, "1");
        if let Some(token) = &token {
            request = request.bearer_auth(token);
        }
        request
    };
    let (method, path, query) = match &args.command {
        DeliveriesCommand::List { status, route, event, limit, cursor } => {
            let mut q = vec![("limit", limit.to_string())];
            q.extend(status.clone().map(|s| ("status", s)));
            q.extend(route.clone().map(|r| ("route", r)));
            q.extend(event.clone().map(|e| ("event", e)));
            q.extend(cursor.clone().map(|c| ("cursor", c)));
            (reqwest::Method::GET, "/-/deliveries".to_string(), q)
        }
        DeliveriesCommand::Show { id } => (reqwest::Method::GET, format!("/-/deliveries/{}", encode(id)), vec![]),
        DeliveriesCommand::Retry { id: Some(id), status: None, route: None } => {
            (reqwest::Method::POST, format!("/-/deliveries/{}/retry", encode(id)), vec![])
        }
        DeliveriesCommand::Retry { id: Some(_), .. } => {
            return Err(
                CommandError::Usage("give either a delivery id or --status/--route for a bulk retry, not both").into()
            )
        }
        DeliveriesCommand::Retry { id: None, status, route } => {
            if status.is_none() && route.is_none() {
                return Err(CommandError::Usage(
                    "give a delivery id, or --status dead (and/or --route NAME) to retry many",
                )
                .into());
            }
            let mut q = vec![("status", status.clone().unwrap_or_else(|| "dead".into()))];
            q.extend(route.clone().map(|r| ("route", r)));
            (reqwest::Method::POST, "/-/deliveries/retry".to_string(), q)
        }
        DeliveriesCommand::Destinations => (reqwest::Method::GET, "/-/destinations".to_string(), vec![]),
    };
    let url = format!("{base}{path}");
    let response = call(method, path, query)
        .send()
        .await
        .map_err(|e| CommandError::Unreachable { url: url.clone(), message: hookroute::error_text::root_cause(&e) })?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| CommandError::Unreachable { url: url.clone(), message: format!("unreadable answer: {e}") })?;
    let body: Value = serde_json::from_slice(&bytes).map_err(|e| CommandError::Unreachable {
        url: url.clone(),
        message: format!("the answer is not JSON ({e}); is {base} a hookroute admin listener?"),
    })?;
    if !status.is_success() {
        let message = body["error"].as_str().map(str::to_string).unwrap_or_else(|| body.to_string());
        return Err(CommandError::Refused { message, status }.into());
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&body).unwrap_or_default());
        return Ok(ExitCode::SUCCESS);
    }
    match &args.command {
        DeliveriesCommand::List { .. } => {
            print_list(&body);
            print_held_back(&body);
        }
        DeliveriesCommand::Destinations => print_destinations(&body),
        DeliveriesCommand::Show { .. } => match body["deliveries"].as_array() {
            // An event id: each of its deliveries in turn.
            Some(jobs) => {
                let n = jobs.len();
                println!("event {}: {n} deliver{}", text(&body["event_id"]), if n == 1 { "y" } else { "ies" });
                for job in jobs {
                    println!();
                    print_job(job);
                }
            }
            None => print_job(&body),
        },
        DeliveriesCommand::Retry { .. } => {
            let n = body["retried"].as_u64().unwrap_or(0);
            println!("{n} deliver{} queued for another round of attempts", if n == 1 { "y" } else { "ies" });
            print_held_back(&body);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn encode(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn print_list(body: &Value) {
    let empty = Vec::new();
    let rows = body["deliveries"].as_array().unwrap_or(&empty);
    if rows.is_empty() {
        println!("no deliveries");
        return;
    }
    let table: Vec<[String; 7]> = rows
        .iter()
        .map(|d| {
            [
                text(&d["id"]),
                text(&d["status"]),
                text(&d["route"]),
                text(&d["attempts"]),
                text(&d["last_status"]),
                text(&d["updated_at"]),
                // A publish has no URL: its connection and address instead.
                if d["url"].is_null() { text(&d["to"]) } else { text(&d["url"]) },
            ]
        })
        .collect();
    let header = ["ID", "STATUS", "ROUTE", "ATTEMPTS", "LAST", "UPDATED", "URL / TO"].map(String::from);
    print_table(&header, &table);
    if let Some(next) = body["next_cursor"].as_str() {
        println!("more: --cursor {next}");
    }
}

/// One line per destination whose breaker holds deliveries back.
fn print_held_back(body: &Value) {
    for d in body["destinations"].as_array().into_iter().flatten() {
        let name = text(&d["destination"]);
        let waiting = text(&d["waiting"]);
        match d["breaker"].as_str() {
            Some("open") => println!(
                "destination {name}: circuit breaker open until {}; its deliveries ({waiting} waiting) are held \
                 until then, when one probe goes out (half-open) and decides",
                text(&d["open_until"])
            ),
            Some("half_open") => println!(
                "destination {name}: circuit breaker half-open; the next attempt is a probe and the rest \
                 ({waiting} waiting) wait for its answer"
            ),
            _ => {}
        }
    }
}

fn print_destinations(body: &Value) {
    let empty = Vec::new();
    let rows = body["destinations"].as_array().unwrap_or(&empty);
    if rows.is_empty() {
        println!("no destinations attempted since the server started");
        return;
    }
    let table: Vec<[String; 6]> = rows
        .iter()
        .map(|d| {
            [
                text(&d["destination"]),
                text(&d["breaker"]),
                text(&d["open_until"]),
                text(&d["consecutive_failures"]),
                text(&d["waiting"]),
                text(&d["in_flight"]),
            ]
        })
        .collect();
    let header = ["DESTINATION", "BREAKER", "OPEN_UNTIL", "FAILURES", "WAITING", "IN_FLIGHT"].map(String::from);
    print_table(&header, &table);
}

/// Left-aligned columns, two spaces apart.
fn print_table<const N: usize>(header: &[String; N], rows: &[[String; N]]) {
    let widths: Vec<usize> =
        (0..N).map(|i| rows.iter().chain([header]).map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    for row in [header].into_iter().chain(rows.iter()) {
        let line: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        println!("{}", line.join("  ").trim_end());
    }
}

fn print_job(job: &Value) {
    for key in ["id", "event_id", "route", "status", "destination", "created_at", "updated_at", "next_attempt_at"] {
        if !job[key].is_null() {
            println!("{key:<16}{}", text(&job[key]));
        }
    }
    let request = &job["request"];
    match request["kind"].as_str() {
        Some("publish") => {
            println!("{:<16}to {} at {}", "publish", text(&request["broker"]), request["address"]);
        }
        // The argv as JSON: where each argument starts and ends is plain.
        Some("exec") => println!("{:<16}{}", "exec", request["argv"]),
        _ => println!("{:<16}{} {}", "request", text(&request["method"]), text(&request["url"])),
    }
    if let Some(key) = job["ordering_key"].as_str() {
        println!("{:<16}{}", "ordering_key", key.replace('\u{1f}', " / "));
    }
    if let Some(reason) = job["dead_reason"].as_str() {
        println!("{:<16}{reason}", "dead_reason");
    }
    let empty = Vec::new();
    let attempts = job["attempts"].as_array().unwrap_or(&empty);
    println!("attempts ({}):", attempts.len());
    for a in attempts {
        let outcome = match (a["status"].as_u64(), a["error"].as_str()) {
            (_, Some(e)) => e.to_string(),
            (Some(s), None) => format!("answered {s}"),
            (None, None) => "-".into(),
        };
        println!("  #{:<3} {}  {:>6} ms  {outcome}", text(&a["number"]), text(&a["at"]), text(&a["latency_ms"]));
        print_answer(a);
    }
}

/// An attempt's answer details, indented under it: the kept headers
/// (`Location: …` as HTTP writes them), the note, and the body excerpt.
fn print_answer(attempt: &Value) {
    for pair in attempt["headers"].as_array().into_iter().flatten() {
        if let (Some(name), Some(value)) = (pair[0].as_str(), pair[1].as_str()) {
            println!("        {}: {value}", header_case(name));
        }
    }
    if let Some(note) = attempt["note"].as_str() {
        println!("        note: {note}");
    }
    if let Some(body) = attempt["body"].as_str() {
        let cut = if attempt["body_truncated"].as_bool() == Some(true) { " (truncated)" } else { "" };
        print_excerpt(&format!("body{cut}"), body);
    }
    let exec = &attempt["exec"];
    if let Some(code) = exec["exit_code"].as_i64() {
        println!("        exit code: {code}");
    }
    for stream in ["stdout", "stderr"] {
        if let Some(output) = exec[stream].as_str() {
            print_excerpt(stream, output);
        }
    }
}

/// A label, then `text` indented below it, one line each.
fn print_excerpt(label: &str, text: &str) {
    println!("        {label}:");
    for line in text.lines() {
        // The upstream (or the command) wrote it: no terminal control
        // sequences from it.
        let line: String =
            line.chars().map(|c| if c.is_control() && c != '\t' { char::REPLACEMENT_CHARACTER } else { c }).collect();
        println!("          {line}");
    }
}

/// `retry-after` → `Retry-After`, the way the header is usually written.
fn header_case(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}
