//! routes.yaml: loading, interpolation, decoding and validation.
//!
//! Loading is one function, [`load`], used by `serve`, `check` and every
//! reload alike, so "it passed check" means "serve accepts it". It returns a
//! [`Config`] whose routes are still specs; the router compiles them (and
//! reports their errors through [`Config::locate`]).

pub(crate) mod alerts;
pub mod broker_spec;
pub(crate) mod decode;
pub(crate) mod delivery_spec;
pub(crate) mod door_spec;
pub(crate) mod error;
pub mod event_log_spec;
pub mod exec_spec;
pub mod interpolate;
pub(crate) mod locate;
pub mod rate_spec;
pub(crate) mod secret;
pub mod spec;
pub mod store_spec;
pub mod telemetry_spec;
pub(crate) mod test_spec;
pub(crate) mod yaml;

use std::net::SocketAddr;
use std::path::Path;

use serde_yaml::Value;
use sha2::{Digest, Sha256};

pub(crate) use error::{ConfigError, ConfigErrors, Location};
use interpolate::Environment;
use locate::LazyPositions;
pub(crate) use spec::{ConfigSpec, RouteSpec};

pub(crate) const DEFAULT_LISTEN: &str = "0.0.0.0:8080";
pub(crate) const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9090";
pub(crate) const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// A decoded config file. `problems` holds what was wrong with it so far;
/// the router adds what it finds while compiling, and only a file with no
/// problems at all is ever served.
#[derive(Debug)]
pub struct Config {
    /// The file name as given, used to prefix error lines.
    pub source_name: String,
    /// Hex SHA-256 of the file's bytes; reload skips an unchanged file.
    pub hash: String,
    /// The public listener's address (`listen`).
    pub listen: SocketAddr,
    /// The admin listener's address (`admin_listen`).
    pub admin_listen: SocketAddr,
    /// The file-wide body limit in bytes (`max_body_bytes`).
    pub max_body_bytes: usize,
    /// The file's top-level keys as decoded (its `routes:` are in
    /// [`Config::routes`]): the global settings are compiled from it by the
    /// modules that own them (see `crate::settings`), config being data
    /// that imports no runtime module.
    pub spec: ConfigSpec,
    /// The routes that decoded, in file order.
    pub routes: Vec<RouteSpec>,
    /// Where each secret is used, with a digest of its value (see
    /// [`secret::SecretDigests`]).
    pub(crate) secrets: secret::SecretDigests,
    /// Thresholds for `hookroute alerts`, per route.
    pub alerts: alerts::AlertSettings,
    /// For each of `routes`, a hash of its interpolated YAML.
    pub fingerprints: Vec<u64>,
    /// For each of `routes`, its index in the file's `routes:` list (they
    /// differ after a route that failed to decode).
    file_indices: Vec<usize>,
    /// Every problem found so far, located; the file is served only when
    /// this stays empty after the routes compile.
    pub problems: Vec<ConfigError>,
    positions: LazyPositions,
    /// Key paths already reported while decoding; later errors under them
    /// are echoes of the same mistake.
    reported: Vec<String>,
}

impl Config {
    /// Attaches location and route name to an error found in route `index`.
    pub fn locate(&self, index: usize, mut err: ConfigError) -> ConfigError {
        let full = join_path(&self.route_path(index), &err.key_path);
        err.location = self.positions.value(&full);
        err.route = self.routes.get(index).map(|r| r.name.clone());
        err
    }

    /// Where a top-level key (`routes`, `listen`) is written, for warnings
    /// about the file as a whole.
    pub(crate) fn key_location(&self, key_path: &str) -> Option<Location> {
        self.positions.key(key_path)
    }

    /// True when an error at `key_path` in route `index` repeats a problem
    /// already reported while decoding.
    pub fn already_reported(&self, index: usize, key_path: &str) -> bool {
        let full = join_path(&self.route_path(index), key_path);
        self.reported.iter().any(|r| {
            full == *r
                || full.starts_with(&format!("{r}."))
                || full.starts_with(&format!("{r}["))
                // A mapping that lost a misspelt key (`equal:`) is then
                // missing it; saying so again would be the same mistake twice.
                || r.strip_prefix(&format!("{full}.")).is_some_and(|key| !key.contains(['.', '[']))
                // The same, for a lone condition written as a mapping
                // (`when: {methods: POST}`): decoding says `when.methods`,
                // compiling says `when[0]`.
                || full.strip_suffix("[0]").is_some_and(|single| {
                    r.strip_prefix(&format!("{single}.")).is_some_and(|key| !key.contains(['.', '[']))
                })
        })
    }

    fn route_path(&self, index: usize) -> String {
        format!("routes[{}]", self.file_indices.get(index).copied().unwrap_or(index))
    }

    /// Adds a problem with a top-level key path found after loading (by
    /// the compilers of the global settings), located in the file.
    pub fn add_top_level_problem(&mut self, mut err: ConfigError) {
        if err.location.is_none() {
            err.location = self.positions.key(&err.key_path).or_else(|| self.positions.value(&err.key_path));
        }
        self.problems.push(err);
    }

    /// Where the value of a top-level key is written.
    pub fn value_location(&self, key_path: &str) -> Option<Location> {
        self.positions.value(key_path)
    }

    /// All problems, in file order, ready to print; None when there are none.
    pub fn into_errors(mut problems: Vec<ConfigError>, source_name: &str) -> Option<ConfigErrors> {
        if problems.is_empty() {
            return None;
        }
        problems.sort_by_key(|e| e.location.map(|l| (l.line, l.column)).unwrap_or((0, 0)));
        Some(ConfigErrors { file: source_name.to_string(), errors: problems })
    }
}

/// Rewrites a file-relative error inside `routes[i]` to name route `i` and
/// use a route-relative key path, as every other route error does.
fn attribute_to_route(err: &mut ConfigError, routes: &[LoadedRoute]) {
    let Some(rest) = err.key_path.strip_prefix("routes[") else { return };
    let Some((index, tail)) = rest.split_once(']') else { return };
    let Some(route) = index.parse::<usize>().ok().and_then(|i| routes.get(i)) else { return };
    let Some(name) = &route.name else { return };
    err.route = Some(name.clone());
    err.key_path = tail.strip_prefix('.').unwrap_or(tail).to_string();
}

fn join_path(base: &str, rest: &str) -> String {
    match rest {
        "" => base.to_string(),
        r if r.starts_with('[') => format!("{base}{r}"),
        r => format!("{base}.{r}"),
    }
}

/// One route's YAML, decoded: the part of loading that needs nothing but
/// the route itself, so routes can be decoded in parallel.
struct LoadedRoute {
    name: Option<String>,
    /// What the route says after interpolation, to tell a changed route from
    /// an unchanged one on reload.
    fingerprint: u64,
    route: Option<RouteSpec>,
    problems: Vec<decode::DecodeProblem>,
}

impl LoadedRoute {
    fn decode(value: Value) -> Self {
        use std::hash::{Hash, Hasher};
        let name = value.get("name").and_then(Value::as_str).map(str::to_string);
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        value.hash(&mut hasher);
        let (route, problems) = decode::decode_all::<RouteSpec>(value);
        LoadedRoute { name, fingerprint: hasher.finish(), route, problems }
    }
}

/// The document (null for an empty or comments-only file) with its strings
/// interpolated, the interpolation errors, and — when the fast parser read
/// it — its routes, decoded while it was parsed (the document's `routes:` is
/// then an empty list). Fails only when the text is not YAML.
type ParsedFile = (Value, Vec<ConfigError>, Option<Vec<LoadedRoute>>);

fn parse(source_name: &str, text: &str, env: &dyn Environment) -> Result<ParsedFile, ConfigErrors> {
    let (root, errors, loaded) = match yaml::parse(text, env, LoadedRoute::decode) {
        Some(yaml::Parsed { root, errors, routes }) => (root, errors, Some(routes)),
        // serde_yaml decides what the fast parser does not vouch for,
        // including every syntax error and its message.
        None => {
            let mut root: Value = serde_yaml::from_str(text).map_err(|e| {
                let location = e.location().map(|l| Location { line: l.line(), column: l.column() });
                let message = e.to_string();
                let message = message.split(" at line ").next().unwrap_or(&message).to_string();
                let hint = syntax_hint(&message, text, location.map(|l| l.line));
                let error = ConfigError {
                    location,
                    route: None,
                    key_path: String::new(),
                    message: format!("invalid YAML: {message}{hint}"),
                };
                ConfigErrors { file: source_name.to_string(), errors: vec![error] }
            })?;
            let mut errors = Vec::new();
            interpolate::interpolate_tree(&mut root, "", env, &mut errors);
            (root, errors, None)
        }
    };
    Ok((root, errors, loaded))
}

/// What libyaml's message means for the two common mistakes: a template
/// written unquoted inside `{ … }` (its braces end the mapping early:
/// "did not find expected \',\' or \'}\'"), and indentation (a key one column
/// off: "mapping values are not allowed", "did not find expected \'-\'").
/// `line` is 1-based.
fn syntax_hint(message: &str, text: &str, line: Option<usize>) -> &'static str {
    let near = |n: usize| text.lines().nth(n.saturating_sub(1)).unwrap_or("");
    let template_near = line.is_some_and(|l| near(l).contains("{{") || near(l.saturating_sub(1)).contains("{{"));
    if template_near && (message.contains("did not find expected") || message.contains("flow")) {
        return " (a `{{ … }}` template inside `{ … }` or `[ … ]` must be quoted: `{ message: \"{{ json.a }} pushed\" }`)";
    }
    // serde_yaml holds integers of up to 64 bits and names the type it
    // could not hold.
    if message.contains("as u128") || message.contains("as i128") {
        return " (YAML numbers hold 64 bits: write a larger integer in quotes, `gt: \"123456789012345678901234567890\"`; \
                `gt`, `gte`, `lt` and `lte` read it exactly)";
    }
    let indentation = [
        "mapping values are not allowed",
        "did not find expected '-' indicator",
        "did not find expected key",
        "block sequence entries are not allowed",
    ];
    if indentation.iter().any(|m| message.contains(m)) {
        return " (check the indentation here and on the line above: keys of one mapping start in the same column, \
                and YAML indents with spaces, not tabs)";
    }
    ""
}

/// Reads and loads a config file.
pub fn load_file(path: &Path, env: &dyn Environment) -> Result<Config, ConfigErrors> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigErrors {
        file: name.clone(),
        errors: vec![ConfigError::new("", format!("cannot read config file: {e}"))],
    })?;
    load(&name, &text, env)
}

/// Loads config text: parse, interpolate, decode, validate top-level settings.
/// Fails outright only when the text is not YAML at all; every other problem
/// is collected, located, in `Config::problems`.
pub fn load(source_name: &str, text: &str, env: &dyn Environment) -> Result<Config, ConfigErrors> {
    let (root, mut errors, decoded) = parse(source_name, text, env)?;
    let positions = LazyPositions::new(text);
    let empty_file = root.is_null();
    let mut root = if empty_file { Value::Mapping(Default::default()) } else { root };

    // A file that routes nothing answers every webhook 404, and senders such
    // as GitHub do not redeliver after a 404: an emptied file (`: >
    // routes.yaml`, a failed generator), one left with only comments, or
    // one without `routes:` is refused, so a reload keeps the old routes.
    // Only an explicit `routes: []` runs with none (`check` warns).
    let route_values = match root.as_mapping_mut().map(|m| m.remove("routes")) {
        Some(Some(Value::Sequence(items))) => items,
        Some(Some(Value::Null)) => {
            errors.push(ConfigError {
                location: positions.key("routes"),
                ..ConfigError::new(
                    "routes",
                    "lists no routes, so every webhook would be answered 404; add routes under it \
                     (write `routes: []` to run with none on purpose)",
                )
            });
            Vec::new()
        }
        Some(None) => {
            let message = if empty_file {
                "the file is empty or holds only comments, so every webhook would be answered 404; \
                 write a `routes:` list (`routes: []` runs with none on purpose)"
            } else {
                "there is no `routes:` list, so every webhook would be answered 404; \
                 add one (`routes: []` runs with none on purpose)"
            };
            errors
                .push(ConfigError { location: Some(Location { line: 1, column: 1 }), ..ConfigError::new("", message) });
            Vec::new()
        }
        Some(Some(_)) => {
            errors.push(ConfigError::new("routes", "must be a list of routes"));
            Vec::new()
        }
        None => {
            errors.push(ConfigError::new("", "the config file must be a mapping with a `routes:` list"));
            Vec::new()
        }
    };
    // Routes decode independently of each other: either already done while
    // the file was parsed, or spread over the cores now.
    let loaded = match decoded {
        Some(loaded) => loaded,
        None => crate::par::map(route_values, |_, value| LoadedRoute::decode(value)),
    };

    // A variable that failed to resolve leaves its text in place; anything
    // later said about that value would repeat the same mistake.
    let mut reported: Vec<String> = errors.iter().map(|e| e.key_path.clone()).collect();
    for err in &mut errors {
        err.location = err.location.or_else(|| positions.value(&err.key_path));
        attribute_to_route(err, &loaded);
    }
    let (top, problems) = decode::decode_all::<ConfigSpec>(root);
    for p in problems {
        reported.push(p.key_path.clone());
        // A bad value is pointed at itself, an unknown key at the key.
        let location = if p.at_key { positions.key(&p.key_path) } else { positions.value(&p.key_path) };
        errors.push(ConfigError { location, ..p.into_error() });
    }
    let top = top.unwrap_or_default();
    let mut alerts = alerts::AlertSettings::compile(top.alerts.as_ref(), &mut errors);

    let mut routes = Vec::new();
    let mut file_indices = Vec::new();
    let mut fingerprints = Vec::new();
    for (i, loaded) in loaded.into_iter().enumerate() {
        let LoadedRoute { name, fingerprint, route, problems } = loaded;
        for p in problems {
            let full = join_path(&format!("routes[{i}]"), &p.key_path);
            let location = if p.at_key { positions.key(&full) } else { positions.value(&full) };
            reported.push(full.clone());
            let mut err = ConfigError { location, route: name.clone(), ..p.into_error() };
            // Without a name, the file-relative path is what tells the
            // operator which route is meant.
            if name.is_none() {
                err.key_path = full;
            }
            errors.push(err);
        }
        // A route that failed to decode is left out; the rest are still
        // compiled so their problems are reported in the same run.
        if let Some(route) = route {
            if let Some(spec) = &route.alerts {
                let mut problems = Vec::new();
                alerts.add_route(&route.name, spec, &mut problems);
                for mut err in problems {
                    err.location = positions.value(&join_path(&format!("routes[{i}]"), &err.key_path));
                    err.route = Some(route.name.clone());
                    errors.push(err);
                }
            }
            routes.push(route);
            file_indices.push(i);
            fingerprints.push(fingerprint);
        }
    }
    // Locate top-level errors (route errors are located above).
    for err in errors.iter_mut().filter(|e| e.location.is_none()) {
        err.location = positions.key(&err.key_path).or_else(|| positions.value(&err.key_path));
    }

    let parse_addr = |key: &str, value: Option<&str>, default: &str, errors: &mut Vec<ConfigError>| {
        let text = value.unwrap_or(default);
        text.parse::<SocketAddr>().unwrap_or_else(|e| {
            errors.push(ConfigError {
                location: positions.value(key),
                ..ConfigError::new(key, format!("invalid address {text:?}: {e} (write e.g. 0.0.0.0:8080)"))
            });
            SocketAddr::from(([0, 0, 0, 0], 0))
        })
    };
    let listen = parse_addr("listen", top.listen.as_deref(), DEFAULT_LISTEN, &mut errors);
    let admin_listen = parse_addr("admin_listen", top.admin_listen.as_deref(), DEFAULT_ADMIN_LISTEN, &mut errors);
    if let Some(v) = top.version.filter(|v| *v != 1) {
        errors.push(ConfigError {
            location: positions.value("version"),
            ..ConfigError::new("version", format!("unsupported format version {v}; this hookroute reads version 1"))
        });
    }
    let max_body_bytes = top.max_body_bytes.map(|b| b.as_u64() as usize).unwrap_or(DEFAULT_MAX_BODY_BYTES);
    if max_body_bytes == 0 {
        errors.push(ConfigError {
            location: positions.value("max_body_bytes"),
            ..ConfigError::new("max_body_bytes", "must be greater than 0")
        });
    }
    let mut secrets = secret::SecretDigests::new();
    if let Some(token) = &top.admin_token {
        secrets.insert("admin_token".to_string(), secret::digest([token]));
    }
    for route in &routes {
        if let Some(verify) = &route.verify {
            secrets.insert(format!("route \"{}\": verify", route.name), secret::digest(verify.secrets()));
        }
    }

    Ok(Config {
        source_name: source_name.to_string(),
        hash: hex::encode(Sha256::digest(text.as_bytes())),
        listen,
        admin_listen,
        max_body_bytes,
        spec: top,
        alerts,
        routes,
        secrets,
        fingerprints,
        file_indices,
        problems: errors,
        positions,
        reported,
    })
}
