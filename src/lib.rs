//! hookroute: a configuration-driven webhook router.
//!
//! A request flows one way: the [`server`] ingress turns it into an
//! [`event::Event`]; the [`router`] picks the routes whose path, method and
//! conditions ([`matcher`]) hold, using the active compiled [`config`]
//! snapshot; the [`pipeline`] runs their [`actions`] and hands forwards to
//! [`delivery`]. [`app`] wires these together. The command line (argument
//! types, the admin-API client of `deliveries` and `health`, terminal
//! output) is the binary's own, in `src/cli/`; the library offers the
//! functions its commands call and returns typed values and errors.

pub mod actions;
pub mod alerts;
pub mod app;
pub mod config;
pub mod delivery;
pub mod error_text;
pub mod event;
pub mod explain;
pub mod guard;
pub mod lint;
pub mod matcher;
pub mod metrics;
pub mod observe;
pub mod par;
pub mod pipeline;
pub mod redact;
pub mod reload;
pub mod router;
pub mod routetest;
pub mod schema;
pub mod server;
pub mod settings;
pub mod template;
pub mod upstream;
pub mod verify;

/// The header every state-changing admin request must carry (any non-empty
/// value; the CLI sends `1`). A web page cannot send a custom header to
/// another site without a CORS preflight, which the admin API never grants,
/// so its presence shows the request was not forged by a browser. Shared
/// here because the server checks it and the CLI sends it.
pub const ADMIN_REQUEST_HEADER: &str = "x-hookroute-request";
