//! The `hookroute` binary: parse arguments, set up logging, call the library.

mod cli;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use cli::{Cli, Command, LogFormat};
use hookroute::actions::Resources;
use hookroute::app::{self, ServeOptions, StartError};
use hookroute::config::interpolate::ProcessEnv;
use hookroute::observe::log_writer::{FlushGuard, LogWriter};

/// mimalloc instead of glibc's malloc. Decoding a webhook's JSON allocates a
/// string or a map for nearly every key and value, and under glibc malloc,
/// free and their consolidation were about a third of all instructions per
/// request; mimalloc cuts the total by a quarter (bench/PROFILE.md). Only the
/// binary sets it: the library leaves the choice to whoever embeds it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Dropped last, when main returns: flushes the log lines still queued.
    let _log_flush = match init_logging(&cli) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("error: cannot start the log writer thread: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Check(args) => check(&args.config),
            Command::Serve(args) => serve(args).await,
            Command::Explain(args) => Ok(print_or_fail(hookroute::explain::command::run(&args))),
            Command::Test(args) => Ok(route_tests(&args)),
            Command::Schema => {
                print!("{}", hookroute::schema::routes_schema());
                Ok(ExitCode::SUCCESS)
            }
            Command::Deliveries(args) => Ok(hookroute::delivery::command::run(args).await?),
            Command::Health(args) => Ok(health(&args).await),
            Command::Alerts(args) => Ok(print_or_fail(hookroute::alerts::command::run(&args))),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn check(path: &std::path::Path) -> anyhow::Result<ExitCode> {
    let resources = Resources::new()?;
    // Warnings (routes that can never be taken) are printed but do not fail.
    if let Ok(config) = hookroute::config::load_file(path, &ProcessEnv) {
        for w in hookroute::lint::warnings(&config) {
            eprintln!("{}", hookroute::lint::format(&config.source_name, &w));
        }
        // The file as written, for the templates in it (the decoded routes
        // keep them in many shapes); unreadable now means no warnings.
        let root = std::fs::read_to_string(path).ok().and_then(|t| serde_yaml::from_str(&t).ok());
        for w in root.map(|root| hookroute::lint::template_warnings(&config, &root)).unwrap_or_default() {
            eprintln!("{}", hookroute::lint::format(&config.source_name, &w));
        }
    }
    match hookroute::settings::load_file(path, &ProcessEnv, &resources) {
        Ok(loaded) => {
            let n = loaded.snapshot.routes.len();
            println!("ok: {n} route{}", if n == 1 { "" } else { "s" });
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            eprintln!("{errors}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `hookroute health`: one line on stdout when ready, on stderr when not.
async fn health(args: &hookroute::health::HealthArgs) -> ExitCode {
    match hookroute::health::run(args).await {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// A command that prints text: the text on stdout and exit 0, or its error
/// on stderr and exit 1 (`hookroute alerts`, `hookroute explain`).
fn print_or_fail<E: std::fmt::Display>(result: Result<String, E>) -> ExitCode {
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// `hookroute test`: a line per test on stdout; exit 1 when any fails.
fn route_tests(args: &hookroute::routetest::command::TestArgs) -> ExitCode {
    match hookroute::routetest::command::execute(args) {
        Ok((report, passed)) => {
            print!("{report}");
            if passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: cli::ServeArgs) -> anyhow::Result<ExitCode> {
    let options = ServeOptions {
        config_path: args.config.config,
        listen: args.listen,
        admin_listen: args.admin_listen,
        watch: !args.no_watch,
        data_dir: args.data_dir,
        ..Default::default()
    };
    let server = match app::start(options).await {
        Ok(s) => s,
        Err(StartError::Config(errors)) => {
            eprintln!("{errors}");
            eprintln!("error: the config has problems; not starting");
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e.into()),
    };
    shutdown_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn init_logging(cli: &Cli) -> std::io::Result<FlushGuard> {
    use tracing_subscriber::EnvFilter;
    let filter = match &cli.log_level {
        Some(level) => EnvFilter::new(level),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let json = match cli.log_format {
        Some(LogFormat::Json) => true,
        Some(LogFormat::Pretty) => false,
        None => !std::io::stdout().is_terminal(),
    };
    let (writer, guard) = stdout_log_writer()?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    if json {
        builder.event_format(hookroute::observe::json_lines::JsonLines).init();
    } else {
        builder.init();
    }
    Ok(guard)
}

/// Log lines go to stdout in batches from a writer thread; see
/// [`hookroute::observe::log_writer`] for why. The thread writes to its own
/// handle on stdout, so its batches do not pass through std's line buffer.
fn stdout_log_writer() -> std::io::Result<(LogWriter, FlushGuard)> {
    use std::io::Write;
    use std::os::fd::AsFd;
    let stdout: Box<dyn Write + Send> = match std::io::stdout().as_fd().try_clone_to_owned() {
        Ok(fd) => Box::new(std::fs::File::from(fd)),
        Err(_) => Box::new(std::io::stdout()),
    };
    LogWriter::spawn("hookroute-log", stdout)
}
