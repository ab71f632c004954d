//! The writer task of one file: it owns the open handle and keeps it naming
//! the file at the path.
//!
//! Before each batch the writer compares the path's device and inode with
//! those of the handle it holds (two `stat`s, no I/O). A rename (logrotate's
//! `create` mode) or a delete (its `compress`, or a person) makes them differ,
//! and the writer reopens — creating the file again — so later lines never go
//! into a renamed or deleted file. After writing it looks again: if the file
//! was deleted *while* the batch was written, the batch is written again to
//! the new file (a line may then appear twice, never zero times); if it was
//! renamed, the lines are in the rotated file, where a rotation puts them.
//! While idle it looks once a second, so a deleted file's space is given back
//! without waiting for the next event. A reopen request (SIGHUP, a reload)
//! bumps a generation every writer compares before its next write.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot};

use super::place::{Identity, Place, PlaceError};
use super::rotate::Rotation;

/// Lines queued per file before senders wait (backpressure, bounded memory).
const QUEUE_DEPTH: usize = 1024;
/// Most lines written in one batch.
const BATCH: usize = 256;
/// How often an idle writer checks that its path still names its file.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// Why a line was not written at its path. Cloned to every line of a batch.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum WriteError {
    #[error("{0}")]
    Place(Arc<PlaceError>),
    #[error("cannot write {path}: {source}")]
    Write { path: std::path::PathBuf, source: Arc<io::Error> },
    #[error("the writer of {0} stopped")]
    Stopped(std::path::PathBuf),
}

type Pending = (Vec<u8>, oneshot::Sender<Result<(), WriteError>>);

/// The path and rotation of one writer; its identity in the registry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Target {
    pub(crate) place: Place,
    pub(crate) rotation: Option<Rotation>,
}

/// The writer of one file; the task starts on the first line.
#[derive(Debug)]
pub(crate) struct FileWriter {
    target: Arc<Target>,
    /// Shared by every writer of the process; see [`super::FileWriters::reopen_all`].
    generation: Arc<AtomicU64>,
    sender: tokio::sync::OnceCell<mpsc::Sender<Pending>>,
}

impl FileWriter {
    pub(crate) fn new(target: Target, generation: Arc<AtomicU64>) -> Self {
        FileWriter { target: Arc::new(target), generation, sender: Default::default() }
    }

    /// The path as configured or rendered.
    pub(crate) fn path(&self) -> &std::path::Path {
        self.target.place.full()
    }

    /// Appends `line` (a newline is added) and waits until it is written at
    /// the path.
    pub(crate) async fn append(&self, mut line: Vec<u8>) -> Result<(), WriteError> {
        line.push(b'\n');
        let sender = self
            .sender
            .get_or_init(|| async {
                let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
                tokio::spawn(run(self.target.clone(), self.generation.clone(), rx));
                tx
            })
            .await;
        let stopped = || WriteError::Stopped(self.path().to_path_buf());
        let (ack, done) = oneshot::channel();
        sender.send((line, ack)).await.map_err(|_| stopped())?;
        done.await.map_err(|_| stopped())?
    }
}

async fn run(target: Arc<Target>, generation: Arc<AtomicU64>, mut rx: mpsc::Receiver<Pending>) {
    let mut state = State::default();
    loop {
        let first = match tokio::time::timeout(IDLE_CHECK, rx.recv()).await {
            Ok(Some(first)) => first,
            Ok(None) => break,
            Err(_idle) => {
                if state.open.is_some() {
                    let (t, now) = (target.clone(), generation.load(Ordering::Acquire));
                    state = blocking(state, move |s| s.drop_if_stale(&t.place, now)).await.0;
                }
                continue;
            }
        };
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let bytes: Vec<u8> = batch.iter().flat_map(|(line, _)| line.iter().copied()).collect();
        let (t, now) = (target.clone(), generation.load(Ordering::Acquire));
        let (next, outcome) = blocking(state, move |s| s.write(&t, now, &bytes)).await;
        state = next;
        let outcome = outcome.unwrap_or_else(|| {
            Err(WriteError::Write {
                path: target.place.full().to_path_buf(),
                source: Arc::new(io::Error::other("writer task failed")),
            })
        });
        for (_, ack) in batch {
            let _ = ack.send(outcome.clone());
        }
    }
}

/// Runs `f` on the blocking pool with the writer's state. A panic there
/// loses the open handle (reopened next time) but never the task.
async fn blocking<R: Send + 'static>(
    mut state: State,
    f: impl FnOnce(&mut State) -> R + Send + 'static,
) -> (State, Option<R>) {
    match tokio::task::spawn_blocking(move || {
        let r = f(&mut state);
        (state, r)
    })
    .await
    {
        Ok((state, r)) => (state, Some(r)),
        Err(_) => (State::default(), None),
    }
}

/// What the writer holds between batches.
#[derive(Default)]
struct State {
    open: Option<Open>,
    /// The gzip of the last rotated file, running on its own thread.
    compressing: Option<std::thread::JoinHandle<()>>,
}

struct Open {
    file: File,
    identity: Identity,
    /// The reopen generation it was opened in.
    generation: u64,
    /// When the file was begun (its birth time, else when opened), for `max_age`.
    started: SystemTime,
}

impl Open {
    fn at(place: &Place, generation: u64) -> Result<Open, WriteError> {
        let file = place.open_append().map_err(|e| WriteError::Place(Arc::new(e)))?;
        let meta = file.metadata().map_err(|e| write_error(place, e))?;
        let identity = Identity::of(&file).map_err(|e| write_error(place, e))?;
        let started = meta.created().unwrap_or_else(|_| SystemTime::now());
        Ok(Open { file, identity, generation, started })
    }
}

fn write_error(place: &Place, e: io::Error) -> WriteError {
    WriteError::Write { path: place.full().to_path_buf(), source: Arc::new(e) }
}

impl State {
    /// Lets go of the handle when a reopen was asked for or the path no
    /// longer names its file (renamed, deleted, replaced).
    fn drop_if_stale(&mut self, place: &Place, generation: u64) {
        let Some(open) = &self.open else { return };
        let current = open.generation == generation && place.identity_now().ok().flatten() == Some(open.identity);
        if !current {
            self.open = None;
        }
    }

    fn write(&mut self, target: &Target, generation: u64, bytes: &[u8]) -> Result<(), WriteError> {
        let place = &target.place;
        self.drop_if_stale(place, generation);
        if let (Some(rotation), Some(open)) = (&target.rotation, &self.open) {
            // The size as the file is now: a `copytruncate` may have emptied it.
            let size = open.file.metadata().map(|m| m.len()).unwrap_or(0);
            if rotation.due(size, bytes.len() as u64, open.started) {
                self.rotate(place, rotation);
            }
        }
        let open = match self.open.take() {
            Some(open) => open,
            None => Open::at(place, generation)?,
        };
        (&open.file).write_all(bytes).map_err(|e| write_error(place, e))?;
        if place.identity_now().ok().flatten() == Some(open.identity) {
            self.open = Some(open);
            return Ok(());
        }
        // Renamed or deleted while the batch was being written. Renamed
        // (links left): the lines are in the rotated file. Deleted: they
        // are nowhere, so write them again at the path.
        let links = open.file.metadata().map(|m| m.nlink()).unwrap_or(0);
        if links > 0 {
            return Ok(());
        }
        let fresh = Open::at(place, generation)?;
        (&fresh.file).write_all(bytes).map_err(|e| write_error(place, e))?;
        self.open = Some(fresh);
        Ok(())
    }

    /// Rotates the file; a failure is logged and writing goes on in the
    /// file at the path (a rotation that did not happen loses no line).
    fn rotate(&mut self, place: &Place, rotation: &Rotation) {
        self.open = None;
        if let Some(previous) = self.compressing.take() {
            let _ = previous.join();
        }
        match rotation.rotate(place) {
            Ok(Some(compression)) => {
                let spawned =
                    std::thread::Builder::new().name("hookroute-gzip".into()).spawn(move || compression.run());
                match spawned {
                    Ok(handle) => self.compressing = Some(handle),
                    Err(e) => tracing::error!("cannot start compressing {}: {e}", place.with_suffix(".1").display()),
                }
            }
            Ok(None) => {}
            Err(e) => tracing::error!("cannot rotate {}: {e}; writing on in it", place.full().display()),
        }
    }
}
