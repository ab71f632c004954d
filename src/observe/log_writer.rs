//! Where log lines go: a buffer that a writer thread empties a few times a
//! second, the way nginx's `access_log … buffer= flush=` works.
//!
//! Every request writes an access line. Written one `write(2)` per line, or
//! handed to a thread that wakes for each line (tracing-appender's model),
//! the log cost a context switch and a system call per request: in the
//! forward benchmark the log thread alone used 12% of the server's CPU and
//! switched context once per request (bench/PROFILE.md, third round). Here a
//! line is appended to a shared buffer under a mutex — a copy, no system
//! call, nobody woken — and the writer thread writes whatever has gathered
//! at most [`FLUSH_INTERVAL`] after the first line of a batch arrived, or
//! sooner when the batch passes [`EARLY_FLUSH_BYTES`].
//!
//! Nothing is dropped: past [`MAX_BUFFERED_BYTES`] a logging thread waits
//! for the writer instead of losing its line. Dropping the [`FlushGuard`]
//! writes out the rest. A line can be up to one interval late, and up to
//! one interval of lines is lost if the process is killed outright — the
//! trade nginx makes by default for its buffered access logs.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long the first line of a batch may wait before it is written.
pub(crate) const FLUSH_INTERVAL: Duration = Duration::from_millis(20);
/// A batch this large is written without waiting out the interval.
pub(crate) const EARLY_FLUSH_BYTES: usize = 256 * 1024;
/// Past this, logging threads wait for the writer (the log is not lossy).
pub(crate) const MAX_BUFFERED_BYTES: usize = 8 * 1024 * 1024;

/// The handle `tracing_subscriber` writes through; cheap to clone.
#[derive(Clone, Debug)]
pub struct LogWriter {
    shared: Arc<Shared>,
}

/// Writes out what is buffered, and stops the thread, when dropped.
#[derive(Debug)]
pub struct FlushGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// The writer waits here for lines (and for the end of a batch).
    lines_ready: Condvar,
    /// Logging threads wait here when the buffer is full.
    room: Condvar,
}

#[derive(Debug, Default)]
struct State {
    buffer: Vec<u8>,
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves whole lines behind (a line
        // is appended in one `extend`), so the buffer is still good to use.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl LogWriter {
    /// Starts the writer thread (named `name`) writing into `out`.
    pub fn spawn(name: &str, out: Box<dyn Write + Send>) -> std::io::Result<(LogWriter, FlushGuard)> {
        let shared =
            Arc::new(Shared { state: Mutex::new(State::default()), lines_ready: Condvar::new(), room: Condvar::new() });
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new().name(name.to_string()).spawn(move || write_batches(&shared, out))?
        };
        Ok((LogWriter { shared: shared.clone() }, FlushGuard { shared, thread: Some(thread) }))
    }

    fn append(&self, line: &[u8]) {
        let mut state = self.shared.lock();
        while state.buffer.len() >= MAX_BUFFERED_BYTES && !state.closed {
            state = self.shared.room.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
        let was_empty = state.buffer.is_empty();
        state.buffer.extend_from_slice(line);
        // Only the first line of a batch (the writer may be asleep with
        // nothing to do) and a batch grown large wake the writer; every
        // other line costs no system call.
        if was_empty || state.buffer.len() >= EARLY_FLUSH_BYTES {
            self.shared.lines_ready.notify_one();
        }
    }
}

/// The writer thread: waits for a batch, lets it gather, writes it.
fn write_batches(shared: &Shared, mut out: Box<dyn Write + Send>) {
    let mut batch = Vec::new();
    loop {
        let closed = {
            let mut state = shared.lock();
            while state.buffer.is_empty() && !state.closed {
                state = shared.lines_ready.wait(state).unwrap_or_else(PoisonError::into_inner);
            }
            if !state.closed && state.buffer.len() < EARLY_FLUSH_BYTES {
                state =
                    shared.lines_ready.wait_timeout(state, FLUSH_INTERVAL).unwrap_or_else(PoisonError::into_inner).0;
            }
            std::mem::swap(&mut state.buffer, &mut batch);
            shared.room.notify_all();
            state.closed && state.buffer.is_empty()
        };
        // A failed write (stdout closed) cannot be reported anywhere but
        // here; the lines are dropped rather than blocking every logger.
        let _ = out.write_all(&batch).and_then(|()| out.flush());
        batch.clear();
        // Keep the spare buffer from holding on to a burst's memory.
        batch.shrink_to(EARLY_FLUSH_BYTES);
        if closed {
            return;
        }
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.lines_ready.notify_one();
        self.shared.room.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.append(buf);
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.append(buf);
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> LogWriter {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// An `out` the test can read while the writer thread holds it; with
    /// `stall`, its first write takes that long, as a stuck stdout would.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>, Option<Duration>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Some(stall) = self.1.take() {
                std::thread::sleep(stall);
            }
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn a_lone_line_is_written_without_further_lines() {
        let sink = Sink::default();
        let (mut writer, _guard) = LogWriter::spawn("test-log", Box::new(sink.clone())).unwrap();
        writer.write_all(b"one\n").unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while sink.text().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(sink.text(), "one\n");
    }

    #[test]
    fn lines_from_many_threads_arrive_whole_in_order_and_all_of_them() {
        let sink = Sink(Default::default(), Some(Duration::from_millis(300)));
        let (writer, guard) = LogWriter::spawn("test-log", Box::new(sink.clone())).unwrap();
        // 4 threads × 30,000 lines of ~100 bytes are 12 MB: while the writer
        // is stuck on its first write, the loggers fill the buffer to the
        // 8 MiB bound and must wait; none of their lines may be lost.
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let mut writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..30_000 {
                        // One write per line, as tracing-subscriber makes.
                        let line = format!("thread {t} line {i:06} {}\n", "x".repeat(80));
                        writer.write_all(line.as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(guard);
        let text = sink.text();
        let mut next = [0usize; 4];
        for line in text.lines() {
            let mut words = line.split(' ');
            let t: usize = words.nth(1).unwrap().parse().unwrap();
            let i: usize = words.nth(1).unwrap().parse().unwrap();
            assert_eq!(i, next[t], "thread {t}'s lines out of order or torn: {line:?}");
            next[t] += 1;
        }
        assert_eq!(next, [30_000; 4]);
    }

    #[test]
    fn dropping_the_guard_writes_out_what_is_buffered() {
        let sink = Sink::default();
        let (mut writer, guard) = LogWriter::spawn("test-log", Box::new(sink.clone())).unwrap();
        for i in 0..1000 {
            writer.write_all(format!("line {i}\n").as_bytes()).unwrap();
        }
        drop(guard);
        assert_eq!(sink.text().lines().count(), 1000);
        assert!(sink.text().ends_with("line 999\n"));
    }
}
