//! `hookroute alerts` on the command line: the rules file the library
//! writes ([`hookroute::alerts::command::rules_file`]) on stdout.

use std::path::PathBuf;
use std::process::ExitCode;

use hookroute::alerts::command::{rules_file, AlertsError};

use super::problems::Problems;

/// `hookroute alerts`' arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct AlertsArgs {
    /// The routes file [env: HOOKROUTE_CONFIG, then ./routes.yaml].
    #[arg(short = 'c', long = "config", env = "HOOKROUTE_CONFIG", default_value = "routes.yaml", hide_env = true)]
    pub(crate) config: PathBuf,
}

/// Runs `alerts`: the rules on stdout.
pub(crate) fn run(args: &AlertsArgs) -> anyhow::Result<ExitCode> {
    let rules = rules_file(&args.config).map_err(|e| match e {
        AlertsError::Config(problems) => Problems::new(problems, "the config has problems; no rules written").into(),
        other => anyhow::Error::new(other),
    })?;
    print!("{rules}");
    Ok(ExitCode::SUCCESS)
}
