//! Who may use the console, and proof that a form was sent by its pages.
//!
//! The console is protected like the admin API (`admin_token`), but a
//! browser cannot be asked to send a bearer header on every link it
//! follows. So the login form trades the token for a cookie. The cookie
//! is not the token: it is `HMAC-SHA256(key, "session" ‖ token)` under a
//! key drawn at random once per process, so
//!
//! - a cookie that leaks (a screenshot, a HAR file) does not give the
//!   token away, and stops working at the next restart;
//! - a reload that rotates `admin_token` logs every browser out at once,
//!   with no session table to clear (the session is recomputed from the
//!   active token on every request);
//! - nothing is stored server-side, so there is nothing to expire or grow.
//!
//! The cookie is `HttpOnly` (no script reads it) and `SameSite=Strict`
//! (no other site's page makes the browser send it). Without `Secure`: the
//! admin listener speaks plain HTTP on loopback unless a proxy terminates
//! TLS in front of it, and a `Secure` cookie would never be sent back there.
//!
//! Every state-changing form carries a CSRF token, `HMAC(key, "csrf" ‖
//! session)`: tied to the session, unguessable by another site, and checked
//! before any POST is routed (`super::dispatch`). The admin door adds the
//! Host and Origin checks of [`crate::server::admin_origin`].
//!
//! A request with `Authorization: Bearer <admin_token>` is let in too (a
//! script, or a proxy that adds it); with no `admin_token` configured the
//! console is open, as the admin API is.

use std::sync::LazyLock;

use hmac::{Hmac, Mac};
use http::header::{AUTHORIZATION, COOKIE};
use http::HeaderMap;
use sha2::Sha256;

use crate::server::state::App;
use crate::verify::bearer::credentials;
use crate::verify::support::token_eq;

/// The cookie's name.
pub(crate) const COOKIE_NAME: &str = "hookroute_console";

/// The form field every console POST carries its CSRF token in.
pub(crate) const CSRF_FIELD: &str = "csrf";

/// The per-process key; None when the system had no randomness to give,
/// in which case no session can be made (logins are refused, and bearer
/// requests still work).
static KEY: LazyLock<Option<[u8; 32]>> = LazyLock::new(|| {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).ok().map(|()| key)
});

/// Someone the console lets in: the session their pages' forms are tied to.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// The session id (the cookie's value); hex.
    id: String,
    /// True when the console needs no token at all (no `admin_token`).
    pub(crate) open: bool,
}

impl Session {
    /// The CSRF token the pages put in their forms.
    pub(crate) fn csrf(&self) -> String {
        mac(&["csrf", &self.id]).unwrap_or_default()
    }

    /// True when `token` (from a submitted form) is this session's.
    pub(crate) fn csrf_ok(&self, token: &str) -> bool {
        let expected = self.csrf();
        !expected.is_empty() && bool::from(token_eq(expected.as_bytes(), token.as_bytes()))
    }

    /// The session id, for the login's `Set-Cookie`.
    pub(crate) fn cookie_value(&self) -> &str {
        &self.id
    }
}

/// `HMAC(key, parts joined by NUL)` in hex; None without a key.
fn mac(parts: &[&str]) -> Option<String> {
    let key = KEY.as_ref()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            mac.update(&[0]);
        }
        mac.update(part.as_bytes());
    }
    Some(hex::encode(mac.finalize().into_bytes()))
}

/// The session a token opens (what the cookie holds after a login).
fn session_of(token: &str) -> Option<String> {
    mac(&["session", token])
}

/// The session of this request, if it may use the console: a valid
/// cookie, the bearer token, or no `admin_token` at all.
pub(crate) fn current(app: &App, headers: &HeaderMap) -> Option<Session> {
    let settings = app.settings();
    let Some(token) = &settings.security.admin_token else {
        return Some(Session { id: mac(&["open"])?, open: true });
    };
    let id = session_of(token.expose())?;
    let by_cookie = cookie(headers, COOKIE_NAME).is_some_and(|c| bool::from(token_eq(id.as_bytes(), c.as_bytes())));
    let by_bearer = headers.get(AUTHORIZATION).is_some_and(|value| match credentials(value.as_bytes(), "bearer") {
        Ok(received) => token_eq(token.expose().as_bytes(), received).into(),
        Err(_) => false,
    });
    (by_cookie || by_bearer).then_some(Session { id, open: false })
}

/// Logs in with `typed` (the login form's field): the session to set as a
/// cookie when it is the admin token.
pub(crate) fn login(app: &App, typed: &str) -> Option<Session> {
    let settings = app.settings();
    let token = settings.security.admin_token.as_ref()?;
    if !bool::from(token_eq(token.expose().as_bytes(), typed.as_bytes())) {
        return None;
    }
    Some(Session { id: session_of(token.expose())?, open: false })
}

/// The `Set-Cookie` value that logs `session` in (`None`: logs out).
pub(crate) fn set_cookie(session: Option<&Session>) -> String {
    match session {
        Some(s) => format!("{COOKIE_NAME}={}; Path=/; HttpOnly; SameSite=Strict", s.cookie_value()),
        None => format!("{COOKIE_NAME}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_not_the_token_and_csrf_is_tied_to_the_session() {
        let a = session_of("secret-token").unwrap();
        assert_ne!(a, "secret-token");
        assert!(!a.contains("secret"));
        assert_eq!(a, session_of("secret-token").unwrap(), "the same token opens the same session");
        assert_ne!(a, session_of("rotated").unwrap());
        let s = Session { id: a, open: false };
        let other = Session { id: session_of("rotated").unwrap(), open: false };
        assert!(s.csrf_ok(&s.csrf()));
        assert!(!s.csrf_ok(&other.csrf()));
        assert!(!s.csrf_ok(""));
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, "a=1; hookroute_console=abc; b=2".parse().unwrap());
        assert_eq!(cookie(&headers, COOKIE_NAME), Some("abc"));
        assert_eq!(cookie(&headers, "c"), None);
    }
}
