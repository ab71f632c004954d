//! Turning error chains into text for the person at the terminal.
//!
//! reqwest's and hyper's top-level messages hide the cause ("error sending
//! request"); what an operator can act on is further down the chain
//! ("Connection refused"). Logs want the whole chain, one-line CLI messages
//! want just the root.

/// The whole chain: `top: cause: root`.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

/// Only the innermost cause.
pub fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cause = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    cause
}
