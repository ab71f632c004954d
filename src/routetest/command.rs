//! What `hookroute test` does, minus the terminal: a routes file and test
//! files to a report. The binary parses the arguments and prints; this part
//! is a plain function returning typed errors.

use std::path::{Path, PathBuf};

use super::{load, report, run};
use crate::actions::Resources;
use crate::config::interpolate::{Environment, ProcessEnv};
use crate::config::ConfigErrors;
use crate::settings::load_file;

/// Why the tests could not be run at all (a failing test is not an error:
/// it is in the report). Each message holds its cause (no `source`), so
/// printing the chain does not repeat it.
#[derive(Debug, thiserror::Error)]
pub enum TestRunError {
    /// The shared HTTP client cannot be built.
    #[error("cannot start: {0}")]
    Setup(crate::upstream::SetupError),
    /// The config does not load; the same problems `check` prints.
    #[error("{0}")]
    Config(ConfigErrors),
    /// Test files with problems, one located line each.
    #[error("{}", .0.join("\n"))]
    TestFiles(Vec<String>),
    /// Neither the config nor the files given hold a test.
    #[error("no tests found in {} (add a `tests:` list, or pass --tests FILE)", .config.display())]
    NoTests {
        /// The routes file given.
        config: PathBuf,
    },
}

/// The report of running every test of the routes file at `config` (its
/// `tests:` list) and of the `tests` files: the text to print, and whether
/// all passed.
pub fn run_files(config: &Path, tests: &[PathBuf]) -> Result<(String, bool), TestRunError> {
    let resources = Resources::new().map_err(TestRunError::Setup)?;
    let snapshot = load_file(config, &WithoutSecrets, &resources).map_err(TestRunError::Config)?.snapshot;
    let mut loaded = Vec::new();
    let mut problems = Vec::new();
    for file in std::iter::once(config).chain(tests.iter().map(PathBuf::as_path)) {
        match load(file) {
            Ok(t) => loaded.extend(t),
            Err(p) => problems.extend(p),
        }
    }
    if !problems.is_empty() {
        return Err(TestRunError::TestFiles(problems));
    }
    if loaded.is_empty() {
        return Err(TestRunError::NoTests { config: config.to_path_buf() });
    }
    let results: Vec<_> = loaded.iter().map(|t| run(&snapshot, t)).collect();
    Ok(report(&results))
}

/// The process environment, except that a secret that cannot be read (its
/// variable unset, its `${file:}` missing) becomes a placeholder: route
/// tests skip signature verification, so CI can run them without the
/// production secrets. Anything else missing (a URL's variable, say) is
/// still an error.
struct WithoutSecrets;

impl Environment for WithoutSecrets {
    fn var(&self, name: &str) -> Option<String> {
        ProcessEnv.var(name)
    }

    fn secret_placeholders(&self) -> bool {
        true
    }
}
