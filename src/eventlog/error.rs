//! What can go wrong reading the event log, replaying an event or
//! previewing a config; each maps to one admin API status.

/// Reading or writing the event log.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum EventLogError {
    /// A filter or page parameter the API cannot read (400).
    #[error("{0}")]
    BadQuery(String),
    /// The log's store is not open (yet, or it failed to open) (503).
    #[error("the event log is not open")]
    NotOpen,
    /// The store failed (503).
    #[error("event log store: {0}")]
    Store(String),
}

/// Why an event could not be replayed.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum ReplayError {
    /// No event with this id is kept (404).
    #[error("no event {0} in the event log")]
    NotFound(String),
    /// Its body was not kept whole (`bodies: false`, or cut at
    /// `max_body_bytes`), so it cannot be sent again as received (409).
    #[error("event {0} cannot be replayed: {1}")]
    NotReplayable(String, String),
    /// Reading the log failed.
    #[error(transparent)]
    Log(#[from] EventLogError),
}

/// Why a preview could not be made.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum PreviewError {
    /// The new config does not compile: every problem, one per line, with
    /// its location, as `hookroute check` prints them (422).
    #[error("the config has problems")]
    Config(Vec<String>),
    /// Reading the log failed.
    #[error(transparent)]
    Log(#[from] EventLogError),
}
