//! A `file.path` with templates: one file per repository, per day, per
//! provider.
//!
//! The rule is the one Vector adopted for its file sink: the template must
//! start with a literal directory (`data/events/{{ ... }}`), and what the
//! event renders below it can never leave it. A rendered remainder that is
//! absolute, has a `..` component or a NUL byte, or names a directory, fails
//! the action for that event; the file is not opened.

use std::path::PathBuf;

use super::{literal_prefix, Escape, RenderError, Scope, Text};
use crate::config::ConfigError;

#[derive(Debug, Clone)]
pub(crate) struct PathTemplate {
    text: Text,
    /// The literal directory every rendered path stays under, ending in `/`.
    dir: String,
}

impl PathTemplate {
    /// Compiles a path that is a template; None (with an error pushed at
    /// `key_path`) when it has no literal directory.
    pub(crate) fn compile(source: &str, key_path: &str, errors: &mut Vec<ConfigError>) -> Option<PathTemplate> {
        let prefix = literal_prefix(source);
        let dir = match prefix.rfind('/') {
            Some(i) if !prefix[..i].trim_matches('/').is_empty() => &prefix[..=i],
            _ => {
                errors.push(ConfigError::new(
                    key_path,
                    format!(
                        "file path {source:?} must start with a literal directory before any template, \
                         e.g. data/events/{{{{ path_params.provider }}}}.jsonl, so an event cannot choose where it is written"
                    ),
                ));
                return None;
            }
        };
        let text = Text::compile(source, Escape::None, key_path, errors)?;
        Some(PathTemplate { text, dir: dir.to_string() })
    }

    /// The literal directory rendered paths stay under.
    pub(crate) fn dir(&self) -> &str {
        &self.dir
    }

    /// The path for one event, or why the event may not write there.
    pub(crate) fn render(&self, scope: &Scope) -> Result<PathBuf, RenderError> {
        let rendered = self.text.render(scope)?;
        let refuse = |why: &str| Err(RenderError(format!("rendered file path {rendered:?} {why}")));
        let Some(rest) = rendered.strip_prefix(&self.dir) else {
            return refuse(&format!("is not under {}", self.dir));
        };
        if rendered.contains('\0') {
            return refuse("contains a NUL byte");
        }
        if rest.starts_with('/') {
            return refuse(&format!("is absolute below {}; values may not start a new root", self.dir));
        }
        if rest.split('/').any(|part| part == "..") {
            return refuse(&format!("contains `..`; it may not leave {}", self.dir));
        }
        if rest.is_empty() || rest.ends_with('/') || rest.split('/').next_back().is_some_and(|f| f == ".") {
            return refuse("names a directory, not a file");
        }
        Ok(PathBuf::from(rendered.as_ref()))
    }
}
