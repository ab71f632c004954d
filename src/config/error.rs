//! Config problems, reported the way a compiler reports them.
//!
//! An operator who edits routes.yaml wants every mistake at once, each pointing
//! at a line and column and naming the route and key, so one `hookroute check`
//! run is enough to fix the file. [`ConfigError`] is one such problem;
//! [`ConfigErrors`] is the whole list, printed one per line.

use std::fmt;

/// A 1-based line and column in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

/// One problem found while loading or validating a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub location: Option<Location>,
    /// The route's `name`, when the problem is inside a route.
    pub route: Option<String>,
    /// Key path relative to the route (or to the file for top-level keys),
    /// e.g. `when[1].json`.
    pub key_path: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(key_path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError { location: None, route: None, key_path: key_path.into(), message: message.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = self.location {
            write!(f, "{}:{}: ", loc.line, loc.column)?;
        }
        if let Some(route) = &self.route {
            write!(f, "route \"{route}\": ")?;
        }
        if !self.key_path.is_empty() {
            write!(f, "{}: ", self.key_path)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in one config file, in file order.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigErrors {
    /// The file name as the operator gave it, used as the prefix of each line.
    pub file: String,
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, err) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            // `file:LINE:COL: ...` when located, `file: ...` when not.
            let sep = if err.location.is_some() { "" } else { " " };
            write!(f, "{}:{sep}{err}", self.file)?;
        }
        Ok(())
    }
}

/// Suggests the known name closest to a misspelt one, if any is close enough
/// to be a plausible typo (`equal` → `equals`, `metods` → `methods`).
pub(crate) fn closest<'a>(unknown: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::jaro_winkler(unknown, k), *k))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let known = ["equals", "not_equals", "exists", "matches"];
        assert_eq!(closest("equal", &known), Some("equals"));
        assert_eq!(closest("matchs", &known), Some("matches"));
        assert_eq!(closest("zzz", &known), None);
    }

    #[test]
    fn display_has_location_route_and_key() {
        let errs = ConfigErrors {
            file: "routes.yaml".into(),
            errors: vec![ConfigError {
                location: Some(Location { line: 4, column: 9 }),
                route: Some("gh".into()),
                key_path: "when[1].json".into(),
                message: "bad".into(),
            }],
        };
        assert_eq!(errs.to_string(), "routes.yaml:4:9: route \"gh\": when[1].json: bad");
    }
}
