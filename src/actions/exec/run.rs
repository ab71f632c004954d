//! One run of a command: started without a shell in its own process group,
//! fed its standard input, its output captured, killed with everything it
//! started at its timeout, and reaped. Nothing here blocks a thread: the
//! process is tokio's, and the pipes are read by tasks.

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::Bytes;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::capture::{read_bounded, Captured};
use super::{limits, ExecTarget, Stdin, OUTPUT_LIMIT};

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The command exited with this status.
    Exited(i32),
    /// The command was killed by this signal (not by hookroute).
    Signaled(i32),
    /// It ran past its timeout: hookroute killed its process group.
    TimedOut,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunOutput {
    pub(crate) ended: Ended,
    pub(crate) stdout: Captured,
    pub(crate) stderr: Captured,
    /// From the start of the process (waiting for a `max_concurrent` turn
    /// not included).
    pub(crate) elapsed: Duration,
}

impl RunOutput {
    /// Exit status 0: the only success.
    pub(crate) fn succeeded(&self) -> bool {
        self.ended == Ended::Exited(0)
    }

    /// How it ended, in a phrase: `exit status 3`, `killed by signal 9`,
    /// `timed out after 5s (process group killed)`.
    pub(crate) fn describe(&self, timeout: Duration) -> String {
        match self.ended {
            Ended::Exited(code) => format!("exit status {code}"),
            Ended::Signaled(signal) => format!("killed by signal {signal}"),
            Ended::TimedOut => {
                format!("timed out after {} (process group killed)", humantime::format_duration(timeout))
            }
        }
    }
}

/// Why a command could not be run at all (each is a failed attempt).
#[derive(Debug, thiserror::Error)]
pub(crate) enum RunError {
    /// Not found, not executable, a missing working directory, no
    /// permission to change user…
    #[error("cannot start {program}: {source}")]
    Start { program: String, source: std::io::Error },
    /// The process could not be waited for (an OS error).
    #[error("lost track of {program}: {source}")]
    Wait { program: String, source: std::io::Error },
}

/// How long output pipes may stay open after the process group was killed:
/// only a process that left the group (`setsid`) can hold them longer, and
/// its output is not worth waiting for.
const DRAIN_AFTER_KILL: Duration = Duration::from_secs(1);

/// Runs `target` once, when its `max_concurrent` turn comes, with `body` on
/// standard input if it asks for it.
pub(crate) async fn run(target: &ExecTarget, body: Bytes) -> Result<RunOutput, RunError> {
    let _turn = limits::acquire(&target.limit_key, target.max_concurrent).await;
    let program = target.program().to_string();
    let mut command = Command::new(&program);
    command
        .args(target.argv.iter().skip(1))
        .env_clear()
        .envs(target.env.iter().map(|(name, value)| (name, value)))
        .stdin(match target.stdin {
            Stdin::Body => Stdio::piped(),
            Stdin::None => Stdio::null(),
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group: the command and whatever it starts are killed
        // together, and a Ctrl-C at hookroute's terminal does not reach it.
        .process_group(0)
        .kill_on_drop(true);
    if let Some(dir) = &target.working_dir {
        command.current_dir(dir);
    }
    if let Some(user) = target.user {
        command.uid(user.uid).gid(user.gid);
    }
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + target.timeout();
    let mut child = command.spawn().map_err(|source| RunError::Start { program: program.clone(), source })?;
    let mut group = Group(child.id().and_then(|id| i32::try_from(id).ok()).map(Pid::from_raw));

    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its input closes the pipe early:
        // not an error of the run.
        tokio::spawn(async move {
            let _ = stdin.write_all(&body).await;
        });
    }
    let mut stdout = tokio::spawn(read_optional(child.stdout.take()));
    let mut stderr = tokio::spawn(read_optional(child.stderr.take()));

    let ended = match tokio::time::timeout_at(deadline, child.wait()).await {
        Ok(Ok(status)) => match (status.code(), status.signal()) {
            (Some(code), _) => Ended::Exited(code),
            (None, Some(signal)) => Ended::Signaled(signal),
            (None, None) => Ended::Signaled(0),
        },
        Ok(Err(source)) => return Err(RunError::Wait { program, source }),
        Err(_) => {
            group.kill();
            let _ = child.wait().await;
            Ended::TimedOut
        }
    };
    // The command is gone, but what it started may still hold its pipes:
    // they get until the same deadline, then the group is killed.
    let stdout = collect(&mut stdout, deadline, &group).await;
    let stderr = collect(&mut stderr, deadline, &group).await;
    group.disarm();
    Ok(RunOutput { ended, stdout, stderr, elapsed: started.elapsed() })
}

async fn read_optional<R: tokio::io::AsyncRead + Unpin>(stream: Option<R>) -> Captured {
    match stream {
        Some(stream) => read_bounded(stream, OUTPUT_LIMIT).await,
        None => Captured::default(),
    }
}

/// What a pipe's reader got by `deadline`; past it, the group is killed
/// and the reader drained.
async fn collect(
    reader: &mut tokio::task::JoinHandle<Captured>,
    deadline: tokio::time::Instant,
    group: &Group,
) -> Captured {
    match tokio::time::timeout_at(deadline, &mut *reader).await {
        Ok(captured) => captured.unwrap_or_default(),
        Err(_) => {
            group.kill();
            drain(reader).await
        }
    }
}

/// What a reader got once its group was killed, or nothing if a process
/// outside the group still holds the pipe.
async fn drain(reader: &mut tokio::task::JoinHandle<Captured>) -> Captured {
    match tokio::time::timeout(DRAIN_AFTER_KILL, &mut *reader).await {
        Ok(captured) => captured.unwrap_or_default(),
        Err(_) => {
            reader.abort();
            Captured { bytes: Vec::new(), truncated: true }
        }
    }
}

/// The command's process group, killed when the run is abandoned (a
/// timeout, or the run's future dropped at shutdown) so nothing it started
/// outlives it unwatched.
struct Group(Option<Pid>);

impl Group {
    fn kill(&self) {
        if let Some(pgid) = self.0 {
            // ESRCH: every process of the group has already exited.
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }

    /// The run finished normally: what the command left running on purpose
    /// (a daemon it started, its output elsewhere) is its own business.
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}
