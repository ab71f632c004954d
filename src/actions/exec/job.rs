//! An exec planned for one event as a delivery job ([`Work::Exec`]):
//! rendered when the event is routed, run by delivery with retries, dead
//! letters and replay like any job.

use std::sync::Arc;

use super::{Exec, ExecTarget};
use crate::actions::forward::job::ordering_key_for;
use crate::actions::job::{QueuedJob, Work};
use crate::actions::DeliveryMode;
use crate::template::Scope;

impl Exec {
    /// The job for the event in `scope`. A template that does not render
    /// makes a job that is dead from the start, with the reason, as for a
    /// forward.
    pub(crate) fn job(&self, scope: &Scope, route: &Arc<str>, mode: DeliveryMode) -> QueuedJob {
        let rendered = self.render(scope);
        let error = rendered.as_ref().err().cloned();
        let target = rendered.unwrap_or_else(|e| ExecTarget {
            argv: vec![self.program.clone()],
            env: Vec::new(),
            stdin: self.stdin,
            timeout_ms: self.timeout.as_millis() as u64,
            working_dir: self.working_dir.clone(),
            user: self.user,
            limit_key: super::limits::key(route, &self.at),
            max_concurrent: self.max_concurrent,
            unsendable: Some(format!("template: {e}")),
        });
        let ordering_key =
            self.ordering_key.as_ref().and_then(|p| ordering_key_for(p, scope.event.document(), route, &self.program));
        QueuedJob {
            route: route.clone(),
            work: Work::Exec(target),
            destination: destination_of(&self.program),
            retry: self.retry.clone(),
            ordering_key,
            mode,
            error,
        }
    }
}

/// The destination of an exec's jobs, the unit of delivery's breaker and
/// per-destination limit: `exec:/path/of/program`.
pub(crate) fn destination_of(program: &str) -> String {
    format!("exec:{program}")
}
