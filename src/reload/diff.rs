//! What a reload changes: routes by name, settings by key, secrets by the
//! place they are used.
//!
//! "Unchanged" is decided here, on the compiled configs, not on the file's
//! text: the text of a file that says `admin_token: ${file:tok}` stays the
//! same when `tok` is rotated, and the rotation must still take effect.
//! Settings compare as compiled values ([`crate::settings::Settings`] is
//! `PartialEq`), secrets by a digest (see
//! [`crate::config::secret::SecretDigests`]) so the summary can name them
//! without holding or printing their values, and routes by a fingerprint of
//! their YAML after interpolation (so a route's rotated verify secret or
//! forward token changes it too): compiled routes hold templates, regexes
//! and clients that have no meaningful equality.

use std::collections::HashSet;

use crate::settings::Loaded;

/// What differs between two snapshots; empty when nothing does.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    pub(crate) added: Vec<String>,
    pub(crate) removed: Vec<String>,
    pub(crate) modified: Vec<String>,
    /// Top-level keys whose compiled value changed (secrets excepted).
    pub(crate) settings: Vec<String>,
    /// Places whose secret changed (`admin_token`, `route "x": verify`).
    pub(crate) secrets: Vec<String>,
}

impl Changes {
    pub(crate) fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.modified.is_empty()
            && self.settings.is_empty()
            && self.secrets.is_empty()
    }
}

/// Everything that differs from `current` to `next`.
pub(crate) fn changes(current: &Loaded, next: &Loaded) -> Changes {
    let (old_routes, new_routes) = (&current.snapshot, &next.snapshot);
    let old: HashSet<&str> = old_routes.fingerprints.keys().map(|k| &**k).collect();
    let new: HashSet<&str> = new_routes.fingerprints.keys().map(|k| &**k).collect();
    let sorted = |names: Vec<&str>| {
        let mut names: Vec<String> = names.into_iter().map(str::to_string).collect();
        names.sort();
        names
    };
    let modified = new
        .intersection(&old)
        .filter(|n| old_routes.fingerprints.get(**n) != new_routes.fingerprints.get(**n))
        .copied()
        .collect();
    Changes {
        added: sorted(new.difference(&old).copied().collect()),
        removed: sorted(old.difference(&new).copied().collect()),
        modified: sorted(modified),
        settings: current.settings.changed_keys(&next.settings),
        secrets: current.settings.secrets_changed(&next.settings),
    }
}
