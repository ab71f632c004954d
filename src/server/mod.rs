//! The HTTP side: the public ingress and the admin API (with the web
//! console beside it, [`console`]), each on its own listener, both served
//! by [`listener::serve`].

pub(crate) mod admin;
pub(crate) mod admin_auth;
pub(crate) mod admin_deliveries;
pub(crate) mod admin_events;
pub(crate) mod admin_observe;
mod admin_origin;
pub(crate) mod console;
pub(crate) mod door;
pub(crate) mod ingress;
pub(crate) mod listener;
pub(crate) mod reply;
pub(crate) mod shed;
pub(crate) mod state;

pub(crate) use listener::ConnectionLimits;
// TODO(#16): `src/pipeline.rs` re-exports this with `pub use`; see `Reply`.
#[allow(unreachable_pub)]
pub use reply::Reply;
pub(crate) use state::State;
