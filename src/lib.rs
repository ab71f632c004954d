//! hookroute: a configuration-driven webhook router.
//!
//! A request flows one way: the [`server`] ingress turns it into an
//! [`event::Event`]; the [`router`] picks the routes whose path, method and
//! conditions ([`matcher`]) hold, using the active compiled [`config`]
//! snapshot; the [`pipeline`] runs their [`actions`] and hands forwards to
//! [`delivery`]. [`app`] wires these together; the binary only parses
//! arguments ([`cli`]).

pub mod actions;
pub mod alerts;
pub mod app;
pub mod config;
pub mod delivery;
pub mod error_text;
pub mod event;
pub mod explain;
pub mod guard;
pub mod health;
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
pub mod template;
pub mod upstream;
pub mod verify;
