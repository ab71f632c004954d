//! What a reload changes: routes by name, settings by key, secrets by the
//! place they are used.
//!
//! "Unchanged" is decided here, on the compiled configs, not on the file's
//! text: the text of a file that says `admin_token: ${file:tok}` stays the
//! same when `tok` is rotated, and the rotation must still take effect.
//! Routes compare by a fingerprint of their YAML after interpolation (so a
//! route's rotated verify secret changes it too), settings by their compiled
//! values, secrets by a digest (see [`crate::config::secret::SecretDigests`]),
//! so the summary can name them without holding or printing their values.

use std::collections::HashSet;

use crate::router::Snapshot;

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
pub(crate) fn changes(current: &Snapshot, next: &Snapshot) -> Changes {
    let old: HashSet<&str> = current.fingerprints.keys().map(|k| &**k).collect();
    let new: HashSet<&str> = next.fingerprints.keys().map(|k| &**k).collect();
    let sorted = |names: Vec<&str>| {
        let mut names: Vec<String> = names.into_iter().map(str::to_string).collect();
        names.sort();
        names
    };
    let modified = new
        .intersection(&old)
        .filter(|n| current.fingerprints.get(**n) != next.fingerprints.get(**n))
        .copied()
        .collect();
    // A secret of a route added or removed is part of that news already;
    // the admin token appearing or going is a rotation.
    let secrets = current
        .secrets
        .keys()
        .chain(next.secrets.keys())
        .filter(|place| current.secrets.get(*place) != next.secrets.get(*place))
        .filter(|place| {
            *place == "admin_token" || (current.secrets.contains_key(*place) && next.secrets.contains_key(*place))
        })
        .cloned()
        .collect::<std::collections::BTreeSet<String>>()
        .into_iter()
        .collect();
    Changes {
        added: sorted(new.difference(&old).copied().collect()),
        removed: sorted(old.difference(&new).copied().collect()),
        modified: sorted(modified),
        settings: settings(current, next),
        secrets,
    }
}

/// The top-level keys whose compiled value differs, in the order the README
/// lists them.
fn settings(a: &Snapshot, b: &Snapshot) -> Vec<String> {
    let (sa, sb) = (&a.security, &b.security);
    let (da, db) = (&*a.delivery, &*b.delivery);
    let keys = [
        ("listen", a.listen != b.listen),
        ("admin_listen", a.admin_listen != b.admin_listen),
        ("max_body_bytes", a.max_body_bytes != b.max_body_bytes),
        ("trusted_proxies", sa.trusted_proxies != sb.trusted_proxies),
        ("max_concurrent_requests", sa.max_concurrent_requests != sb.max_concurrent_requests),
        ("max_headers", sa.max_headers != sb.max_headers),
        ("max_header_bytes", sa.max_header_bytes != sb.max_header_bytes),
        ("header_read_timeout", sa.header_read_timeout != sb.header_read_timeout),
        ("body_read_timeout", sa.body_read_timeout != sb.body_read_timeout),
        ("data_dir", da.data_dir != db.data_dir || da.data_dir_set != db.data_dir_set),
        ("shutdown_grace", da.shutdown_grace != db.shutdown_grace),
        ("defaults.retry", da.retry != db.retry),
        ("retention", da.retention != db.retention),
        ("destinations", da.concurrency != db.concurrency || da.breaker != db.breaker),
        ("memory_queue_limit", da.memory_queue_limit != db.memory_queue_limit),
        ("queued_body_memory", da.queued_body_memory != db.queued_body_memory),
    ];
    let mut out: Vec<String> = keys.iter().filter(|(_, differs)| *differs).map(|(key, _)| key.to_string()).collect();
    // A field added to either settings type without a line above is still
    // a change, reported under its group rather than missed.
    let security_rest = crate::guard::SecuritySettings { admin_token: sb.admin_token.clone(), ..sa.clone() };
    if out.is_empty() && security_rest != *sb {
        out.push("security settings".to_string());
    }
    if out.is_empty() && da != db {
        out.push("delivery settings".to_string());
    }
    out
}
