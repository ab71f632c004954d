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
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::interpolate::ProcessEnv;
use crate::config::ConfigErrors;
use crate::delivery::settings::StartOnly;
use crate::delivery::{Delivery, DeliverySettings};
use crate::pipeline::Resources;
use crate::reload::{self, Reloader};
use crate::router::{load_snapshot, Snapshot};
use crate::server::{self, ConnectionLimits};

/// Shared state of a running server.
pub struct App {
    snapshot: ArcSwap<Snapshot>,
    resources: Arc<Resources>,
    delivery: Delivery,
    shutting_down: AtomicBool,
    reloader: Reloader,
    /// What the listeners are bound to, and whether the command line fixed
    /// them (then a changed `listen:` is not a restart warning).
    bound: Bound,
    delivery_start: DeliveryStart,
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

impl Limits {
    fn new(base: ConnectionLimits, security: &crate::guard::SecuritySettings) -> Self {
        let (public, admin) = Limits::of(&base, security);
        Limits { base, public: tokio::sync::watch::Sender::new(public), admin: tokio::sync::watch::Sender::new(admin) }
    }

    /// The public and the admin listener's limits under `security`. The
    /// admin listener has no request cap, so health checks answer under a
    /// flood.
    fn of(base: &ConnectionLimits, security: &crate::guard::SecuritySettings) -> (ConnectionLimits, ConnectionLimits) {
        let public = security.connection_limits(base);
        let admin = ConnectionLimits { max_concurrent_requests: None, ..public.clone() };
        (public, admin)
    }
}

/// The delivery settings read only at start, as applied, and what applied
/// them, so a reloaded file can be read the same way and compared.
#[derive(Debug, Clone)]
struct DeliveryStart {
    applied: StartOnly,
    data_dir_override: Option<PathBuf>,
    default_grace: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Bound {
    addr: SocketAddr,
    admin_addr: SocketAddr,
    listen_override: Option<SocketAddr>,
    admin_listen_override: Option<SocketAddr>,
}

impl App {
    fn new(
        snapshot: Snapshot,
        resources: Arc<Resources>,
        reloader: Reloader,
        bound: Bound,
        delivery_start: DeliveryStart,
        base_limits: ConnectionLimits,
    ) -> Self {
        let delivery = Delivery::new(resources.http.clone());
        let limits = Limits::new(base_limits, &snapshot.security);
        App {
            limits,
            snapshot: ArcSwap::from_pointee(snapshot),
            resources,
            delivery,
            shutting_down: AtomicBool::new(false),
            reloader,
            bound,
            delivery_start,
        }
    }

    pub fn reloader(&self) -> &Reloader {
        &self.reloader
    }

    /// The resources, to hand to a snapshot being compiled off-thread.
    pub fn resources_handle(&self) -> Arc<Resources> {
        self.resources.clone()
    }

    pub fn bound_addr(&self) -> SocketAddr {
        self.bound.addr
    }

    pub fn bound_admin_addr(&self) -> SocketAddr {
        self.bound.admin_addr
    }

    pub fn listen_override(&self) -> Option<SocketAddr> {
        self.bound.listen_override
    }

    pub fn admin_listen_override(&self) -> Option<SocketAddr> {
        self.bound.admin_listen_override
    }

    /// One warning per start-only delivery setting (`data_dir`,
    /// `shutdown_grace`, `retention`, `destinations`) that `next` sets
    /// differently from what this process runs with.
    pub fn delivery_restart_required(&self, next: &DeliverySettings) -> Vec<String> {
        let start = &self.delivery_start;
        let wanted = StartOnly::applied(next, start.data_dir_override.as_deref(), start.default_grace);
        start.applied.restart_required(&wanted)
    }

    /// The active snapshot; hold it for the whole request.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Makes `next` the active snapshot, and its listener limits the
    /// listeners'. Requests already running keep the snapshot they hold.
    pub fn swap(&self, next: Snapshot) -> Arc<Snapshot> {
        let (public, admin) = Limits::of(&self.limits.base, &next.security);
        // Sent only when different, so an unchanged reload rebuilds nothing.
        self.limits.public.send_if_modified(|held| std::mem::replace(held, public.clone()) != public);
        self.limits.admin.send_if_modified(|held| std::mem::replace(held, admin.clone()) != admin);
        self.snapshot.swap(Arc::new(next))
    }

    pub fn resources(&self) -> &Resources {
        &self.resources
    }

    pub fn delivery(&self) -> &Delivery {
        &self.delivery
    }

    /// Ready: a config is loaded (always, once started), the delivery store
    /// is open, and shutdown has not begun.
    pub fn is_ready(&self) -> bool {
        !self.shutting_down.load(Ordering::Relaxed) && self.delivery.is_open()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// The cause is in the message, not a `source`: printed with its
    /// chain (`{:#}`), it would read "…: Address already in use: Address
    /// already in use".
    #[error("cannot listen on {addr}: {error}")]
    Bind { addr: SocketAddr, error: std::io::Error },
    #[error("cannot create the HTTP client: {0}")]
    Client(#[from] crate::upstream::SetupError),
    #[error("{0}")]
    InsecureAdmin(String),
    #[error("{0}")]
    Delivery(#[from] crate::delivery::StoreError),
}

/// How to start the server.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    pub config_path: PathBuf,
    /// Overrides the config's `listen`.
    pub listen: Option<SocketAddr>,
    /// Overrides the config's `admin_listen`.
    pub admin_listen: Option<SocketAddr>,
    pub limits: ConnectionLimits,
    /// Watch the config's directory and reload on change (`--no-watch` turns
    /// it off; SIGHUP and `POST /-/reload` always work).
    pub watch: bool,
    /// Overrides the config's `data_dir` (the delivery queue).
    pub data_dir: Option<PathBuf>,
}

/// A started server.
pub struct RunningServer {
    pub app: Arc<App>,
    pub addr: SocketAddr,
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
    let snapshot = tokio::task::spawn_blocking(move || load_snapshot(&path, &ProcessEnv, &loader_resources))
        .await
        .unwrap_or_else(|e| Err(reload::join_failure(&options.config_path, e)))?;
    if snapshot.routes.is_empty() {
        tracing::warn!("{}", crate::lint::NO_ROUTES);
    }
    let listen = options.listen.unwrap_or(snapshot.listen);
    let admin_listen = options.admin_listen.unwrap_or(snapshot.admin_listen);
    // `check` refuses this for the file's admin_listen; --admin-listen too.
    if let Some(message) = crate::guard::admin_exposure(admin_listen, snapshot.security.admin_token.as_ref()) {
        return Err(StartError::InsecureAdmin(message));
    }
    let route_count = snapshot.routes.len();
    let bind = |addr: SocketAddr| async move {
        TcpListener::bind(addr).await.map_err(|error| StartError::Bind { addr, error })
    };
    let public = bind(listen).await?;
    let admin = bind(admin_listen).await?;
    let addr = public.local_addr().map_err(|error| StartError::Bind { addr: listen, error })?;
    let admin_addr = admin.local_addr().map_err(|error| StartError::Bind { addr: admin_listen, error })?;

    let bound =
        Bound { addr, admin_addr, listen_override: options.listen, admin_listen_override: options.admin_listen };
    let delivery_settings = snapshot.delivery.clone();
    let default_grace = options.limits.shutdown_grace;
    let delivery_start = DeliveryStart {
        applied: StartOnly::applied(&delivery_settings, options.data_dir.as_deref(), default_grace),
        data_dir_override: options.data_dir.clone(),
        default_grace,
    };
    let grace = delivery_start.applied.shutdown_grace;
    let reloader = Reloader::new(options.config_path.clone());
    let app = Arc::new(App::new(snapshot, resources, reloader, bound, delivery_start, options.limits.clone()));
    // Open the queue (resuming pending jobs) before anything is accepted.
    let needs_store = app.snapshot().needs_store();
    app.delivery().start(&delivery_settings, options.data_dir.clone(), needs_store).await?;
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
