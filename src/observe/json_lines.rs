//! The JSON log line format: one object per event, written directly.
//!
//! The same lines tracing-subscriber's `json().flatten_event(true)` writes —
//! `timestamp`, `level`, the event's fields in order (`message` first),
//! `target` — at a third of the cost. tracing-subscriber builds each line
//! through a serde map serializer fed by a visitor that formats every
//! field through `format!` and an `io::Write` adaptor, about 26,000
//! instructions for an access line; with an access line per request that
//! was an eighth of a forwarded request's CPU (bench/PROFILE.md, third
//! round). Here a line is appended to one buffer, strings escaped by
//! serde_json, numbers by serde_json's itoa/ryu.
//!
//! hookroute opens no spans, so span fields are not written. Events that
//! come from the `log` crate (dependencies) carry their real target, and the
//! `log.*` bookkeeping fields are left out, as tracing-subscriber does.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The [`FormatEvent`] for `--log-format json`.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let mut line = Line(Vec::with_capacity(512));
        line.0.extend_from_slice(b"{\"timestamp\":\"");
        // RFC 3339 in UTC with microseconds, as tracing-subscriber's default.
        let _ = write!(line, "{}", humantime::format_rfc3339_micros(std::time::SystemTime::now()));
        line.0.extend_from_slice(b"\",\"level\":\"");
        line.0.extend_from_slice(meta.level().as_str().as_bytes());
        line.0.push(b'"');
        event.record(&mut Fields { line: &mut line, scratch: String::new() });
        line.0.extend_from_slice(b",\"target\":");
        line.string(meta.target());
        line.0.extend_from_slice(b"}\n");
        // Every piece above is UTF-8 (serde_json escapes, ASCII punctuation).
        writer.write_str(std::str::from_utf8(&line.0).map_err(|_| fmt::Error)?)
    }
}

/// A line being built.
struct Line(Vec<u8>);

impl Line {
    fn key(&mut self, name: &str) {
        self.0.push(b',');
        self.string(name);
        self.0.push(b':');
    }

    fn string(&mut self, value: &str) {
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut self.0, value);
    }

    fn number<T: serde::Serialize>(&mut self, value: T) {
        let _ = serde_json::to_writer(&mut self.0, &value);
    }
}

impl fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Fields written as a JSON object when their value is one (checked, so a
/// field of that name holding text stays a string): tracing values are
/// flat, and a `log` action's `headers` as a string of JSON inside the line
/// would make every reader parse twice.
const OBJECT_FIELDS: [&str; 1] = ["headers"];

/// Writes each field of an event as `,"name":value`.
struct Fields<'a> {
    line: &'a mut Line,
    /// For values that arrive as `Debug`/`Display`: formatted here, then
    /// escaped into the line.
    scratch: String,
}

impl Fields<'_> {
    fn wanted(field: &Field) -> bool {
        !field.name().starts_with("log.")
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if Self::wanted(field) {
            self.line.key(field.name());
            self.line.string(value);
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if Self::wanted(field) {
            self.line.key(field.name());
            self.line.number(value);
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if Self::wanted(field) {
            self.line.key(field.name());
            self.line.number(value);
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if Self::wanted(field) {
            self.line.key(field.name());
            // serde_json writes null for NaN and infinities, as tracing's does.
            self.line.number(value);
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if Self::wanted(field) {
            self.line.key(field.name());
            self.line.number(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if Self::wanted(field) {
            self.scratch.clear();
            let _ = write!(self.scratch, "{value:?}");
            self.line.key(field.name());
            let object = OBJECT_FIELDS.contains(&field.name())
                && serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&self.scratch).is_ok();
            if object {
                self.line.0.extend_from_slice(self.scratch.as_bytes());
            } else {
                self.line.string(&self.scratch);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// The lines `emit` logs under `format`, as JSON values.
    fn lines_of(json_lines: bool, emit: impl FnOnce()) -> Vec<serde_json::Value> {
        let out = Arc::new(Mutex::new(Vec::new()));
        let writer = {
            let out = out.clone();
            move || Capture(out.clone())
        };
        let builder = tracing_subscriber::fmt().with_writer(writer).with_max_level(tracing::Level::TRACE);
        match json_lines {
            true => tracing::subscriber::with_default(builder.event_format(JsonLines).finish(), emit),
            false => tracing::subscriber::with_default(builder.json().flatten_event(true).finish(), emit),
        }
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
    }

    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn events() {
        let peer: std::net::SocketAddr = "127.0.0.1:4242".parse().unwrap();
        tracing::info!(
            target: "hookroute::access",
            request_id = "r-1",
            event_id = None::<&str>,
            client = Some(tracing::field::display(peer.ip())),
            method = %http::Method::POST,
            path = %"/a \"quoted\"\npath\u{1}",
            status = 200u16,
            bytes = 12usize,
            latency_ms = 0.125,
            negative = -3i64,
            flag = true,
            reason = Some("not_found"),
            "{} {} {}", "POST", "/a", 200
        );
        tracing::warn!(error = ?std::io::Error::other("disk full"), "cannot write");
        tracing::error!(target: "x::y", nan = f64::NAN, "ünïcode ✓");
    }

    #[test]
    fn writes_what_tracing_subscribers_json_writes() {
        let ours = lines_of(true, events);
        let theirs = lines_of(false, events);
        assert_eq!(ours.len(), 3);
        for (a, b) in ours.iter().zip(&theirs) {
            let (mut a, mut b) = (a.clone(), b.clone());
            // Written a moment apart.
            for v in [&mut a, &mut b] {
                let ts = v.as_object_mut().unwrap().remove("timestamp").unwrap();
                assert!(humantime::parse_rfc3339(ts.as_str().unwrap()).is_ok(), "{ts}");
            }
            assert_eq!(a, b);
        }
        assert_eq!(ours[0]["message"], "POST /a 200");
        assert_eq!(ours[0]["path"], "/a \"quoted\"\npath\u{1}");
        assert_eq!(ours[0]["client"], "127.0.0.1");
        assert!(ours[0].get("event_id").is_none());
    }

    #[test]
    fn headers_holding_a_json_object_are_written_as_one() {
        let lines = lines_of(true, || {
            let headers = serde_json::json!({"x-github-event": "push"});
            tracing::info!(headers = %headers, "a");
            tracing::info!(headers = "{not json", "b");
        });
        assert_eq!(lines[0]["headers"], serde_json::json!({"x-github-event": "push"}));
        assert_eq!(lines[1]["headers"], "{not json");
    }

    #[test]
    fn keys_come_in_tracing_subscribers_order() {
        let ours = lines_of(true, events);
        let keys: Vec<&str> = ours[1].as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["timestamp", "level", "message", "error", "target"]);
    }
}
