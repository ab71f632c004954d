//! A command that stops because of located problems (a config that does
//! not load, test files with mistakes) prints them the way `check` does —
//! `file:line:col: …`, one per line — and then its one error line. This is
//! the error that carries both, so `main` prints every failure the same way.

/// Located problems, and the error line that follows them.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub(crate) struct Problems {
    /// The problems, one per line, as `check` prints them.
    pub(crate) listing: String,
    /// What could not be done because of them.
    pub(crate) message: String,
}

impl Problems {
    /// `listing`, then "error: `message`".
    pub(crate) fn new(listing: impl std::fmt::Display, message: impl Into<String>) -> Self {
        Problems { listing: listing.to_string(), message: message.into() }
    }
}
