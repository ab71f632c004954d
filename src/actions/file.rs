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

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{json, Map, Value};
use tokio::sync::{mpsc, oneshot};

use crate::config::spec::FileSpec;
use crate::config::ConfigError;
use crate::event::{BodyKind, Event};
use crate::template::{PathTemplate, RenderError, Scope};

/// Lines queued per file before senders wait (backpressure, bounded memory).
const QUEUE_DEPTH: usize = 1024;
/// Most lines written in one batch.
const BATCH: usize = 256;

type Pending = (Vec<u8>, oneshot::Sender<Result<(), String>>);

/// The writer of one file; the task starts on the first line.
#[derive(Debug)]
pub struct FileWriter {
    path: PathBuf,
    sender: tokio::sync::OnceCell<mpsc::Sender<Pending>>,
}

impl FileWriter {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `line` (a newline is added) and waits until it is written.
    pub async fn append(&self, mut line: Vec<u8>) -> Result<(), String> {
        line.push(b'\n');
        let sender = self
            .sender
            .get_or_init(|| async {
                let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
                tokio::spawn(run_writer(self.path.clone(), rx));
                tx
            })
            .await;
        let (ack, done) = oneshot::channel();
        sender.send((line, ack)).await.map_err(|_| "file writer stopped".to_string())?;
        done.await.map_err(|_| "file writer stopped".to_string())?
    }
}

async fn run_writer(path: PathBuf, mut rx: mpsc::Receiver<Pending>) {
    let mut file: Option<Arc<std::fs::File>> = None;
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let bytes: Vec<u8> = batch.iter().flat_map(|(line, _)| line.iter().copied()).collect();
        let handle = file.clone();
        let target = path.clone();
        let result = tokio::task::spawn_blocking(move || -> Result<Arc<std::fs::File>, String> {
            let f = match handle {
                Some(f) => f,
                None => Arc::new(open_append(&target).map_err(|e| format!("cannot open {}: {e}", target.display()))?),
            };
            (&*f).write_all(&bytes).map_err(|e| format!("cannot write {}: {e}", target.display()))?;
            Ok(f)
        })
        .await
        .unwrap_or_else(|e| Err(format!("file writer task failed: {e}")));
        let outcome = match result {
            Ok(f) => {
                file = Some(f);
                Ok(())
            }
            Err(e) => {
                // Reopen next time: the directory may have been fixed.
                file = None;
                Err(e)
            }
        };
        for (_, ack) in batch {
            let _ = ack.send(outcome.clone());
        }
    }
}

fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::OpenOptions::new().create(true).append(true).open(path)
}

/// Writers kept before unused ones (of templated paths) are let go.
const KEEP_WRITERS: usize = 256;

/// The file writers of the process, by path, shared across reloads. Clones
/// share the registry.
#[derive(Debug, Default, Clone)]
pub struct FileWriters {
    writers: Arc<Mutex<HashMap<PathBuf, Arc<FileWriter>>>>,
}

impl FileWriters {
    pub fn get(&self, path: &Path) -> Arc<FileWriter> {
        let mut map = self.writers.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= KEEP_WRITERS && !map.contains_key(path) {
            // Held only here: no action owns it and no write is waiting on
            // it. Dropping it ends its task and closes its file.
            map.retain(|_, w| Arc::strong_count(w) > 1);
        }
        map.entry(path.to_path_buf())
            .or_insert_with(|| Arc::new(FileWriter { path: path.to_path_buf(), sender: Default::default() }))
            .clone()
    }
}

#[derive(Debug)]
pub struct FileAction {
    pub target: FileTarget,
}

#[derive(Debug)]
pub enum FileTarget {
    Fixed(Arc<FileWriter>),
    /// Rendered per event; writers come from the shared registry.
    Templated(PathTemplate, FileWriters),
}

/// Why a file action did not write its line.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FileError {
    /// The path template failed or escaped its directory: this event only.
    #[error("path: {0}")]
    Render(RenderError),
    #[error("{0}")]
    Write(String),
}

impl FileAction {
    pub fn compile(
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
        if crate::template::is_template(&spec.path) {
            let template = PathTemplate::compile(&spec.path, &format!("{path}.path"), errors)?;
            return Some(FileAction { target: FileTarget::Templated(template, writers.clone()) });
        }
        Some(FileAction { target: FileTarget::Fixed(writers.get(Path::new(&spec.path))) })
    }

    /// Appends the event's line (templates see no path parameters; see
    /// [`FileAction::run_in`]).
    pub async fn run(&self, event: &Event, route: &str) -> Result<(), String> {
        self.run_in(&Scope::new(event, route, &[])).await.map_err(|e| e.to_string())
    }

    /// Appends the event's line to the file, rendering its path first.
    pub async fn run_in(&self, scope: &Scope<'_>) -> Result<(), FileError> {
        let writer = self.writer_for(scope).map_err(FileError::Render)?;
        let line =
            serde_json::to_vec(&event_record(scope.event, scope.route)).map_err(|e| FileError::Write(e.to_string()))?;
        writer.append(line).await.map_err(FileError::Write)
    }

    /// The file this event's line goes to.
    pub fn path_for(&self, scope: &Scope) -> Result<PathBuf, RenderError> {
        match &self.target {
            FileTarget::Fixed(writer) => Ok(writer.path().to_path_buf()),
            FileTarget::Templated(template, _) => template.render(scope),
        }
    }

    fn writer_for(&self, scope: &Scope) -> Result<Arc<FileWriter>, RenderError> {
        match &self.target {
            FileTarget::Fixed(writer) => Ok(writer.clone()),
            FileTarget::Templated(template, writers) => Ok(writers.get(&template.render(scope)?)),
        }
    }
}

/// The JSON record of an event as the file action writes it.
pub fn event_record(event: &Event, route: &str) -> Value {
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
