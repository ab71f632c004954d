//! The HTTP side: the public ingress and the admin API, each on its own
//! listener, both served by [`listener::serve`].

pub mod admin;
pub mod admin_auth;
pub mod admin_deliveries;
pub mod admin_observe;
mod admin_origin;
pub mod door;
pub mod ingress;
pub mod listener;
pub mod reply;
pub mod shed;
pub mod state;

pub use listener::{ClientAddr, ConnectionLimits};
pub use reply::Reply;
pub use state::State;
