//! `hookroute alerts` on the command line: the config to a snapshot, the
//! snapshot to a rules file on stdout.

use std::path::PathBuf;

use crate::actions::Resources;
use crate::config::interpolate::ProcessEnv;
use crate::config::ConfigErrors;

#[derive(Debug, clap::Args)]
pub struct AlertsArgs {
    /// The routes file [env: HOOKROUTE_CONFIG, then ./routes.yaml].
    #[arg(short = 'c', long = "config", env = "HOOKROUTE_CONFIG", default_value = "routes.yaml", hide_env = true)]
    pub config: PathBuf,
}

/// Why no rules were printed.
#[derive(Debug, thiserror::Error)]
pub enum AlertsError {
    /// The config does not load; the same problems `check` prints.
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    #[error("{0}")]
    Setup(#[from] crate::upstream::SetupError),
    #[error("cannot write the rules as YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
}

/// Runs `alerts`: the rules file to print on stdout.
pub fn run(args: &AlertsArgs) -> Result<String, AlertsError> {
    let resources = Resources::new()?;
    let config = crate::config::load_file(&args.config, &ProcessEnv)?;
    let settings = config.alerts.clone();
    let loaded = crate::settings::Loaded::compile(config, &resources)?;
    let rules = super::rules(&loaded.snapshot, &loaded.settings.delivery, &settings);
    let mut out = format!(
        "# Prometheus alerting rules for {}, written by `hookroute alerts`.\n# Generate them again when the routes change.\n",
        args.config.display()
    );
    out.push_str(&serde_yaml::to_string(&rules)?);
    Ok(out)
}
