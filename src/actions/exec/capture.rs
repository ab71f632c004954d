//! A command's standard output or error, kept up to a bound.
//!
//! Both pipes are read at once, each by its own task, and past the bound
//! the rest is read and dropped: a command that writes more than a pipe
//! holds (64 KiB on Linux) to a pipe nobody reads would block forever, and
//! so would a command that fills stderr while stdout is being read.

use tokio::io::{AsyncRead, AsyncReadExt};

/// What was kept of one stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Captured {
    /// The first bytes written, at most the bound.
    pub(crate) bytes: Vec<u8>,
    /// More was written than kept.
    pub(crate) truncated: bool,
}

impl Captured {
    /// The kept bytes as text (invalid UTF-8 replaced), with `…[truncated]`
    /// when more was written: for attempt records and logs.
    pub(crate) fn excerpt(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.bytes).into_owned();
        if self.truncated {
            text.push_str("…[truncated]");
        }
        text
    }
}

/// Reads `stream` to its end, keeping the first `limit` bytes. A read
/// error ends the capture with what was read (the process's exit status
/// says what happened to it).
pub(crate) async fn read_bounded<R: AsyncRead + Unpin>(mut stream: R, limit: usize) -> Captured {
    let mut out = Captured::default();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return out,
            Ok(n) => {
                let room = limit.saturating_sub(out.bytes.len());
                out.bytes.extend_from_slice(&chunk[..n.min(room)]);
                out.truncated |= n > room;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_the_first_bytes_and_drains_the_rest() {
        let data = vec![b'x'; 100_000];
        let got = read_bounded(&data[..], 10).await;
        assert_eq!(got.bytes, b"xxxxxxxxxx");
        assert!(got.truncated);
        assert_eq!(got.excerpt(), "xxxxxxxxxx…[truncated]");
        let got = read_bounded(&b"short"[..], 10).await;
        assert_eq!((got.bytes.as_slice(), got.truncated), (&b"short"[..], false));
    }
}
