//! The text form of an [`Explanation`], for the person at the terminal.

use super::{ActionPreview, Explanation};
use crate::matcher::explain::render_text as render_trace;

/// Renders `e` as indented text: each candidate route with its conditions
/// and the values they saw, what is taken, and each action as it would run.
pub fn render_text(e: &Explanation) -> String {
    let mut out = String::new();
    let query = e.query.as_deref().map(|q| format!("?{q}")).unwrap_or_default();
    out.push_str(&format!("{} {}{query}\n", e.method, e.path));
    if let Some(problem) = &e.problem {
        out.push_str(&format!("  {problem}\n"));
    }
    if let Some(reading) = &e.body {
        out.push_str(&format!("  body: {}\n", describe_reading(reading)));
    }
    for c in &e.candidates {
        out.push_str(&format!("\nroute {}  ({})\n", c.route, c.path));
        if !c.path_params.is_empty() {
            let params: Vec<String> = c.path_params.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
            out.push_str(&format!("  path params: {}\n", params.join(", ")));
        }
        if let Some(why) = &c.not_tried {
            out.push_str(&format!("  not tried: {why}\n"));
            continue;
        }
        if c.conditions.is_empty() {
            out.push_str("  no conditions → true\n");
        }
        for t in &c.conditions {
            render_trace(t, 1, &mut out);
        }
        let verdict = match (c.taken, c.continues) {
            (true, true) => "TAKEN (continue: later routes are tried too)",
            (true, false) => "TAKEN",
            (false, _) => "not taken: a condition is false",
        };
        out.push_str(&format!("  → {verdict}\n"));
        for a in &c.actions {
            render_action(a, &mut out);
        }
    }
    out.push('\n');
    match e.taken.len() {
        0 => out.push_str("taken: none\n"),
        _ => out.push_str(&format!("taken: {}\n", e.taken.join(", "))),
    }
    match e.status {
        Some(s) => out.push_str(&format!("status: {s}\n")),
        None if runs_now(e) => out.push_str("status: the command's answer (respond: from: exec)\n"),
        None => out.push_str("status: the forward's answer (respond: from: forward)\n"),
    }
    out
}

/// True when the answer is the output of an exec run at once.
fn runs_now(e: &Explanation) -> bool {
    e.candidates.iter().flat_map(|c| &c.actions).any(|a| matches!(a, ActionPreview::Exec { relayed: true, .. }))
}

fn render_action(a: &ActionPreview, out: &mut String) {
    match a {
        ActionPreview::Forward { method, url, headers, body, original_body, relayed, error } => {
            let how = if *relayed { " (sent at once; its answer is the reply)" } else { "" };
            match (url, error) {
                (_, Some(e)) => out.push_str(&format!("    forward: NOT SENT: {e}\n")),
                (Some(url), None) => {
                    out.push_str(&format!("    forward {method} {url}{how}\n"));
                    for (n, v) in headers {
                        out.push_str(&format!("      {n}: {v}\n"));
                    }
                    let note = if *original_body { "body (the request's, unchanged)" } else { "body" };
                    out.push_str(&format!("      {note}: {}\n", body.as_deref().unwrap_or("")));
                }
                (None, None) => {}
            }
        }
        ActionPreview::Publish { broker, address, headers, body, original_body, error } => match (address, error) {
            (_, Some(e)) => out.push_str(&format!("    publish to {broker}: NOT SENT: {e}\n")),
            (Some(address), None) => {
                out.push_str(&format!("    publish to {broker}: {address}\n"));
                for (n, v) in headers {
                    out.push_str(&format!("      {n}: {v}\n"));
                }
                let note = if *original_body { "body (the request's, unchanged)" } else { "body" };
                out.push_str(&format!("      {note}: {}\n", body.as_deref().unwrap_or("")));
            }
            (None, None) => {}
        },
        ActionPreview::Log { level, message, error } => match (message, error) {
            (_, Some(e)) => out.push_str(&format!("    log {level}: NOT WRITTEN: {e}\n")),
            (Some(m), None) => out.push_str(&format!("    log {level}: {m}\n")),
            (None, None) => {}
        },
        ActionPreview::File { path, line, error } => match (path, error) {
            (_, Some(e)) => out.push_str(&format!("    file: NOT WRITTEN: {e}\n")),
            (Some(p), None) => out.push_str(&format!("    file {p}\n      line: {line}\n")),
            (None, None) => {}
        },
        ActionPreview::Exec { argv, env, stdin, relayed, error } => {
            let how = if *relayed { " (run at once; its output is the reply)" } else { "" };
            match (argv, error) {
                (_, Some(e)) => out.push_str(&format!("    exec: NOT RUN: {e}\n")),
                (Some(argv), None) => {
                    out.push_str(&format!("    exec {}{how}\n", argv.first().map(String::as_str).unwrap_or("")));
                    // JSON, so where each argument starts and ends is plain.
                    let list = serde_json::to_string(argv).unwrap_or_default();
                    out.push_str(&format!("      argv: {list}\n"));
                    for (n, v) in env {
                        out.push_str(&format!("      env {n}={v}\n"));
                    }
                    let input = if stdin == "body" { "the request's body" } else { "none" };
                    out.push_str(&format!("      stdin: {input}\n"));
                }
                (None, None) => {}
            }
        }
        ActionPreview::Respond { status, headers, body, error } => match error {
            Some(e) => out.push_str(&format!("    respond: 500, the reply could not be rendered: {e}\n")),
            None => {
                out.push_str(&format!("    respond {status}\n"));
                for (n, v) in headers {
                    out.push_str(&format!("      {n}: {v}\n"));
                }
                out.push_str(&format!("      body: {body}\n"));
            }
        },
    }
}

/// One line on how the body was read: `json (gzip decoded, BOM removed;
/// 2048 bytes received, 9120 read)`.
fn describe_reading(r: &crate::event::Reading) -> String {
    use crate::event::ReadAs;
    let how = match r.read_as {
        ReadAs::Json => "read as JSON",
        ReadAs::JsonInForm => "read as JSON (declared a form, but the whole body is JSON)",
        ReadAs::JsonInText => "read as JSON (declared text/plain, but the whole body is JSON)",
        ReadAs::JsonUndeclared => "read as JSON (no Content-Type; the body is JSON)",
        ReadAs::Form => "read as form fields",
        ReadAs::Empty => "empty: no JSON document (`json` conditions are false)",
        ReadAs::Other => "not JSON or a form: no document (`json` conditions are false)",
    };
    let mut undone: Vec<String> = r.content_encoding.iter().map(|c| format!("{c} decoded")).collect();
    if r.bom_removed {
        undone.push("BOM removed".to_string());
    }
    if let Some(charset) = r.charset {
        undone.push(format!("decoded from {charset}"));
    }
    let sizes = match r.received_bytes == r.content_bytes {
        true => format!("{} bytes", r.received_bytes),
        false => format!("{} bytes received, {} read", r.received_bytes, r.content_bytes),
    };
    match undone.is_empty() {
        true => format!("{how}; {sizes}"),
        false => format!("{how}; {}; {sizes}", undone.join(", ")),
    }
}
