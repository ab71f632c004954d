//! One delivery attempt of an `exec` job: run the command (waiting for its
//! `max_concurrent` turn), and record how it ended with the start of its
//! output, so a dead letter says why (`exit status 3` and the stderr that
//! explains it).
//!
//! Exit status 0 is the only success. Anything else (another status, a
//! signal, the timeout, a program that cannot start) is a failed attempt,
//! retried by the job's policy: there is no exit status that means "never
//! retry", so each is treated like a transport failure of a forward.

use std::time::Instant;

use bytes::Bytes;

use super::attempt::Outcome;
use super::job::{AnswerDetail, ExecRun};
use super::retry::AttemptResult;
use crate::actions::exec::capture::Captured;
use crate::actions::exec::{run, Ended, ExecTarget};

/// Bytes of standard output and of standard error kept in each attempt's
/// record: enough for the error a script prints, small enough that a dead
/// letter with many attempts stays small.
pub(crate) const RECORDED_BYTES: usize = 4096;

/// Runs `target` once, with `body` on standard input if it reads it.
pub(crate) async fn run(target: &ExecTarget, body: Bytes) -> Outcome {
    let started = Instant::now();
    match run::run(target, body).await {
        Ok(output) => {
            let ok = output.succeeded();
            let exec = ExecRun {
                exit_code: match output.ended {
                    Ended::Exited(code) => Some(code),
                    _ => None,
                },
                stdout: recorded(&output.stdout),
                stderr: recorded(&output.stderr),
            };
            let result = match ok {
                true => AttemptResult::Done,
                false => AttemptResult::Transport { timeout: output.ended == Ended::TimedOut },
            };
            Outcome {
                result,
                status: None,
                error: (!ok).then(|| format!("command {}: {}", target.program(), output.describe(target.timeout()))),
                latency: started.elapsed(),
                answer: AnswerDetail { exec: Some(exec), ..AnswerDetail::default() },
            }
        }
        Err(e) => Outcome {
            result: AttemptResult::Transport { timeout: false },
            status: None,
            error: Some(e.to_string()),
            latency: started.elapsed(),
            answer: AnswerDetail::default(),
        },
    }
}

/// The first [`RECORDED_BYTES`] of a stream as text, `…[truncated]` when
/// there was more.
fn recorded(captured: &Captured) -> String {
    let cut = captured.bytes.len() > RECORDED_BYTES;
    let kept = Captured {
        bytes: captured.bytes[..captured.bytes.len().min(RECORDED_BYTES)].to_vec(),
        truncated: captured.truncated || cut,
    };
    kept.excerpt()
}
