//! `file`: append one JSON line per event.
//!
//! Each file has exactly one writer task that owns the open handle; requests
//! send it a finished line and wait for the write to complete. One writer per
//! file is what keeps concurrent lines from interleaving, and it lets the
//! writer batch whatever lines queued up meanwhile into a single write. Disk
//! I/O runs on the blocking pool, never on a runtime worker.
//!
//! Writers are shared through [`FileWriters`], keyed by path, so a reload
//! that keeps a file action keeps its writer (and its open file).
//!
//! A templated path (`data/events/{{ path_params.provider }}.jsonl`) is
//! rendered per event and must stay under its literal directory (see
//! [`PathTemplate`]); its writers are found in the same registry, which
//! lets go of those no action or write is using once it grows, so a path
//! that changes per event cannot pile up open files.
//!
//! The writer keeps its path and its open file the same file through
//! logrotate's renames and deletes ([`writer`]), opens rendered paths
//! beneath their literal directory ([`place`]), and rotates by itself when
//! the action asks ([`rotate`]).

mod place;
mod rotate;
mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Map, Value};

use crate::config::spec::FileSpec;
use crate::config::ConfigError;
use crate::event::{BodyKind, Event};
use crate::template::{PathTemplate, RenderError, Scope};
use place::Place;
use rotate::Rotation;
pub(crate) use writer::FileWriter;
use writer::Target;

/// Writers kept before unused ones (of templated paths) are let go.
const KEEP_WRITERS: usize = 256;

/// The file writers of the process, by path, shared across reloads. Clones
/// share the registry.
#[derive(Debug, Default, Clone)]
pub(crate) struct FileWriters {
    writers: Arc<Mutex<HashMap<Target, Arc<FileWriter>>>>,
    /// Bumped by [`FileWriters::reopen_all`]; each writer compares it with
    /// the one its handle was opened in before writing.
    generation: Arc<AtomicU64>,
}

impl FileWriters {
    fn get(&self, target: Target) -> Arc<FileWriter> {
        let mut map = self.writers.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= KEEP_WRITERS && !map.contains_key(&target) {
            // Held only here: no action owns it and no write is waiting on
            // it. Dropping it ends its task and closes its file.
            map.retain(|_, w| Arc::strong_count(w) > 1);
        }
        let generation = &self.generation;
        map.entry(target.clone()).or_insert_with(|| Arc::new(FileWriter::new(target, generation.clone()))).clone()
    }

    /// Makes every writer close its file and open its path again before
    /// its next line (within a second when idle): what SIGHUP and a reload
    /// do, for a rotation tool that renamed files and then signals.
    pub(crate) fn reopen_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

#[derive(Debug)]
pub(crate) struct FileAction {
    pub(crate) target: FileTarget,
}

#[derive(Debug)]
pub(crate) enum FileTarget {
    Fixed(Arc<FileWriter>),
    /// Rendered per event; writers come from the shared registry.
    Templated(PathTemplate, FileWriters, Option<Rotation>),
}

/// Why a file action did not write its line.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum FileError {
    /// The path template failed or escaped its directory: this event only.
    #[error("path: {0}")]
    Render(RenderError),
    #[error("{0}")]
    Write(String),
}

impl FileAction {
    pub(crate) fn compile(
        spec: &FileSpec,
        path: &str,
        writers: &FileWriters,
        errors: &mut Vec<ConfigError>,
    ) -> Option<FileAction> {
        if spec.path.trim().is_empty() {
            errors.push(ConfigError::new(format!("{path}.path"), "file path is empty"));
            return None;
        }
        if spec.path.contains('\0') {
            errors.push(ConfigError::new(format!("{path}.path"), "file path contains a NUL byte"));
            return None;
        }
        let rotation = match &spec.rotate {
            Some(r) => Some(Rotation::compile(r, &format!("{path}.rotate"), errors)?),
            None => None,
        };
        if crate::template::is_template(&spec.path) {
            let template = PathTemplate::compile(&spec.path, &format!("{path}.path"), errors)?;
            return Some(FileAction { target: FileTarget::Templated(template, writers.clone(), rotation) });
        }
        let place = Place::Literal(PathBuf::from(&spec.path));
        Some(FileAction { target: FileTarget::Fixed(writers.get(Target { place, rotation })) })
    }

    /// The file this event's line goes to, and the line: what this action
    /// will write, computed without touching any file.
    pub(crate) fn plan(&self, scope: &Scope) -> PlannedLine {
        PlannedLine {
            path: self.path_for(scope),
            line: serde_json::to_vec(&event_record(scope.event, scope.route)).map_err(|e| e.to_string()),
        }
    }

    /// Appends a planned line to its file.
    pub(crate) async fn write(&self, planned: PlannedLine) -> Result<(), FileError> {
        let path = planned.path.map_err(FileError::Render)?;
        let writer = self.writer_for(&path).map_err(FileError::Render)?;
        let line = planned.line.map_err(FileError::Write)?;
        writer.append(line).await.map_err(|e| FileError::Write(e.to_string()))
    }

    /// The file this event's line goes to.
    fn path_for(&self, scope: &Scope) -> Result<PathBuf, RenderError> {
        match &self.target {
            FileTarget::Fixed(writer) => Ok(writer.path().to_path_buf()),
            FileTarget::Templated(template, ..) => template.render(scope),
        }
    }

    /// The writer of `full`, a path [`FileAction::path_for`] gave.
    fn writer_for(&self, full: &Path) -> Result<Arc<FileWriter>, RenderError> {
        match &self.target {
            FileTarget::Fixed(writer) => Ok(writer.clone()),
            FileTarget::Templated(template, writers, rotation) => {
                // render() has checked that it starts with the directory.
                let rest = full.strip_prefix(template.dir()).map_err(|_| {
                    RenderError(format!("rendered file path {} is not under {}", full.display(), template.dir()))
                })?;
                let place = Place::Beneath {
                    base: PathBuf::from(template.dir()),
                    rest: rest.to_path_buf(),
                    full: full.to_path_buf(),
                };
                Ok(writers.get(Target { place, rotation: rotation.clone() }))
            }
        }
    }
}

/// A file action planned for one event.
#[derive(Debug, Clone)]
pub(crate) struct PlannedLine {
    /// Where the line goes; an error when the path template failed (or
    /// left its directory) for this event.
    pub(crate) path: Result<PathBuf, RenderError>,
    /// The JSON line, without its newline.
    pub(crate) line: Result<Vec<u8>, String>,
}
/// The JSON record of an event as the file action writes it.
pub(crate) fn event_record(event: &Event, route: &str) -> Value {
    let mut headers = Map::new();
    for name in event.headers.keys() {
        if crate::guard::is_credential_header(name) {
            // A bearer or GitLab token is the route's secret itself.
            headers.insert(name.as_str().to_string(), Value::String("***".into()));
            continue;
        }
        let joined = event.header_text(name);
        headers.insert(name.as_str().to_string(), Value::String(joined));
    }
    let mut record = json!({
        "id": event.id,
        "received_at": humantime::format_rfc3339_millis(event.received_at).to_string(),
        "route": route,
        "method": event.method.as_str(),
        "path": event.path,
        "query": event.query_object(),
        "headers": headers,
    });
    let (key, body) = match (&event.body_kind, event.document()) {
        (BodyKind::Json | BodyKind::Form, Some(doc)) => ("body", doc.clone()),
        // The body as read: codings undone, text in UTF-8.
        _ => match std::str::from_utf8(event.content()) {
            Ok(text) => ("body_text", Value::String(text.to_string())),
            Err(_) => {
                use base64::Engine;
                ("body_base64", Value::String(base64::engine::general_purpose::STANDARD.encode(event.content())))
            }
        },
    };
    if let Value::Object(map) = &mut record {
        map.insert(key.to_string(), body);
    }
    record
}
