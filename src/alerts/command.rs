//! What `hookroute alerts` does, minus the terminal: a routes file to the
//! text of a Prometheus rules file. The binary parses the arguments and
//! prints it.

use std::path::Path;

use crate::actions::Resources;
use crate::config::interpolate::ProcessEnv;
use crate::config::ConfigErrors;

/// Why no rules were written.
#[derive(Debug, thiserror::Error)]
pub enum AlertsError {
    /// The config does not load; the same problems `check` prints.
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// The HTTP client the route compiler needs could not be built.
    #[error("{0}")]
    Setup(#[from] crate::upstream::SetupError),
    /// The rules could not be serialized as YAML.
    #[error("cannot write the rules as YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
}

/// The rules file for the routes file at `config`, ready to print.
pub fn rules_file(config: &Path) -> Result<String, AlertsError> {
    let resources = Resources::new()?;
    let config_spec = crate::config::load_file(config, &ProcessEnv)?;
    let settings = config_spec.alerts.clone();
    let loaded = crate::settings::Loaded::compile(config_spec, &resources)?;
    let rules = super::rules(&loaded.snapshot, &loaded.settings.delivery, &settings);
    let mut out = format!(
        "# Prometheus alerting rules for {}, written by `hookroute alerts`.\n# Generate them again when the routes change.\n",
        config.display()
    );
    out.push_str(&serde_yaml::to_string(&rules)?);
    Ok(out)
}
