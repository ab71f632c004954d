//! Group commit: one writer thread turns many concurrent writes into few
//! disk syncs.
//!
//! Every write (from any request or delivery task) is sent to one dedicated
//! thread. The thread takes the first waiting write, then everything else
//! that arrived meanwhile, applies them all in one transaction and syncs
//! once; each writer is answered only after that sync. While one sync is in
//! progress the next batch builds up in the channel, so the number of syncs
//! per second stays roughly constant and the writes per sync grow with the
//! load — durability stops costing throughput per request. The thread is a
//! plain OS thread because a sync blocks it for milliseconds, which must
//! never happen on the async runtime.

use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;

/// Most writes committed together; bounds one transaction's size.
pub(crate) const MAX_BATCH: usize = 1024;

/// Applies a batch of writes in one transaction and answers each of them.
pub(crate) trait Committer: Send + 'static {
    type Op: Send + 'static;
    /// Applies `ops` together and answers each one (its reply channel is
    /// inside the op), with the error if the batch failed.
    fn commit(&mut self, ops: Vec<Self::Op>);
}

/// Handle to the writer thread. Dropping every sender (and calling
/// [`GroupCommit::join`]) stops it after the writes already sent.
pub(crate) struct GroupCommit<Op> {
    sender: Sender<Op>,
    thread: Option<JoinHandle<()>>,
}

impl<Op: Send + 'static> GroupCommit<Op> {
    /// Starts the writer thread named `name`.
    pub(crate) fn spawn<C: Committer<Op = Op>>(name: &str, committer: C) -> std::io::Result<Self> {
        let (sender, receiver) = mpsc::channel();
        let thread = std::thread::Builder::new().name(name.to_string()).spawn(move || run(committer, receiver))?;
        Ok(GroupCommit { sender, thread: Some(thread) })
    }

    /// A sender for writes; fails only after the thread stopped.
    pub(crate) fn sender(&self) -> Sender<Op> {
        self.sender.clone()
    }

    /// Stops accepting writes and waits for the thread to finish the ones
    /// already sent. Blocking: call it off the async runtime.
    pub(crate) fn join(mut self) {
        let GroupCommit { sender, thread } = &mut self;
        let (dead, _) = mpsc::channel();
        drop(std::mem::replace(sender, dead));
        if let Some(thread) = thread.take() {
            let _ = thread.join();
        }
    }
}

fn run<C: Committer>(mut committer: C, receiver: Receiver<C::Op>) {
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(op) => batch.push(op),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        committer.commit(batch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    struct Slow(Arc<Mutex<Vec<usize>>>);

    impl Committer for Slow {
        type Op = (u32, std::sync::mpsc::Sender<()>);
        fn commit(&mut self, ops: Vec<Self::Op>) {
            std::thread::sleep(Duration::from_millis(20));
            self.0.lock().unwrap().push(ops.len());
            for (_, reply) in ops {
                let _ = reply.send(());
            }
        }
    }

    #[test]
    fn concurrent_writes_share_commits() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let gc = GroupCommit::spawn("test-writer", Slow(sizes.clone())).unwrap();
        let waiters: Vec<_> = (0..50)
            .map(|i| {
                let (tx, rx) = std::sync::mpsc::channel();
                gc.sender().send((i, tx)).unwrap();
                rx
            })
            .collect();
        for rx in waiters {
            rx.recv().unwrap();
        }
        gc.join();
        let sizes = sizes.lock().unwrap();
        assert_eq!(sizes.iter().sum::<usize>(), 50);
        assert!(sizes.len() < 50, "every write got its own commit: {sizes:?}");
    }
}
