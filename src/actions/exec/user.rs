//! `user:` — the account an `exec` command runs as, looked up once at load.
//!
//! Changing user needs root; a `user:` in a config served by an ordinary
//! account could only fail at every run, so it is a config error instead.
//! The lookup reads the user database (`/etc/passwd`, NSS), which may
//! block: it runs at load, which happens off the async runtime.

use nix::unistd::{Uid, User};

use super::RunAs;

/// Why `user:` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum UserError {
    #[error("`user` needs hookroute to run as root (it runs as uid {0}); remove it, or run the command as this user")]
    NotRoot(u32),
    #[error("no user {0:?} in the user database")]
    Unknown(String),
    #[error("cannot read the user database: {0}")]
    Lookup(String),
}

/// The uid and primary gid of `name` (a user name, or a numeric uid).
pub(crate) fn resolve(name: &str) -> Result<RunAs, UserError> {
    let me = Uid::effective();
    if !me.is_root() {
        return Err(UserError::NotRoot(me.as_raw()));
    }
    let found = match name.parse::<u32>() {
        Ok(uid) => User::from_uid(Uid::from_raw(uid)),
        Err(_) => User::from_name(name),
    };
    match found {
        Ok(Some(user)) => Ok(RunAs { uid: user.uid.as_raw(), gid: user.gid.as_raw() }),
        Ok(None) => Err(UserError::Unknown(name.to_string())),
        Err(e) => Err(UserError::Lookup(e.to_string())),
    }
}
