//! Forward URLs as logs and error answers may show them: without secrets.
//!
//! A forward's URL may carry a credential: `https://user:secret@host/`, or a
//! token in the query (`?token=…`, `?api_key=…`), as many services take one.
//! The job must keep the URL to send it, but log lines travel to aggregators
//! many people read, and a relayed forward's error answer goes to the
//! sender, outside. What identifies the destination when something fails —
//! scheme, host, port, path, the query's parameter names — is kept; secret
//! values become `***`.
//!
//! Text-based rather than parsed, so it also covers text that is not a
//! valid URL (a template's rendering that failed) and never normalizes what
//! it leaves in place.

use std::fmt;

/// What replaces a hidden value.
const HIDDEN: &str = "***";

/// `raw` with its userinfo password, its query values and its fragment
/// replaced by `***`. A user name without a password is hidden too: then it
/// usually *is* the credential (`https://TOKEN@github.com/…`, Stripe's
/// `https://sk_live_…:@api.stripe.com/`).
pub fn url(raw: &str) -> String {
    let (rest, fragment) = match raw.split_once('#') {
        Some((rest, fragment)) => (rest, Some(fragment)),
        None => (raw, None),
    };
    // The query first: a value may itself look like a URL with userinfo.
    let (base, query) = match rest.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (rest, None),
    };
    let mut out = String::with_capacity(raw.len());
    match base.split_once("://") {
        Some((scheme, after)) => {
            out.push_str(scheme);
            out.push_str("://");
            let end = after.find('/').unwrap_or(after.len());
            let (authority, path) = after.split_at(end);
            // The last `@`: an unencoded one in a password belongs to it.
            match authority.rsplit_once('@') {
                Some((userinfo, host)) => {
                    match userinfo.split_once(':') {
                        Some((user, password)) if !user.is_empty() && !password.is_empty() => {
                            out.push_str(user);
                            out.push(':');
                            out.push_str(HIDDEN);
                        }
                        _ => out.push_str(HIDDEN),
                    }
                    out.push('@');
                    out.push_str(host);
                }
                None => out.push_str(authority),
            }
            out.push_str(path);
        }
        None => out.push_str(base),
    }
    if let Some(query) = query {
        out.push('?');
        for (i, pair) in query.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((name, value)) => {
                    out.push_str(name);
                    out.push('=');
                    if !value.is_empty() {
                        out.push_str(HIDDEN);
                    }
                }
                None => out.push_str(pair),
            }
        }
    }
    if let Some(fragment) = fragment {
        out.push('#');
        if !fragment.is_empty() {
            out.push_str(HIDDEN);
        }
    }
    out
}

/// `message` with [`url`] applied to every URL in it (a token containing
/// `://`): for error texts and reasons that may quote a URL, such as a dead
/// letter's "cannot connect to http://user:pw@host/". A URL ends at white
/// space, a quote, `<`, `>` or `)`.
pub fn text(message: &str) -> String {
    let ends = |c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>' | ')');
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find("://") {
        // The scheme: letters, digits, `+`, `-`, `.` before `://`.
        let start = rest[..at]
            .char_indices()
            .rev()
            .find(|&(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let end = rest[at..].find(ends).map_or(rest.len(), |i| at + i);
        out.push_str(&rest[..start]);
        out.push_str(&url(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// [`url`] for a log field: redacted only when the line is written, so a
/// filtered-out line costs nothing.
pub(crate) fn display(raw: &str) -> Redacted<'_> {
    Redacted(raw)
}

/// See [`display`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Redacted<'a>(&'a str);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&url(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::url;

    #[test]
    fn hides_the_password_and_query_values_keeping_the_rest() {
        assert_eq!(
            url("http://user:pw@127.0.0.1:9/x/y?token=abc&n=1#frag"),
            "http://user:***@127.0.0.1:9/x/y?token=***&n=***#***"
        );
    }

    #[test]
    fn a_user_name_without_a_password_is_hidden_too() {
        assert_eq!(url("https://ghp_token@github.com/org/repo"), "https://***@github.com/org/repo");
        assert_eq!(url("https://sk_live_1:@api.stripe.com/v1"), "https://***@api.stripe.com/v1");
        assert_eq!(url("https://:pw@host/"), "https://***@host/");
    }

    #[test]
    fn leaves_urls_without_secrets_as_they_are() {
        for plain in ["http://127.0.0.1:8080/", "https://host/a@b/c", "http://host/x?debug&a=", "http://host"] {
            assert_eq!(url(plain), plain);
        }
    }

    #[test]
    fn urls_inside_a_message_lose_their_secrets() {
        use super::text;
        assert_eq!(
            text("error sending request for url (http://u:pw@h:9/x?api_key=k): refused; see \"https://t@gh/r\""),
            "error sending request for url (http://u:***@h:9/x?api_key=***): refused; see \"https://***@gh/r\""
        );
        assert_eq!(text("no url here: a://"), "no url here: a://");
        assert_eq!(text("plain"), "plain");
        assert_eq!(text("é→http://u:p@h/ ü"), "é→http://u:***@h/ ü");
    }

    #[test]
    fn odd_shapes_still_lose_their_secrets() {
        // An unencoded `@` in the password: the last one ends the userinfo.
        assert_eq!(url("http://u:p@ss@host/x"), "http://u:***@host/x");
        // A URL in a query value is a value.
        assert_eq!(url("http://h/cb?next=http://u:p@evil/"), "http://h/cb?next=***");
        // No scheme (text that is not a URL).
        assert_eq!(url("host/x?key=v"), "host/x?key=***");
    }
}
