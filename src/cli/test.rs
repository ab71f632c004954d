//! `hookroute test` on the command line: a line per test on stdout, exit 1
//! when any fails. The running is the library's
//! ([`hookroute::routetest::command::run_files`]).

use std::path::PathBuf;
use std::process::ExitCode;

use hookroute::routetest::command::{run_files, TestRunError};

use super::problems::Problems;

/// `hookroute test`'s arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct TestArgs {
    /// The routes file [env: HOOKROUTE_CONFIG, then ./routes.yaml]; its own
    /// `tests:` list is run too.
    #[arg(short = 'c', long = "config", env = "HOOKROUTE_CONFIG", default_value = "routes.yaml", hide_env = true)]
    pub(crate) config: PathBuf,
    /// A file of tests (`tests:` list); repeat for more.
    #[arg(long = "tests", value_name = "FILE")]
    pub(crate) tests: Vec<PathBuf>,
}

/// Runs `test`: the report on stdout; exit 1 when any test fails.
pub(crate) fn run(args: &TestArgs) -> anyhow::Result<ExitCode> {
    let (report, passed) = run_files(&args.config, &args.tests).map_err(|e| match e {
        TestRunError::Config(problems) => Problems::new(problems, "the config has problems; no tests run").into(),
        TestRunError::TestFiles(problems) => {
            Problems::new(problems.join("\n"), "the tests have problems; none run").into()
        }
        other => anyhow::Error::new(other),
    })?;
    print!("{report}");
    Ok(if passed { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
