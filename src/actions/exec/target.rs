//! One run of an `exec` action for one event, rendered at acceptance: what
//! a queued job stores (self-contained, so it runs the same after a reload
//! removed its route or after a restart) and what `explain` prints.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What the command reads on standard input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Stdin {
    /// The event's body, byte for byte.
    Body,
    /// `/dev/null`.
    None,
}

/// The user a command runs as, resolved at load (see [`super::user`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RunAs {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

/// A command ready to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ExecTarget {
    /// The program (an absolute path) and its arguments, one entry each.
    pub(crate) argv: Vec<String>,
    /// The whole environment of the command, in order.
    pub(crate) env: Vec<(String, String)>,
    pub(crate) stdin: Stdin,
    pub(crate) timeout_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) user: Option<RunAs>,
    /// Runs with the same key share one limit of `max_concurrent` at once.
    pub(crate) limit_key: String,
    pub(crate) max_concurrent: u32,
    /// Why the run could not be built at acceptance (a template did not
    /// render): such a job is dead from the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) unsendable: Option<String>,
}

impl ExecTarget {
    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// The program's path, for logs and the destination (`exec:/path`).
    pub(crate) fn program(&self) -> &str {
        self.argv.first().map(String::as_str).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::Work;

    #[test]
    fn exec_work_round_trips_with_its_kind() {
        let work = Work::Exec(ExecTarget {
            argv: vec!["/bin/echo".into(), "; rm -rf /".into()],
            env: vec![("PATH".into(), "/bin".into())],
            stdin: Stdin::Body,
            timeout_ms: 5000,
            working_dir: None,
            user: Some(RunAs { uid: 65534, gid: 65534 }),
            limit_key: "r/actions[0]".into(),
            max_concurrent: 1,
            unsendable: None,
        });
        let text = serde_json::to_string(&work).unwrap();
        assert!(text.starts_with(r#"{"kind":"exec","argv":["/bin/echo","; rm -rf /"]"#), "{text}");
        assert_eq!(serde_json::from_str::<Work>(&text).unwrap(), work);
    }
}
