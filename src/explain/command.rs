//! What `hookroute explain` does, minus the terminal: a routes file and one
//! request to an [`Explanation`]. The binary parses the arguments, reads
//! the body file and prints the result; this part is a plain function so a
//! test or another tool can explain a request the same way.

use std::path::Path;

use super::{explain, Explanation, Request};
use crate::actions::Resources;
use crate::config::interpolate::ProcessEnv;
use crate::config::ConfigErrors;
use crate::settings::load_file;

/// Why a request could not be explained. Each message holds its cause
/// (no `source`), so printing the chain does not repeat it.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// The shared HTTP client (forward previews need one) cannot be built.
    #[error("cannot start: {0}")]
    Setup(crate::upstream::SetupError),
    /// The config does not load; the same problems `check` prints.
    #[error("{0}")]
    Config(ConfigErrors),
}

/// Explains `request` against the routes in the file at `config`, with the
/// process environment for its variables, as `serve` would load it.
pub fn explain_file(config: &Path, request: Request) -> Result<Explanation, ExplainError> {
    let resources = Resources::new().map_err(ExplainError::Setup)?;
    let snapshot = load_file(config, &ProcessEnv, &resources).map_err(ExplainError::Config)?.snapshot;
    Ok(explain(&snapshot, request))
}
