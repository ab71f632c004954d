//! Built-in rotation of a `file` action's output, for containers without
//! logrotate: `rotate: { max_size: 100MiB, max_age: 24h, keep: 7, compress: true }`.
//!
//! Written here rather than taken from a crate: `file-rotate`, `logroller`,
//! `rolling-file` and `tracing-appender` each own the open file and assume no
//! one else moves it, and none rotates on size *and* age with a count and
//! gzip at once. Ours must share the writer's handle, which notices an
//! outside rotation (logrotate) by inode and opens templated paths beneath
//! their directory (see [`super::place`]); only the renaming and the gzip
//! (`flate2`) live here.
//!
//! Names follow logrotate's numbered scheme, newest first: `audit.jsonl.1`,
//! `audit.jsonl.2`, … up to `keep`, each with `.gz` when compressed; the
//! oldest beyond `keep` is deleted.

use std::io;
use std::time::{Duration, SystemTime};

use super::place::{OpenMode, Place};
use crate::config::spec::RotateSpec;
use crate::config::ConfigError;

/// Rotated files kept when `keep` is not set.
const DEFAULT_KEEP: u32 = 7;

/// When and how one file is rotated.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Rotation {
    /// Rotate before a write that would take the file past this many bytes.
    max_size: Option<u64>,
    /// Rotate before a write to a file started longer ago than this.
    max_age: Option<Duration>,
    /// Rotated files kept (`path.1` … `path.keep`), at least 1.
    keep: u32,
    /// Gzip rotated files (`path.1.gz`), in the background.
    compress: bool,
}

impl Rotation {
    /// Checks `spec` at `path` (e.g. `routes[0].actions[1].file.rotate`).
    pub(crate) fn compile(spec: &RotateSpec, path: &str, errors: &mut Vec<ConfigError>) -> Option<Rotation> {
        let before = errors.len();
        if spec.max_size.is_none() && spec.max_age.is_none() {
            errors.push(ConfigError::new(
                path,
                "rotate needs max_size, max_age or both (e.g. max_size: 100MiB, max_age: 24h)",
            ));
        }
        if spec.max_size.is_some_and(|s| s.as_u64() == 0) {
            errors.push(ConfigError::new(format!("{path}.max_size"), "max_size must be more than 0 bytes"));
        }
        if spec.max_age.as_ref().is_some_and(|a| a.0.is_zero()) {
            errors.push(ConfigError::new(format!("{path}.max_age"), "max_age must be longer than 0s"));
        }
        if spec.keep == Some(0) {
            errors.push(ConfigError::new(
                format!("{path}.keep"),
                "keep must be at least 1 (rotated files kept); to keep none, delete them yourself",
            ));
        }
        if errors.len() > before {
            return None;
        }
        Some(Rotation {
            max_size: spec.max_size.map(|s| s.as_u64()),
            max_age: spec.max_age.as_ref().map(|a| a.0),
            keep: spec.keep.unwrap_or(DEFAULT_KEEP),
            compress: spec.compress.unwrap_or(false),
        })
    }

    /// Whether a file of `size` bytes started at `started` must be rotated
    /// before `adding` more bytes go in. An empty file is never rotated, so
    /// one line larger than `max_size` still gets written.
    pub(crate) fn due(&self, size: u64, adding: u64, started: SystemTime) -> bool {
        if size == 0 {
            return false;
        }
        let too_big = self.max_size.is_some_and(|max| size.saturating_add(adding) > max);
        let too_old =
            self.max_age.is_some_and(|max| SystemTime::now().duration_since(started).is_ok_and(|age| age >= max));
        too_big || too_old
    }

    /// Moves the current file to `.1` (shifting older ones up, dropping the
    /// one past `keep`). Returns the compression to run next, if any; the
    /// caller starts it off its own thread and waits for it before the next
    /// rotation, so two never shift the same names.
    pub(crate) fn rotate(&self, place: &Place) -> io::Result<Option<Compression>> {
        let name = |n: u32, gz: bool| format!(".{n}{}", if gz { ".gz" } else { "" });
        for gz in [false, true] {
            place.remove(&name(self.keep, gz))?;
        }
        for n in (1..self.keep).rev() {
            for gz in [false, true] {
                place.rename(&name(n, gz), &name(n + 1, gz))?;
            }
        }
        place.rename("", &name(1, false))?;
        Ok(self.compress.then(|| Compression { place: place.clone() }))
    }
}

/// Gzip `path.1` into `path.1.gz`, then remove `path.1`.
#[derive(Debug)]
pub(crate) struct Compression {
    place: Place,
}

impl Compression {
    /// Runs the compression (blocking; seconds for a file of 100 MiB).
    /// Written to a temporary name first, so a crash leaves `path.1` whole
    /// and never a truncated `path.1.gz`.
    pub(crate) fn run(self) {
        if let Err(e) = self.compress() {
            tracing::error!("cannot compress {}: {e}; it stays uncompressed", self.place.with_suffix(".1").display());
            let _ = self.place.remove(".1.gz.tmp");
        }
    }

    fn compress(&self) -> io::Result<()> {
        let mut input = self.place.open_suffixed(".1", OpenMode::Read).map_err(io::Error::other)?;
        let output = self.place.open_suffixed(".1.gz.tmp", OpenMode::Create).map_err(io::Error::other)?;
        let mut encoder = flate2::write::GzEncoder::new(io::BufWriter::new(output), flate2::Compression::default());
        io::copy(&mut input, &mut encoder)?;
        let file = encoder.finish()?.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        self.place.rename(".1.gz.tmp", ".1.gz")?;
        self.place.remove(".1")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rotation(max_size: Option<u64>, max_age: Option<Duration>) -> Rotation {
        Rotation { max_size, max_age, keep: 2, compress: false }
    }

    #[test]
    fn due_on_size_or_age_but_never_for_an_empty_file() {
        let now = SystemTime::now();
        let by_size = rotation(Some(100), None);
        assert!(!by_size.due(60, 40, now), "exactly max_size still fits");
        assert!(by_size.due(60, 41, now));
        assert!(!by_size.due(0, 1000, now), "one line over max_size goes into an empty file");
        let by_age = rotation(None, Some(Duration::from_secs(60)));
        assert!(!by_age.due(10, 1, now));
        assert!(by_age.due(10, 1, now - Duration::from_secs(61)));
        assert!(!by_age.due(0, 1, now - Duration::from_secs(61)));
    }

    #[test]
    fn rotate_shifts_names_and_drops_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        let place = Place::Literal(path.clone());
        let name = |s: &str| dir.path().join(format!("a.jsonl{s}"));
        for round in ["1", "2", "3"] {
            std::fs::write(&path, round).unwrap();
            assert!(rotation(Some(1), None).rotate(&place).unwrap().is_none());
        }
        assert!(!path.exists());
        assert_eq!(std::fs::read_to_string(name(".1")).unwrap(), "3");
        assert_eq!(std::fs::read_to_string(name(".2")).unwrap(), "2");
        assert!(!name(".3").exists(), "keep: 2");
    }
}
