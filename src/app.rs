//! The running application: the active config snapshot, the resources that
//! outlive it, and the two listeners.
//!
//! Startup loads the config through exactly the function reload will use,
//! then binds. [`start`] returns a [`RunningServer`] with the bound
//! addresses, which is what tests use to run the real server on ephemeral
//! ports.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use futures_util::future::BoxFuture;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::interpolate::ProcessEnv;
use crate::config::ConfigErrors;
use crate::delivery::settings::StartOnly;
use crate::delivery::Delivery;
use crate::event::Event;
use crate::pipeline::Resources;
use crate::reload::{self, Reloader};
use crate::router::{Matched, Snapshot};
use crate::server::{self, ConnectionLimits, Reply};
use crate::settings::{Loaded, Settings, Started};

/// Shared state of a running server.
pub struct App {
    /// The active config: routes and settings of one file, swapped together.
    active: ArcSwap<Loaded>,
    resources: Arc<Resources>,
    delivery: Delivery,
    shutting_down: AtomicBool,
    reloader: Reloader,
    /// What the process applied at start of the settings only a restart
    /// changes.
    started: Started,
    limits: Limits,
}

/// The listeners' limits: the command line's (`base`), and the channels
/// through which each listener gets the file's over them, at start and at
/// every reload.
struct Limits {
    base: ConnectionLimits,
    public: tokio::sync::watch::Sender<ConnectionLimits>,
    admin: tokio::sync::watch::Sender<ConnectionLimits>,
}

impl App {
    fn new(
        loaded: Loaded,
        resources: Arc<Resources>,
        reloader: Reloader,
        started: Started,
        base: ConnectionLimits,
    ) -> Self {
        let delivery = Delivery::new(crate::delivery::Senders {
            http: resources.http.clone(),
            brokers: resources.brokers.clone(),
        });
        resources.brokers.install(&loaded.snapshot.brokers);
        // Start is a reload from nothing: the limits begin as the command
        // line's, and the loaded file's are applied over them by `apply`,
        // as at every reload.
        let limits = Limits {
            public: tokio::sync::watch::Sender::new(base.clone()),
            admin: tokio::sync::watch::Sender::new(ConnectionLimits { max_concurrent_requests: None, ..base.clone() }),
            base,
        };
        let settings = loaded.settings.clone();
        let app = App {
            limits,
            active: ArcSwap::from_pointee(loaded),
            resources,
            delivery,
            shutting_down: AtomicBool::new(false),
            reloader,
            started,
        };
        app.apply(&settings);
        app
    }

    /// Hands the listeners the limits `settings` set: at start and at every
    /// reload alike. Sent only when different, so an unchanged reload
    /// rebuilds nothing.
    fn apply(&self, settings: &Settings) {
        let (public, admin) = listener_limits(settings, &self.limits.base);
        self.limits.public.send_if_modified(|held| std::mem::replace(held, public.clone()) != public);
        self.limits.admin.send_if_modified(|held| std::mem::replace(held, admin.clone()) != admin);
    }

    /// The active config, routes and settings together; hold it for the
    /// whole request.
    pub(crate) fn active(&self) -> Arc<Loaded> {
        self.active.load_full()
    }

    /// The active routes.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.active.load().snapshot.clone()
    }

    /// The active settings.
    pub fn settings(&self) -> Arc<Settings> {
        self.active.load().settings.clone()
    }

    /// Makes `next` the active config, and its listener limits the
    /// listeners'. Requests already running keep the config they hold.
    pub(crate) fn swap(&self, next: Loaded) -> Arc<Loaded> {
        self.apply(&next.settings);
        // The new connections go live with the routes that name them.
        self.resources.brokers.install(&next.snapshot.brokers);
        self.active.swap(Arc::new(next))
    }

    pub(crate) fn delivery(&self) -> &Delivery {
        &self.delivery
    }

    /// Ready: a config is loaded (always, once started), the delivery store
    /// is open, and shutdown has not begun.
    pub(crate) fn is_ready(&self) -> bool {
        !self.shutting_down.load(Ordering::Relaxed) && self.delivery.is_open()
    }
}

/// The reloader works on the application through this, and nothing more.
impl reload::Target for App {
    fn reloader(&self) -> &Reloader {
        &self.reloader
    }

    fn resources_handle(&self) -> Arc<Resources> {
        self.resources.clone()
    }

    fn active(&self) -> Arc<Loaded> {
        App::active(self)
    }

    fn swap(&self, next: Loaded) -> Arc<Loaded> {
        App::swap(self, next)
    }

    fn started(&self) -> &Started {
        &self.started
    }
}

/// The public and the admin listener's limits: `base` (the command
/// line's) with the file's over them. The admin listener has no request
/// cap, so health checks answer under a flood.
fn listener_limits(settings: &Settings, base: &ConnectionLimits) -> (ConnectionLimits, ConnectionLimits) {
    let security = &settings.security;
    let mut public = base.clone();
    if let Some(n) = security.max_concurrent_requests {
        public.max_concurrent_requests = Some(n);
    }
    if let Some(n) = security.max_headers {
        public.max_headers = n;
    }
    if let Some(n) = security.max_header_bytes {
        public.max_header_bytes = n;
    }
    if let Some(d) = security.header_read_timeout {
        public.header_read_timeout = d;
    }
    let admin = ConnectionLimits { max_concurrent_requests: None, ..public.clone() };
    (public, admin)
}

/// The server works on the application through this, and nothing more.
impl server::State for App {
    fn active(&self) -> Arc<Loaded> {
        App::active(self)
    }

    fn stats(&self) -> &crate::observe::RouteStats {
        &self.resources.stats
    }

    fn delivery(&self) -> &Delivery {
        &self.delivery
    }

    fn bound_admin_addr(&self) -> SocketAddr {
        self.started.admin_addr
    }

    fn is_ready(&self) -> bool {
        App::is_ready(self)
    }

    fn last_reload_failure(&self) -> Option<server::state::ReloadFailure> {
        self.reloader.last_failure().map(|f| server::state::ReloadFailure { at: f.at, errors: f.errors })
    }

    fn reload(&self) -> BoxFuture<'_, Result<server::state::ReloadReport, ConfigErrors>> {
        Box::pin(async move {
            let summary = self.reloader.reload(self, reload::Trigger::Admin).await?;
            Ok(server::state::ReloadReport {
                summary: serde_json::to_value(&summary).unwrap_or_default(),
                message: summary.to_string(),
            })
        })
    }

    fn run<'a>(&'a self, active: &'a Loaded, event: Arc<Event>, matched: &'a [Matched]) -> BoxFuture<'a, Reply> {
        Box::pin(crate::pipeline::run(
            &active.snapshot,
            &active.settings.delivery,
            &self.resources,
            &self.delivery,
            event,
            matched,
        ))
    }
}

/// Why the server did not start; each is printed to the operator as is.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The config file does not load: every problem found, with its location.
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// The cause is in the message, not a `source`: printed with its
    /// chain (`{:#}`), it would read "…: Address already in use: Address
    /// already in use".
    #[error("cannot listen on {addr}: {error}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why the bind failed (in use, not permitted, ...).
        error: std::io::Error,
    },
    /// The outgoing HTTP client could not be built (TLS roots, proxy settings).
    #[error("cannot create the HTTP client: {0}")]
    Client(#[from] crate::upstream::SetupError),
    /// The admin API would listen beyond loopback without `admin_token`; the
    /// message says which address and how to fix it.
    #[error("{0}")]
    InsecureAdmin(String),
    /// The delivery queue's store (under `data_dir`) could not be opened.
    #[error("{0}")]
    Delivery(#[from] crate::delivery::StoreError),
}

/// How to start the server.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// The routes file (`routes.yaml`) to load, and to watch with `watch`.
    pub config_path: PathBuf,
    /// Overrides the config's `listen`.
    pub listen: Option<SocketAddr>,
    /// Overrides the config's `admin_listen`.
    pub admin_listen: Option<SocketAddr>,
    /// The command line's connection limits; the file's settings apply
    /// over them (see `listener_limits`).
    pub limits: ConnectionLimits,
    /// Watch the config's directory and reload on change (`--no-watch` turns
    /// it off; SIGHUP and `POST /-/reload` always work).
    pub watch: bool,
    /// Overrides the config's `data_dir` (the delivery queue).
    pub data_dir: Option<PathBuf>,
}

/// A started server.
pub struct RunningServer {
    /// The running application: its active config, resources and queue.
    pub app: Arc<App>,
    /// The address the public listener is bound to (the real port when
    /// the config asked for port 0).
    pub addr: SocketAddr,
    /// The address the admin listener is bound to.
    pub admin_addr: SocketAddr,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    /// The admin listener stops last, so `/-/readyz` can say "not ready"
    /// for the whole drain.
    admin_stop: CancellationToken,
    admin_task: JoinHandle<()>,
    grace: Duration,
}

impl RunningServer {
    /// Turns unready, stops accepting webhooks, lets requests in progress
    /// finish, gives background forwards the grace period, and only then
    /// closes the admin listener: `/-/readyz` answers 503 throughout.
    pub async fn shutdown(self) {
        self.app.shutting_down.store(true, Ordering::Relaxed);
        self.shutdown.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
        let left = self.app.delivery.drain(self.grace).await;
        if left > 0 {
            tracing::warn!(forwards = left, "shutdown: forwards still running were abandoned");
        }
        self.admin_stop.cancel();
        let _ = self.admin_task.await;
    }
}

/// Loads the config, binds both listeners and starts serving.
pub async fn start(options: ServeOptions) -> Result<RunningServer, StartError> {
    // Once per process; every later server shares the recorder.
    crate::observe::exporter::install();
    let resources = Arc::new(Resources::new()?);
    // Compiling is CPU-bound (see reload): off the runtime's workers, as
    // every reload does it.
    let (path, loader_resources) = (options.config_path.clone(), resources.clone());
    let loaded = tokio::task::spawn_blocking(move || crate::settings::load_file(&path, &ProcessEnv, &loader_resources))
        .await
        .unwrap_or_else(|e| Err(reload::join_failure(&options.config_path, e)))?;
    let settings = loaded.settings.clone();
    if loaded.snapshot.routes.is_empty() {
        tracing::warn!("{}", crate::lint::NO_ROUTES);
    }
    let listen = options.listen.unwrap_or(settings.listen);
    let admin_listen = options.admin_listen.unwrap_or(settings.admin_listen);
    // `check` refuses this for the file's admin_listen; --admin-listen too.
    if let Some(message) = crate::guard::admin_exposure(admin_listen, settings.security.admin_token.as_ref()) {
        return Err(StartError::InsecureAdmin(message));
    }
    let route_count = loaded.snapshot.routes.len();
    let bind = |addr: SocketAddr| async move {
        TcpListener::bind(addr).await.map_err(|error| StartError::Bind { addr, error })
    };
    let public = bind(listen).await?;
    let admin = bind(admin_listen).await?;
    let addr = public.local_addr().map_err(|error| StartError::Bind { addr: listen, error })?;
    let admin_addr = admin.local_addr().map_err(|error| StartError::Bind { addr: admin_listen, error })?;

    let default_grace = options.limits.shutdown_grace;
    let started = Started {
        addr,
        admin_addr,
        listen_override: options.listen,
        admin_listen_override: options.admin_listen,
        delivery: StartOnly::applied(&settings.delivery, options.data_dir.as_deref(), default_grace),
        data_dir_override: options.data_dir.clone(),
        default_grace,
    };
    let grace = started.delivery.shutdown_grace;
    let reloader = Reloader::new(options.config_path.clone());
    let app = Arc::new(App::new(loaded, resources, reloader, started, options.limits.clone()));
    // Open the queue (resuming pending jobs) before anything is accepted.
    let needs_store = app.snapshot().needs_store();
    app.delivery().start(&settings.delivery, options.data_dir.clone(), needs_store).await?;
    metrics::gauge!(crate::metrics::CONFIG_LAST_SUCCESS).set(crate::reload::unix_now());
    let shutdown = CancellationToken::new();
    if options.watch {
        if let Err(e) = reload::spawn_watcher(app.clone(), shutdown.clone()) {
            tracing::warn!("cannot watch the config directory ({e}); reload with SIGHUP or POST /-/reload");
        }
    }
    reload::spawn_sighup(app.clone(), shutdown.clone());
    let tasks = vec![tokio::spawn(server::listener::serve(
        public,
        server::ingress::filter(app.clone()),
        app.limits.public.subscribe(),
        shutdown.clone(),
    ))];
    let admin_stop = CancellationToken::new();
    let admin_task = tokio::spawn(server::listener::serve(
        admin,
        server::admin_auth::protect(app.clone(), server::admin::filter(app.clone())),
        app.limits.admin.subscribe(),
        admin_stop.clone(),
    ));
    tracing::info!(routes = route_count, "listening on {addr} (admin on {admin_addr})");
    Ok(RunningServer { app, addr, admin_addr, shutdown, tasks, admin_stop, admin_task, grace })
}
