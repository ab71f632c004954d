//! Where a file action's line goes, and how the writer tells whether that
//! path still names the file it holds open.
//!
//! A literal `file.path` is the operator's choice and is opened as written,
//! symlinks and all. A rendered (templated) path is opened *beneath* its
//! literal directory: every component is resolved inside it (`openat2` with
//! `RESOLVE_BENEATH` where the kernel has it, a checked walk otherwise, both
//! through `cap-std`), so a symlink placed inside the directory cannot lead a
//! write — or a created directory, or a rotation's rename — outside it.
//! The textual checks of [`crate::template::PathTemplate`] catch `..` and
//! absolute values; this catches what only the filesystem knows.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Why a file could not be opened or used at its path.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PlaceError {
    /// The rendered path resolves (through a symlink) outside the literal
    /// directory of its template; nothing was opened or created there.
    #[error("{path} leads outside {base} (through a symlink inside it); refused, nothing written")]
    Escapes { path: PathBuf, base: PathBuf },
    /// A symlink below the literal directory is absolute: the confinement
    /// follows only relative links, even one that points inside.
    #[error("{path} goes through the absolute symlink {link}; below a templated path's directory only relative symlinks are followed: make it relative")]
    AbsoluteLink { path: PathBuf, link: PathBuf },
    #[error("cannot open {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
}

/// The path of one file writer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Place {
    /// A literal path from the config.
    Literal(PathBuf),
    /// A rendered template: `rest` (relative, already free of `..`) beneath
    /// the template's literal directory `base`.
    Beneath { base: PathBuf, rest: PathBuf, full: PathBuf },
}

/// A file's identity: device and inode. Logrotate's rename, a delete, or a
/// new file at the path all change what the path names; this tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Identity {
    dev: u64,
    ino: u64,
}

impl Identity {
    pub(crate) fn of(file: &File) -> io::Result<Identity> {
        let m = file.metadata()?;
        Ok(Identity { dev: m.dev(), ino: m.ino() })
    }
}

impl Place {
    /// The path as a person reads it.
    pub(crate) fn full(&self) -> &Path {
        match self {
            Place::Literal(p) => p,
            Place::Beneath { full, .. } => full,
        }
    }

    /// What the path names now: `None` when nothing is there (deleted, or
    /// renamed away and not yet recreated). Following symlinks ambiently is
    /// safe here: a mismatch only makes the writer reopen, and opening is
    /// what is confined.
    pub(crate) fn identity_now(&self) -> io::Result<Option<Identity>> {
        match std::fs::metadata(self.full()) {
            Ok(m) => Ok(Some(Identity { dev: m.dev(), ino: m.ino() })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Opens the file for appending (`O_APPEND`, so a `copytruncate` that
    /// empties it under us is followed by writes at the new end, not at the
    /// old offset), creating it and its missing directories.
    pub(crate) fn open_append(&self) -> Result<File, PlaceError> {
        self.open_suffixed("", OpenMode::Append)
    }

    /// Opens `path{suffix}` (a rotated name such as `.1`) in `mode`.
    pub(crate) fn open_suffixed(&self, suffix: &str, mode: OpenMode) -> Result<File, PlaceError> {
        let open_error = |source| PlaceError::Open { path: self.with_suffix(suffix), source };
        match self {
            Place::Literal(path) => {
                let path = suffixed(path, suffix);
                if mode != OpenMode::Read {
                    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                        std::fs::create_dir_all(dir).map_err(open_error)?;
                    }
                }
                mode.std_options().open(&path).map_err(open_error)
            }
            Place::Beneath { rest, .. } => {
                let dir = self.base_dir().map_err(open_error)?;
                let rest = suffixed(rest, suffix);
                let confined = |e: io::Error| self.confined_error(e, suffix);
                if mode != OpenMode::Read {
                    if let Some(parent) = rest.parent().filter(|d| !d.as_os_str().is_empty()) {
                        dir.create_dir_all(parent).map_err(confined)?;
                    }
                }
                dir.open_with(&rest, &mode.cap_options()).map(cap_std::fs::File::into_std).map_err(confined)
            }
        }
    }

    /// Renames `path{from}` to `path{to}`; `Ok(false)` when there was no
    /// `path{from}`.
    pub(crate) fn rename(&self, from: &str, to: &str) -> io::Result<bool> {
        let result = match self {
            Place::Literal(path) => std::fs::rename(suffixed(path, from), suffixed(path, to)),
            Place::Beneath { rest, .. } => {
                let dir = self.base_dir()?;
                dir.rename(suffixed(rest, from), &dir, suffixed(rest, to))
            }
        };
        not_found_is_false(result)
    }

    /// Removes `path{suffix}`; `Ok(false)` when it was not there.
    pub(crate) fn remove(&self, suffix: &str) -> io::Result<bool> {
        let result = match self {
            Place::Literal(path) => std::fs::remove_file(suffixed(path, suffix)),
            Place::Beneath { rest, .. } => self.base_dir()?.remove_file(suffixed(rest, suffix)),
        };
        not_found_is_false(result)
    }

    /// `path{suffix}` as a person reads it.
    pub(crate) fn with_suffix(&self, suffix: &str) -> PathBuf {
        suffixed(self.full(), suffix)
    }

    fn base_dir(&self) -> io::Result<cap_std::fs::Dir> {
        let Place::Beneath { base, .. } = self else {
            return Err(io::Error::other("not a confined path"));
        };
        // The literal directory is the operator's: created and entered as
        // written. Only what an event rendered below it is confined.
        std::fs::create_dir_all(base)?;
        cap_std::fs::Dir::open_ambient_dir(base, cap_std::ambient_authority())
    }

    /// cap-std reports an escape as PermissionDenied, as a real EACCES is;
    /// a dangling symlink that points outside fails as "file exists" when
    /// its directory is created. Tell escapes apart by where the path leads.
    fn confined_error(&self, source: io::Error, suffix: &str) -> PlaceError {
        if let Place::Beneath { base, .. } = self {
            if leads_outside(base, &self.with_suffix(suffix)) {
                return PlaceError::Escapes { path: self.with_suffix(suffix), base: base.clone() };
            }
            if let Some(link) = absolute_link_below(base, &self.with_suffix(suffix)) {
                return PlaceError::AbsoluteLink { path: self.with_suffix(suffix), link };
            }
        }
        PlaceError::Open { path: self.with_suffix(suffix), source }
    }
}

/// The first symlink between `base` and `path` whose target is absolute:
/// cap-std refuses such links whatever they point at, and the operator
/// needs to be told which one to make relative.
fn absolute_link_below(base: &Path, path: &Path) -> Option<PathBuf> {
    let rest = path.strip_prefix(base).ok()?;
    let mut at = base.to_path_buf();
    for part in rest.components() {
        at.push(part);
        let is_link = std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink());
        if is_link && std::fs::read_link(&at).is_ok_and(|target| target.is_absolute()) {
            return Some(at);
        }
    }
    None
}

/// True when the deepest existing ancestor of `path` (resolved through its
/// symlinks) is not inside `base` (resolved likewise).
fn leads_outside(base: &Path, path: &Path) -> bool {
    let Ok(base) = base.canonicalize() else { return false };
    let mut probe = Some(path);
    while let Some(p) = probe {
        if let Ok(real) = p.canonicalize() {
            return !real.starts_with(&base);
        }
        // A dangling symlink: where it points decides.
        if let Ok(target) = std::fs::read_link(p) {
            let target = p.parent().map(|d| d.join(&target)).unwrap_or(target);
            return leads_outside_target(&base, &target);
        }
        probe = p.parent();
    }
    false
}

fn leads_outside_target(base: &Path, target: &Path) -> bool {
    let mut probe = Some(target);
    while let Some(p) = probe {
        if let Ok(real) = p.canonicalize() {
            return !real.starts_with(base);
        }
        probe = p.parent();
    }
    true
}

/// How a file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenMode {
    /// Append, creating it.
    Append,
    /// Read only.
    Read,
    /// Write, creating it or emptying an existing one.
    Create,
}

impl OpenMode {
    fn std_options(self) -> std::fs::OpenOptions {
        let mut o = std::fs::OpenOptions::new();
        match self {
            OpenMode::Append => o.append(true).create(true),
            OpenMode::Read => o.read(true),
            OpenMode::Create => o.write(true).create(true).truncate(true),
        };
        o
    }

    fn cap_options(self) -> cap_std::fs::OpenOptions {
        let mut o = cap_std::fs::OpenOptions::new();
        match self {
            OpenMode::Append => o.append(true).create(true),
            OpenMode::Read => o.read(true),
            OpenMode::Create => o.write(true).create(true).truncate(true),
        };
        o
    }
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

fn not_found_is_false(result: io::Result<()>) -> io::Result<bool> {
    match result {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}
