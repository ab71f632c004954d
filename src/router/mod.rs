//! The router: a compiled config snapshot and route selection.
//!
//! A [`Snapshot`] is everything one version of routes.yaml means, compiled:
//! the path index, each route's conditions and actions. It is immutable; a
//! reload builds a new one and swaps it in, and each request keeps the
//! snapshot it started with for its whole life, so no request ever sees half
//! of one config and half of another.
//!
//! What a request becomes is decided here too, as one value built without
//! side effects: see [`dispatch`].

use std::sync::Arc;

use http::Method;

pub(crate) mod dedup;
pub(crate) mod dispatch;

use crate::actions::{Action, Resources, Respond};
use crate::config::{self, Config, ConfigError, ConfigErrors};
use crate::event::{Event, Projection};
use crate::matcher::condition::order_by_cost;
use crate::matcher::path::Candidate;
use crate::matcher::{Condition, EvalContext, PathIndex, PathPattern};
pub(crate) use dedup::Dedup;
pub(crate) use dispatch::{Dispatch, ReplyPlan, Taken};

/// From this many routes on, the path index is built on a thread of its own
/// while the routes compile; below it, a thread costs more than it saves.
const INDEX_BESIDE_MIN_ROUTES: usize = 128;

/// One compiled route.
#[derive(Debug)]
pub(crate) struct Route {
    pub(crate) name: Arc<str>,
    pub(crate) path: String,
    pub(crate) methods: Vec<Method>,
    /// None: always holds.
    pub(crate) condition: Option<Condition>,
    pub(crate) actions: Vec<Action>,
    pub(crate) continue_matching: bool,
    pub(crate) respond: Respond,
    /// `verify`, `allow_ips`, `max_body_bytes`, `rate_limit`: see [`crate::guard`].
    pub(crate) guard: crate::guard::RouteGuard,
    /// `durable` (ack after the jobs are on disk) or `memory`.
    pub(crate) delivery: crate::actions::DeliveryMode,
    /// Redeliveries of an accepted event are answered, not processed.
    pub(crate) dedup: Option<Dedup>,
    /// The route's metric handles, resolved once (see [`crate::observe::handles`]).
    pub(crate) metrics: Arc<crate::observe::RouteMetrics>,
}

/// A compiled config.
///
/// Only the routes: the file's global settings are compiled beside it
/// (`crate::settings::Settings`, which holds delivery's settings, and the
/// router imports no delivery), and the runtime holds the two together.
pub struct Snapshot {
    /// The body limit of a route that sets none (the file's `max_body_bytes`).
    pub(crate) max_body_bytes: usize,
    pub(crate) routes: Vec<Route>,
    /// Route name → fingerprint of its config, for reload summaries.
    pub(crate) fingerprints: std::collections::HashMap<Arc<str>, u64>,
    /// The parts of a JSON body any route's conditions read: what ingress
    /// builds (see [`crate::event::projection`]).
    pub(crate) projection: Projection,
    paths: PathIndex,
    /// The file's `brokers:` connections: live once this snapshot is (see
    /// `crate::actions::publish::Brokers::install`).
    pub(crate) brokers: crate::actions::publish::BrokerTable,
}

/// The routes a request's path and method select, before conditions.
pub enum Lookup {
    /// No route has this path.
    NotFound,
    /// Routes have this path, but none allows the method.
    MethodNotAllowed {
        /// The methods the routes of this path allow (for `Allow`).
        allow: Vec<Method>,
    },
    /// The routes whose path and method fit, in config order, with their
    /// path parameters.
    Candidates(Vec<Candidate>),
}

/// The routes as compiled (secrets show as `***`), not the path index.
impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("max_body_bytes", &self.max_body_bytes)
            .field("routes", &self.routes)
            .finish_non_exhaustive()
    }
}

/// A route whose conditions held, with its path parameters.
#[derive(Debug, Clone)]
pub struct Matched {
    /// The route's position in the snapshot.
    pub(crate) route: usize,
    /// Path parameters, `{name}` → value.
    pub(crate) params: Vec<(String, String)>,
}

impl Snapshot {
    /// Compiles a loaded config, adding every compile problem to the ones
    /// found while loading. Only a config without problems compiles.
    pub(crate) fn compile(mut config: Config, resources: &Resources) -> Result<Snapshot, ConfigErrors> {
        // Connections first: routes' `publish:` actions name them.
        let mut broker_problems = Vec::new();
        let brokers = resources.brokers.compile(&config.spec.brokers, &mut broker_problems);
        for problem in broker_problems {
            config.add_top_level_problem(problem);
        }
        let mut problems = config.problems.clone();
        // Names are the one thing checked across routes; the rest of a
        // route compiles on its own, so routes compile in parallel.
        let mut seen_names: std::collections::HashMap<&str, usize> =
            std::collections::HashMap::with_capacity(config.routes.len());
        let work: Vec<(&config::RouteSpec, Option<usize>)> =
            config.routes.iter().enumerate().map(|(i, spec)| (spec, seen_names.insert(&spec.name, i))).collect();
        let (compiled, index) = std::thread::scope(|scope| {
            // The path index needs only the paths, and is built on one
            // thread: start it now, beside the routes compiling on the
            // others. It is kept only if every route compiles, and then it
            // is exactly the index of their patterns.
            let index = (problems.is_empty() && config.routes.len() >= INDEX_BESIDE_MIN_ROUTES)
                .then(|| {
                    config
                        .routes
                        .iter()
                        .map(|spec| PathPattern::with_slash_rule(&spec.path, spec.strict_slash).ok())
                        .collect()
                })
                .flatten()
                .map(|patterns| scope.spawn(move || PathIndex::from_patterns(patterns)));
            let compiled = crate::par::map(work, |i, (spec, duplicate_of)| {
                compile_route(&config, i, spec, duplicate_of, resources, &brokers)
            });
            let index = index.map(|handle| handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
            (compiled, index)
        });
        let mut routes = Vec::with_capacity(config.routes.len());
        let mut patterns = Vec::with_capacity(config.routes.len());
        for (located, route) in compiled {
            // Once anything is wrong the snapshot is not built, but every
            // route is still compiled so all its problems are reported.
            if !located.is_empty() || !problems.is_empty() {
                problems.extend(located);
                continue;
            }
            if let Some((pattern, route)) = route {
                patterns.push(pattern);
                routes.push(route);
            }
        }
        if let Some(errors) = Config::into_errors(problems, &config.source_name) {
            return Err(errors);
        }
        Ok(Snapshot {
            max_body_bytes: config.max_body_bytes,
            paths: match index {
                Some(index) if routes.len() == patterns.len() && patterns.len() == config.routes.len() => index,
                _ => PathIndex::from_patterns(patterns),
            },
            projection: projection_of(&routes),
            fingerprints: routes.iter().map(|r| r.name.clone()).zip(config.fingerprints).collect(),
            routes,
            brokers,
        })
    }

    /// How many routes the config has.
    pub fn route_count(&self) -> usize {
        self.routes.len()
    }

    /// The largest body, in bytes, that some route accepts (its own
    /// `max_body_bytes`, or the file's): what sizing memory for concurrent
    /// requests starts from.
    pub fn largest_body_limit(&self) -> usize {
        self.routes.iter().filter_map(|r| r.guard.max_body_bytes).fold(self.max_body_bytes, usize::max)
    }

    /// True when some route checks a signature or credential (`verify:`).
    pub fn any_route_verifies(&self) -> bool {
        self.routes.iter().any(|r| r.guard.verify.is_some())
    }

    /// Candidate routes for a path and method.
    pub fn lookup(&self, path: &str, method: &Method) -> Lookup {
        let candidates = self.paths.lookup(path);
        if candidates.is_empty() {
            return Lookup::NotFound;
        }
        let (allowed, refused): (Vec<Candidate>, Vec<Candidate>) =
            candidates.into_iter().partition(|c| self.routes[c.route].methods.contains(method));
        if allowed.is_empty() {
            let mut allow: Vec<Method> = Vec::new();
            for c in refused {
                for m in &self.routes[c.route].methods {
                    if !allow.contains(m) {
                        allow.push(m.clone());
                    }
                }
            }
            return Lookup::MethodNotAllowed { allow };
        }
        Lookup::Candidates(allowed)
    }

    /// The routes taken for an event: candidates in file order, stopping
    /// after the first whose conditions hold unless it says `continue`.
    pub fn select(&self, candidates: Vec<Candidate>, event: &Event) -> Vec<Matched> {
        let mut taken = Vec::new();
        for c in candidates {
            let route = &self.routes[c.route];
            let holds =
                route.condition.as_ref().is_none_or(|cond| cond.eval(&EvalContext { event, params: &c.params }));
            if holds {
                taken.push(Matched { route: c.route, params: c.params });
                if !route.continue_matching {
                    break;
                }
            }
        }
        taken
    }

    /// True when some route writes to the store: a durable forward or a
    /// dedup claim.
    pub(crate) fn needs_store(&self) -> bool {
        self.routes.iter().any(|route| {
            route.dedup.is_some()
                || (route.delivery == crate::actions::DeliveryMode::Durable
                    && route.actions.iter().any(|a| matches!(a, Action::Forward(_))))
        })
    }

    /// Largest body any of `candidates` accepts.
    pub(crate) fn body_limit(&self, candidates: &[Candidate]) -> usize {
        // A route's own `max_body_bytes` overrides the file's; the body is
        // read under the largest, and `guard::fits_body` drops the rest.
        candidates
            .iter()
            .map(|c| self.routes[c.route].guard.max_body_bytes.unwrap_or(self.max_body_bytes))
            .max()
            .unwrap_or(self.max_body_bytes)
    }
}

/// Every member chain the routes' conditions read.
fn projection_of(routes: &[Route]) -> Projection {
    let mut projection = Projection::nothing();
    for condition in routes.iter().filter_map(|r| r.condition.as_ref()) {
        condition.for_each_json_path(&mut |path| projection.add(path.member_prefix().as_deref()));
    }
    projection
}

/// Compiles route `i` of `config`: its problems, located and without the
/// ones loading already reported, and the route when it has none.
fn compile_route(
    config: &Config,
    i: usize,
    spec: &config::RouteSpec,
    duplicate_of: Option<usize>,
    resources: &Resources,
    brokers: &crate::actions::publish::BrokerTable,
) -> (Vec<ConfigError>, Option<(PathPattern, Route)>) {
    let mut errors = Vec::new();
    if let Some(first) = duplicate_of {
        // The line of the first one: "route #7" makes the reader count.
        let at = config.locate(first, ConfigError::new("name", "")).location;
        let line = at.map(|l| format!(", line {}", l.line)).unwrap_or_default();
        errors
            .push(ConfigError::new("name", format!("duplicate route name (also used by route #{}{line})", first + 1)));
    }
    if spec.name.is_empty()
        || !spec.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        errors.push(ConfigError::new("name", format!("route name {:?} may use only a-z, 0-9, - and _", spec.name)));
    }
    let pattern = PathPattern::with_slash_rule(&spec.path, spec.strict_slash)
        .map_err(|e| errors.push(ConfigError::new("path", e.to_string())))
        .ok();
    let methods = compile_methods(spec.methods.as_deref(), &mut errors);
    let conditions: Vec<Option<Condition>> =
        spec.when.iter().enumerate().map(|(j, c)| Condition::compile(c, &format!("when[{j}]"), &mut errors)).collect();
    if spec.actions.is_empty() {
        errors.push(ConfigError::new("actions", "a route needs at least one action"));
    }
    let actions: Vec<Option<Action>> = spec
        .actions
        .iter()
        .enumerate()
        .map(|(j, a)| Action::compile(a, &format!("actions[{j}]"), resources, brokers, &mut errors))
        .collect();
    let has_forward = spec.actions.iter().any(|a| matches!(a, config::spec::ActionSpec::Forward(_)));
    let has_exec = spec.actions.iter().any(|a| matches!(a, config::spec::ActionSpec::Exec(_)));
    let respond = Respond::compile(spec.respond.as_ref(), has_forward, has_exec, &mut errors);
    let guard = crate::guard::RouteGuard::compile(spec, &mut errors);
    let dedup = Dedup::compile(spec, &mut errors);
    let located: Vec<ConfigError> =
        errors.into_iter().filter(|e| !config.already_reported(i, &e.key_path)).map(|e| config.locate(i, e)).collect();
    if !located.is_empty() {
        return (located, None);
    }
    let (Some(pattern), Some(conditions), Some(actions), Some(respond), Some(guard)) = (
        pattern,
        conditions.into_iter().collect::<Option<Vec<_>>>(),
        actions.into_iter().collect::<Option<Vec<_>>>(),
        respond,
        guard,
    ) else {
        return (located, None);
    };
    let name: Arc<str> = Arc::from(spec.name.as_str());
    let route = Route {
        metrics: Arc::new(crate::observe::RouteMetrics::new(name.clone())),
        name,
        path: spec.path.clone(),
        methods,
        condition: match conditions.len() {
            0 => None,
            _ => Some(Condition::All(order_by_cost(conditions))),
        },
        actions,
        continue_matching: spec.continue_matching,
        respond,
        guard,
        delivery: spec.delivery.unwrap_or_default().into(),
        dedup,
    };
    (located, Some((pattern, route)))
}

fn compile_methods(methods: Option<&[String]>, errors: &mut Vec<ConfigError>) -> Vec<Method> {
    let Some(methods) = methods else { return vec![Method::POST] };
    if methods.is_empty() {
        errors.push(ConfigError::new("methods", "list at least one method, or leave `methods` out for POST"));
    }
    let mut out = Vec::new();
    for (i, m) in methods.iter().enumerate() {
        match Method::from_bytes(m.to_ascii_uppercase().as_bytes()) {
            Ok(method) if !out.contains(&method) => out.push(method),
            Ok(_) => {}
            Err(_) => errors.push(ConfigError::new(format!("methods[{i}]"), format!("invalid HTTP method {m:?}"))),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot_from_str(
        name: &str,
        text: &str,
        env: &dyn config::interpolate::Environment,
        resources: &Resources,
    ) -> Result<Snapshot, ConfigErrors> {
        Snapshot::compile(config::load(name, text, env)?, resources)
    }

    fn config(routes: usize, last_path: &str) -> String {
        let mut out = String::from("routes:\n");
        for i in 0..routes {
            let path = if i + 1 == routes { last_path.to_string() } else { format!("/hooks/{i}/{{provider}}") };
            out.push_str(&format!("  - name: r{i}\n    path: {path}\n    actions: [{{log: {{}}}}]\n"));
        }
        out
    }

    /// Large enough for the parallel compile and the path index built
    /// beside it: the index finds what it should, and a file whose last
    /// route fails is refused whatever was built meanwhile.
    #[test]
    fn a_large_config_compiles_in_parallel_as_it_would_in_order() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let _guard = runtime.enter();
        let resources = Resources::new().unwrap();
        let env = |_: &str| None::<String>;
        let snapshot = snapshot_from_str("r.yaml", &config(500, "/{*rest}"), &env, &resources).unwrap();
        assert_eq!(snapshot.routes.len(), 500);
        assert_eq!(snapshot.routes[321].name.as_ref(), "r321");
        let Lookup::Candidates(found) = snapshot.lookup("/hooks/321/github", &Method::POST) else { panic!() };
        let found: Vec<usize> = found.iter().map(|c| c.route).collect();
        assert_eq!(found, vec![321, 499]);
        let Err(errors) = snapshot_from_str("r.yaml", &config(500, "/{bad name}"), &env, &resources) else {
            panic!("a bad path compiles")
        };
        assert_eq!(errors.errors.len(), 1, "{errors}");
        assert!(
            errors.to_string().starts_with("r.yaml:1500:11: route \"r499\": path: invalid parameter name"),
            "{errors}"
        );
    }
}
