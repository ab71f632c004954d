//! The file watcher: reload when routes.yaml changes, and only then.
//!
//! It watches the config's *directory*, not the file: editors save by
//! writing a temporary file and renaming it over the old one, and
//! Kubernetes swaps a `..data` symlink, and in both cases a watch on the
//! file's inode would see nothing. But the directory may be busy with
//! other writers (the server's own log file, a `file:` action's output), so
//! only events that name the config file or `..data` count; any other event
//! in the directory is ignored.
//!
//! A burst of events (an editor's save, a `git pull`) is debounced: the
//! reload runs once the config file has been quiet for [`DEBOUNCE`], and at
//! the latest [`MAX_DELAY`] after the first event, so a file rewritten
//! continuously (a generator in a loop) is still applied within a second.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Target, Trigger};

/// A burst of file events settles within this long; reload once after it.
pub(crate) const DEBOUNCE: Duration = Duration::from_millis(250);

/// Longest a change waits for quiet: after this, it is applied anyway.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(1);

/// The name Kubernetes renames over to publish a ConfigMap's new contents
/// (see `kubernetes/pkg/volume/util/atomic_writer.go`).
const CONFIGMAP_DATA: &str = "..data";

/// Whether an event can change what the config file reads as: it names the
/// file itself or the ConfigMap's `..data` link. Access events (our own
/// reads of the file among them) never do; an event without paths (the
/// kernel's queue overflowed) might.
fn concerns(event: &notify::Event, file_name: &OsStr) -> bool {
    if matches!(event.kind, EventKind::Access(_)) {
        return false;
    }
    event.paths.is_empty()
        || event.paths.iter().any(|p| p.file_name().is_some_and(|n| n == file_name || n == CONFIGMAP_DATA))
}

/// Watches the config's directory and reloads after each change of the
/// config file, until `stop` is cancelled. Returns an error if the watch
/// cannot be set up (the caller logs it; SIGHUP and the admin API still
/// work).
pub(crate) fn spawn_watcher(app: Arc<dyn Target>, stop: CancellationToken) -> Result<(), notify::Error> {
    let path = app.reloader().config_path().to_path_buf();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path.file_name().map(OsStr::to_os_string).unwrap_or_default();
    let (tx, mut rx) = mpsc::channel::<()>(1);
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // An error from the watch itself may hide a change: check the file.
        // A full channel already means "reload pending".
        if event.as_ref().map_or(true, |e| concerns(e, &file_name)) {
            let _ = tx.try_send(());
        }
    })?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    tracing::info!("watching {} for changes to {}", dir.display(), display_name(&path));
    tokio::spawn(async move {
        // The watcher stops when dropped; keep it alive with the task.
        let _watcher = watcher;
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                got = rx.recv() => if got.is_none() { break },
            }
            tracing::info!("change detected in {}; reloading once it settles", display_name(&path));
            let latest = Instant::now() + MAX_DELAY;
            loop {
                let quiet_until = (Instant::now() + DEBOUNCE).min(latest);
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep_until(quiet_until) => break,
                    got = rx.recv() => if got.is_none() { return },
                }
            }
            let _ = app.reloader().reload(&*app, Trigger::Watch).await;
        }
    });
    Ok(())
}

fn display_name(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, DataChange, ModifyKind, RenameMode};

    fn event(kind: EventKind, paths: &[&str]) -> notify::Event {
        notify::Event { kind, paths: paths.iter().map(PathBuf::from).collect(), attrs: Default::default() }
    }

    #[test]
    fn only_the_config_file_and_configmap_swaps_count() {
        let name = OsStr::new("routes.yaml");
        let write = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        assert!(concerns(&event(write, &["/etc/hr/routes.yaml"]), name));
        assert!(!concerns(&event(write, &["/etc/hr/events.jsonl"]), name));
        assert!(!concerns(&event(write, &["/etc/hr/routes.yaml.bak"]), name));
        // An editor's save: a temp file renamed over the config.
        let rename = EventKind::Modify(ModifyKind::Name(RenameMode::Both));
        assert!(concerns(&event(rename, &["/etc/hr/.routes.yaml.swp", "/etc/hr/routes.yaml"]), name));
        // The kubelet's publish: `..data_tmp` renamed over `..data`.
        assert!(concerns(&event(rename, &["/etc/hr/..data_tmp", "/etc/hr/..data"]), name));
        assert!(!concerns(&event(EventKind::Create(CreateKind::Any), &["/etc/hr/..data_tmp"]), name));
        assert!(!concerns(&event(EventKind::Access(notify::event::AccessKind::Any), &["/etc/hr/routes.yaml"]), name));
        assert!(concerns(&event(EventKind::Other, &[]), name));
    }
}
