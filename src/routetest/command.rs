//! `hookroute test` on the command line.

use std::path::PathBuf;

use super::{load, report, run};
use crate::actions::Resources;
use crate::config::interpolate::{Environment, ProcessEnv};
use crate::settings::load_file;

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// The routes file [env: HOOKROUTE_CONFIG, then ./routes.yaml]; its own
    /// `tests:` list is run too.
    #[arg(short = 'c', long = "config", env = "HOOKROUTE_CONFIG", default_value = "routes.yaml", hide_env = true)]
    pub config: PathBuf,
    /// A file of tests (`tests:` list); repeat for more.
    #[arg(long = "tests", value_name = "FILE")]
    pub tests: Vec<PathBuf>,
}

/// Runs every test. Returns what to print on stdout and whether all
/// passed, or Err(message) when the config or a test file cannot be used.
pub fn execute(args: &TestArgs) -> Result<(String, bool), String> {
    let resources = Resources::new().map_err(|e| format!("cannot start: {e}"))?;
    let snapshot = load_file(&args.config, &WithoutSecrets, &resources).map_err(|e| e.to_string())?.snapshot;
    let mut tests = Vec::new();
    let mut problems = Vec::new();
    for file in std::iter::once(&args.config).chain(&args.tests) {
        match load(file) {
            Ok(t) => tests.extend(t),
            Err(p) => problems.extend(p),
        }
    }
    if !problems.is_empty() {
        return Err(problems.join("\n"));
    }
    if tests.is_empty() {
        return Err(format!("no tests found in {} (add a `tests:` list, or pass --tests FILE)", args.config.display()));
    }
    let results: Vec<_> = tests.iter().map(|t| run(&snapshot, t)).collect();
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
