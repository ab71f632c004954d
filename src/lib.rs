//! hookroute: a configuration-driven webhook router.
//!
//! A request flows one way: the `server` ingress turns it into an
//! [`event::Event`]; the [`router`] picks the routes whose path, method and
//! conditions ([`matcher`]) hold, using the active compiled [`config`]
//! snapshot; the `pipeline` runs their [`actions`] and hands forwards to
//! [`delivery`]. [`app`] wires these together. The command line (argument
//! types, the admin-API client of `deliveries` and `health`, terminal
//! output) is the binary's own, in `src/cli/`; the library offers the
//! functions its commands call and returns typed values and errors.
//!
//! Everything is `pub(crate)` unless the binary, a test, a bench or a fuzz
//! target names it, so the compiler can report what nothing uses.

#![warn(missing_docs, unreachable_pub)]
// Module docs are written for whoever works on the crate and link to its
// crate-private parts (`cargo doc --document-private-items` resolves them);
// the public-API view would only warn about each such link.
#![allow(rustdoc::private_intra_doc_links)]

pub mod actions;
pub mod alerts;
pub mod app;
pub mod config;
pub mod delivery;
pub mod error_text;
pub mod event;
pub(crate) mod eventlog;
pub mod explain;
pub mod guard;
pub mod lint;
pub mod matcher;
pub mod metrics;
pub mod observe;
pub(crate) mod par;
pub(crate) mod pipeline;
pub mod redact;
pub(crate) mod reload;
pub mod router;
pub mod routetest;
pub mod schema;
pub(crate) mod server;
pub mod settings;
pub(crate) mod template;
pub(crate) mod upstream;
pub mod verify;

/// The header every state-changing admin request must carry (any non-empty
/// value; the CLI sends `1`). A web page cannot send a custom header to
/// another site without a CORS preflight, which the admin API never grants,
/// so its presence shows the request was not forged by a browser. Shared
/// here because the server checks it and the CLI sends it.
pub const ADMIN_REQUEST_HEADER: &str = "x-hookroute-request";
