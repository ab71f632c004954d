//! `store: jetstream:` checked: what a replica needs to reach the shared
//! queue, with every problem reported against its key path.
//!
//! Kept apart from the connection code so `hookroute check` validates the
//! block without touching the network, and so a reload can compare two of
//! these to warn that a changed `store:` needs a restart.

use crate::config::secret::Secret;
use crate::config::store_spec::{JetStreamSpec, StoreSpec};
use crate::config::ConfigError;

/// The default stream name (and prefix of every subject and bucket).
pub(crate) const DEFAULT_STREAM: &str = "hookroute";

/// How a replica authenticates; at most one of these is set, besides TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Auth {
    None,
    Token(Secret),
    UserPassword { user: String, password: Secret },
    Creds(String),
    Nkey(Secret),
}

/// TLS towards the servers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Tls {
    pub ca: Option<String>,
    /// Certificate and key files.
    pub client: Option<(String, String)>,
}

/// A checked `store: jetstream:` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JetStreamSettings {
    pub servers: Vec<String>,
    pub stream: String,
    pub replicas: usize,
    pub(crate) auth: Auth,
    pub(crate) tls: Option<Tls>,
}

impl JetStreamSettings {
    /// Reads `store:`; None (with no error) when it is absent or names no
    /// backend, which keeps the embedded store.
    pub fn compile(spec: Option<&StoreSpec>, errors: &mut Vec<ConfigError>) -> Option<JetStreamSettings> {
        let js = spec?.jetstream.as_ref()?;
        let before = errors.len();
        let settings = compile_jetstream(js, errors);
        (errors.len() == before).then_some(settings)
    }

    /// One line for logs and restart warnings (no secrets).
    pub fn describe(&self) -> String {
        format!("jetstream {} (stream {}, R{})", self.servers.join(","), self.stream, self.replicas)
    }
}

fn compile_jetstream(js: &JetStreamSpec, errors: &mut Vec<ConfigError>) -> JetStreamSettings {
    let key = |k: &str| format!("store.jetstream.{k}");
    if js.servers.is_empty() {
        errors.push(ConfigError::new(key("servers"), "name at least one NATS server, e.g. [nats://nats-0:4222]"));
    }
    for (i, server) in js.servers.iter().enumerate() {
        if let Err(why) = check_server(server) {
            errors.push(ConfigError::new(format!("store.jetstream.servers[{i}]"), why));
        }
    }
    let stream = js.stream.clone().unwrap_or_else(|| DEFAULT_STREAM.to_string());
    let valid_name = !stream.is_empty()
        && stream.len() <= 32
        && stream.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid_name {
        errors.push(ConfigError::new(
            key("stream"),
            "must be 1 to 32 letters, digits, `-` or `_` (it names streams, buckets and subjects)",
        ));
    }
    let replicas = js.replicas.unwrap_or(1);
    if !(1..=5).contains(&replicas) {
        errors.push(ConfigError::new(key("replicas"), "must be between 1 and 5 (NATS keeps at most 5 copies)"));
    }
    let mut methods = Vec::new();
    if let Some(token) = &js.token {
        methods.push(("token", Auth::Token(token.clone())));
    }
    match (&js.user, &js.password) {
        (Some(user), Some(password)) => {
            methods.push(("user", Auth::UserPassword { user: user.clone(), password: password.clone() }))
        }
        (Some(_), None) => errors.push(ConfigError::new(key("password"), "`user` needs a `password`")),
        (None, Some(_)) => errors.push(ConfigError::new(key("user"), "`password` needs a `user`")),
        (None, None) => {}
    }
    if let Some(creds) = &js.creds {
        methods.push(("creds", Auth::Creds(creds.clone())));
    }
    if let Some(nkey) = &js.nkey {
        if !nkey.expose().starts_with("SU") {
            errors.push(ConfigError::new(key("nkey"), "must be a user NKey seed (it starts with `SU`)"));
        }
        methods.push(("nkey", Auth::Nkey(nkey.clone())));
    }
    if methods.len() > 1 {
        let names: Vec<&str> = methods.iter().map(|(n, _)| *n).collect();
        errors.push(ConfigError::new(
            key(names[1]),
            format!("choose one way to authenticate; this block sets {}", names.join(", ")),
        ));
    }
    let auth = methods.pop().map_or(Auth::None, |(_, auth)| auth);
    let tls = js.tls.as_ref().map(|tls| {
        let client = match (&tls.cert, &tls.key) {
            (Some(cert), Some(k)) => Some((cert.clone(), k.clone())),
            (Some(_), None) => {
                errors.push(ConfigError::new(key("tls.key"), "`cert` needs the `key` file of its private key"));
                None
            }
            (None, Some(_)) => {
                errors.push(ConfigError::new(key("tls.cert"), "`key` needs the `cert` file it belongs to"));
                None
            }
            (None, None) => None,
        };
        Tls { ca: tls.ca.clone(), client }
    });
    JetStreamSettings { servers: js.servers.clone(), stream, replicas: replicas as usize, auth, tls }
}

/// A server address as the NATS client takes it: `nats://`, `tls://` (or
/// `ws`/`wss`, which this client build does not speak) with a host and port.
fn check_server(server: &str) -> Result<(), String> {
    let (scheme, rest) = server
        .split_once("://")
        .ok_or_else(|| format!("{server:?} is not a NATS URL; write nats://HOST:PORT (or tls://HOST:PORT)"))?;
    if !matches!(scheme, "nats" | "tls") {
        return Err(format!("scheme {scheme:?} is not supported; use nats:// or tls://"));
    }
    let hostport = rest.rsplit_once('@').map_or(rest, |(_, h)| h).trim_end_matches('/');
    if hostport.is_empty() {
        return Err(format!("{server:?} names no host"));
    }
    if let Some((_, port)) = hostport.rsplit_once(':') {
        if !port.is_empty() && !port.ends_with(']') && port.parse::<u16>().is_err() {
            return Err(format!("{server:?} has an invalid port"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(yaml: &str) -> (Option<JetStreamSettings>, Vec<String>) {
        let spec: StoreSpec = serde_yaml::from_str(yaml).unwrap();
        let mut errors = Vec::new();
        let s = JetStreamSettings::compile(Some(&spec), &mut errors);
        (s, errors.into_iter().map(|e| format!("{}: {}", e.key_path, e.message)).collect())
    }

    #[test]
    fn defaults_and_full_blocks() {
        let (s, errors) = compile("jetstream: {servers: [nats://127.0.0.1:4222]}");
        assert!(errors.is_empty(), "{errors:?}");
        let s = s.unwrap();
        assert_eq!((s.stream.as_str(), s.replicas, &s.auth), ("hookroute", 1, &Auth::None));
        let (s, errors) = compile(
            "jetstream: {servers: [nats://a:4222, tls://b:4222], stream: q-1, replicas: 3, user: u, password: p, tls: {ca: /ca.pem, cert: /c.pem, key: /k.pem}}",
        );
        assert!(errors.is_empty(), "{errors:?}");
        let s = s.unwrap();
        assert_eq!(s.replicas, 3);
        assert_eq!(s.tls.unwrap().client, Some(("/c.pem".into(), "/k.pem".into())));
        assert!(!format!("{:?}", s.auth).contains("\"p\""), "secrets never print");
    }

    #[test]
    fn each_mistake_is_named_by_its_key() {
        let (s, errors) = compile(
            "jetstream: {servers: [http://x:1, 'nats://y:port'], stream: 'a.b', replicas: 7, token: t, creds: /c, user: u, tls: {cert: /c}}",
        );
        assert!(s.is_none());
        let text = errors.join("\n");
        for expected in [
            "store.jetstream.servers[0]: scheme \"http\"",
            "store.jetstream.servers[1]: \"nats://y:port\" has an invalid port",
            "store.jetstream.stream: must be 1 to 32",
            "store.jetstream.replicas: must be between 1 and 5",
            "store.jetstream.password: `user` needs a `password`",
            "store.jetstream.creds: choose one way to authenticate; this block sets token, creds",
            "store.jetstream.tls.key:",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
        let (_, errors) = compile("jetstream: {servers: []}");
        assert_eq!(errors, ["store.jetstream.servers: name at least one NATS server, e.g. [nats://nats-0:4222]"]);
    }
}
