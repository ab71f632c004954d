//! `${VAR}` and `${VAR:-default}` substitution in string values.
//!
//! Substitution happens on the parsed YAML tree, never on the raw text, so a
//! value containing YAML syntax (`: `, `#`, quotes) cannot change the file's
//! structure. `$${` is a literal `${`. An unset variable without a default is
//! an error naming the variable and the key it was used in.
//!
//! `${file:/run/secrets/name}` is replaced by the file's contents without
//! its trailing newline: Docker and Kubernetes mount secrets as files, and
//! `echo secret > file` adds the newline nobody meant to be part of a key.
//! Errors name the file, never its contents.
//!
//! Secrets (the values of keys such as `secret`, `token`, `password`; see
//! [`is_secret_path`]) get their own advice: a secret must never have a
//! default written next to it, so an unset variable suggests `${file:…}`,
//! and a `${file:}` that reads as empty is an error naming the file. For
//! `hookroute test`, which skips verification, an environment may ask for
//! [`SECRET_PLACEHOLDER`] in place of a secret that cannot be read.

use serde_yaml::Value;

use super::error::ConfigError;

/// Where variable values come from; the process environment in production,
/// a map in tests. Sync: a large file's routes are read on several threads.
pub trait Environment: Sync {
    /// The value of variable `name` (`${NAME}`), None when it is not set.
    fn var(&self, name: &str) -> Option<String>;

    /// The contents of a `${file:PATH}` reference, read up to one byte
    /// past [`MAX_SECRET_FILE_BYTES`] (so `${file:/dev/zero}` cannot hang).
    fn read_file(&self, path: &str) -> std::io::Result<Vec<u8>> {
        use std::io::Read;
        let mut out = Vec::new();
        std::fs::File::open(path)?.take(MAX_SECRET_FILE_BYTES as u64 + 1).read_to_end(&mut out)?;
        Ok(out)
    }

    /// True when a secret whose variable is unset, or whose file cannot be
    /// read, should become [`SECRET_PLACEHOLDER`] instead of an error:
    /// `hookroute test` runs route tests without verifying signatures, so
    /// it needs no real secrets (CI has none).
    fn secret_placeholders(&self) -> bool {
        false
    }
}

/// What a secret that cannot be read becomes when the environment asks for
/// placeholders. Valid for every scheme (Standard Webhooks wants base64
/// after `whsec_`; the others take any text).
pub(crate) const SECRET_PLACEHOLDER: &str = "whsec_cGxhY2Vob2xkZXI=";

/// Keys whose values are secrets (the `verify:` schemes' keys and
/// `admin_token`); a list's items (`secrets[0]`) are secrets too.
const SECRET_KEYS: [&str; 9] =
    ["secret", "secrets", "signing_secret", "signing_secrets", "token", "tokens", "password", "admin_token", "nkey"];

/// True when the value at `path` (`routes[0].verify.github.secrets[1]`) is
/// a secret.
pub(crate) fn is_secret_path(path: &str) -> bool {
    let last = path.rsplit('.').next().unwrap_or(path);
    let key = last.split('[').next().unwrap_or(last);
    SECRET_KEYS.contains(&key)
}

/// Largest `${file:...}` accepted: a secret, a token or a PEM key fits.
pub(crate) const MAX_SECRET_FILE_BYTES: usize = 64 * 1024;

/// The process environment.
pub struct ProcessEnv;

impl Environment for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<F: Fn(&str) -> Option<String> + Sync> Environment for F {
    fn var(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// Substitutes variables in every string of `value`, collecting one error per
/// failed reference. `path` is the key path of `value` (`""` at the root).
pub(crate) fn interpolate_tree(value: &mut Value, path: &str, env: &dyn Environment, errors: &mut Vec<ConfigError>) {
    walk(value, &At::Root(path), env, errors);
}

/// Where the walk is, as a chain of borrowed steps up to the root. A
/// 10,000-route file has hundreds of thousands of nodes and almost never an
/// error, so the key path is spelt out only for a failed reference.
enum At<'a> {
    Root(&'a str),
    Key(&'a At<'a>, &'a str),
    Index(&'a At<'a>, usize),
}

impl At<'_> {
    fn path(&self) -> String {
        match self {
            At::Root(path) => path.to_string(),
            At::Key(parent, key) => {
                let mut out = parent.path();
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
                out
            }
            At::Index(parent, i) => format!("{}[{i}]", parent.path()),
        }
    }
}

fn walk(value: &mut Value, at: &At<'_>, env: &dyn Environment, errors: &mut Vec<ConfigError>) {
    match value {
        Value::String(s) if s.contains('$') => match interpolate_value(s, env, || at.path()) {
            Ok(replaced) => *s = replaced,
            Err((path, message)) => errors.push(ConfigError::new(path, message)),
        },
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                walk(item, &At::Index(at, i), env, errors);
            }
        }
        Value::Mapping(map) => {
            for (key, item) in map.iter_mut() {
                walk(item, &At::Key(at, key.as_str().unwrap_or("?")), env, errors);
            }
        }
        Value::Tagged(tagged) => walk(&mut tagged.value, at, env, errors),
        _ => {}
    }
}

/// Why a `${…}` reference could not be substituted.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InterpolationError {
    /// `${NAME}` without a default, and NAME is not set.
    #[error("environment variable {0} is not set (write ${{{0}:-default}} to give a default)")]
    Unset(String),
    #[error("unterminated `${{` (add the closing `}}`, or write `$${{` for a literal `${{`)")]
    Unterminated,
    #[error("invalid variable name {name:?} in ${{{reference}}} (use letters, digits and _)")]
    InvalidName { name: String, reference: String },
    #[error(transparent)]
    SecretFile(#[from] SecretFileError),
}

/// Why a `${file:…}` secret could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SecretFileError {
    #[error("empty file name in ${{file:}} (write e.g. ${{file:/run/secrets/github}})")]
    EmptyName,
    /// The cause is in the message, not a `source`, so a chain printed
    /// with `{:#}` does not say it twice.
    #[error("cannot read secret file {path}: {error}")]
    Unreadable { path: String, error: std::io::Error },
    #[error("secret file {path} is larger than 64 KiB; is it the right file?")]
    TooLarge { path: String },
    #[error("secret file {path} is not UTF-8 text")]
    NotUtf8 { path: String },
    /// Else the key would be reported as empty "(is its variable set?)",
    /// sending the reader to look for a variable that is not there.
    #[error("secret file {path} is empty")]
    Empty { path: String },
}

impl InterpolationError {
    /// The message; for a secret, an unset variable is told to take no
    /// default but a file.
    fn message(self, secret: bool) -> String {
        match self {
            InterpolationError::Unset(name) if secret => format!(
                "environment variable {name} is not set (a secret takes no default: set {name}, or read the \
                 secret from a file with ${{file:/run/secrets/...}})"
            ),
            other => other.to_string(),
        }
    }
}

/// Substitutes the variables of the value at a key path; `path` is called
/// only when a reference fails. Err carries the path and the message.
pub(crate) fn interpolate_value(
    input: &str,
    env: &dyn Environment,
    path: impl FnOnce() -> String,
) -> Result<String, (String, String)> {
    match interpolate(input, env) {
        Ok(out) => Ok(out),
        Err(failure) => {
            let path = path();
            let secret = is_secret_path(&path);
            if secret && env.secret_placeholders() {
                return Ok(SECRET_PLACEHOLDER.to_string());
            }
            Err((path, failure.message(secret)))
        }
    }
}

/// Substitutes the variables of one string.
#[cfg(test)]
pub(crate) fn interpolate_str(input: &str, env: &dyn Environment) -> Result<String, InterpolationError> {
    interpolate(input, env)
}

fn interpolate(input: &str, env: &dyn Environment) -> Result<String, InterpolationError> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            // The value is not quoted: it may be a secret written inline.
            let end = tail.find('}').ok_or(InterpolationError::Unterminated)?;
            out.push_str(&resolve(&tail[..end], env)?);
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn resolve(reference: &str, env: &dyn Environment) -> Result<String, InterpolationError> {
    if let Some(path) = reference.strip_prefix("file:") {
        return Ok(read_secret_file(path, env)?);
    }
    let (name, default) = match reference.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (reference, None),
    };
    let valid = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if !valid {
        return Err(InterpolationError::InvalidName { name: name.to_string(), reference: reference.to_string() });
    }
    match (env.var(name), default) {
        (Some(v), _) => Ok(v),
        (None, Some(d)) => Ok(d.to_string()),
        (None, None) => Err(InterpolationError::Unset(name.to_string())),
    }
}

fn read_secret_file(path: &str, env: &dyn Environment) -> Result<String, SecretFileError> {
    if path.is_empty() {
        return Err(SecretFileError::EmptyName);
    }
    let bytes = env.read_file(path).map_err(|error| SecretFileError::Unreadable { path: path.to_string(), error })?;
    if bytes.len() > MAX_SECRET_FILE_BYTES {
        return Err(SecretFileError::TooLarge { path: path.to_string() });
    }
    let text = String::from_utf8(bytes).map_err(|_| SecretFileError::NotUtf8 { path: path.to_string() })?;
    let text = text.trim_end_matches(['\n', '\r']);
    if text.is_empty() {
        return Err(SecretFileError::Empty { path: path.to_string() });
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "HOST").then(|| "ci.internal".to_string())
    }

    #[test]
    fn substitutes_defaults_and_escapes() {
        assert_eq!(interpolate_str("http://${HOST}:80", &env).unwrap(), "http://ci.internal:80");
        assert_eq!(interpolate_str("${PORT:-8080}", &env).unwrap(), "8080");
        assert_eq!(interpolate_str("${EMPTY:-}", &env).unwrap(), "");
        assert_eq!(interpolate_str("$${HOST} costs $5", &env).unwrap(), "${HOST} costs $5");
    }

    #[test]
    fn reports_unset_and_malformed() {
        let err = interpolate_str("${NOPE}", &env).unwrap_err().to_string();
        assert!(err.contains("NOPE is not set"), "{err}");
        assert!(interpolate_str("${HOST", &env).unwrap_err().to_string().contains("unterminated"));
        assert!(
            !interpolate_str("s3cr3t${", &env).unwrap_err().to_string().contains("s3cr3t"),
            "an inline secret is echoed"
        );
        assert!(interpolate_str("${1X}", &env).unwrap_err().to_string().contains("invalid variable name"));
    }

    #[test]
    fn reads_secret_files_without_the_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gh");
        std::fs::write(&path, "s3cr3t\n").unwrap();
        let text = format!("${{file:{}}}", path.display());
        assert_eq!(interpolate_str(&text, &env).unwrap(), "s3cr3t");
        std::fs::write(&path, "a b\r\n").unwrap();
        assert_eq!(interpolate_str(&format!("x-${{file:{}}}", path.display()), &env).unwrap(), "x-a b");
        let err = interpolate_str("${file:/nonexistent/secret}", &env).unwrap_err().to_string();
        assert!(err.contains("cannot read secret file /nonexistent/secret"), "{err}");
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert!(interpolate_str(&text, &env).unwrap_err().to_string().contains("not UTF-8"));
        assert!(interpolate_str("${file:/dev/zero}", &env).unwrap_err().to_string().contains("larger than 64 KiB"));
    }

    #[test]
    fn secrets_get_no_default_advice_and_placeholders_only_when_asked() {
        let err = interpolate_value("${GH_SECRET}", &env, || "routes[0].verify.github.secrets[1]".into()).unwrap_err();
        assert_eq!(err.0, "routes[0].verify.github.secrets[1]");
        assert!(err.1.contains("${file:") && !err.1.contains(":-"), "{}", err.1);
        let err = interpolate_value("${URL}", &env, || "routes[0].actions[0].forward.url".into()).unwrap_err();
        assert!(err.1.contains("${URL:-default}"), "{}", err.1);
        struct Placeholders;
        impl Environment for Placeholders {
            fn var(&self, _: &str) -> Option<String> {
                None
            }
            fn secret_placeholders(&self) -> bool {
                true
            }
        }
        let secret = interpolate_value("${file:/nonexistent}", &Placeholders, || "admin_token".into());
        assert_eq!(secret.unwrap(), SECRET_PLACEHOLDER);
        assert!(interpolate_value("${URL}", &Placeholders, || "routes[0].path".into()).is_err());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty");
        std::fs::write(&path, "\n").unwrap();
        let err = interpolate_str(&format!("${{file:{}}}", path.display()), &env).unwrap_err().to_string();
        assert!(err.ends_with("is empty"), "{err}");
    }

    #[test]
    fn walks_the_tree_with_paths() {
        let mut v: Value = serde_yaml::from_str("a: [x, '${NOPE}']\nb: {c: '${HOST}'}").unwrap();
        let mut errors = Vec::new();
        interpolate_tree(&mut v, "", &env, &mut errors);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].key_path, "a[1]");
        assert_eq!(v["b"]["c"], Value::String("ci.internal".into()));
    }
}
