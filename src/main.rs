//! The `hookroute` binary: parse arguments, set up logging, call the
//! library, and print every error one way (`hookroute: error: …`).

mod cli;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use cli::problems::Problems;
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
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    // Dropped last, when main returns: flushes the log lines still queued.
    let _log_flush = match init_logging(&cli) {
        Ok(guard) => guard,
        Err(e) => return fail(&anyhow::anyhow!("cannot start the log writer thread: {e}")),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(&anyhow::anyhow!("cannot start the async runtime: {e}")),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Check(args) => check(&args.config),
            Command::Serve(args) => serve(args).await,
            Command::Explain(args) => cli::explain::run(&args),
            Command::Test(args) => cli::test::run(&args),
            Command::Schema => {
                print!("{}", hookroute::schema::routes_schema());
                Ok(ExitCode::SUCCESS)
            }
            Command::Deliveries(args) => cli::deliveries::run(args).await,
            Command::Health(args) => cli::health::run(&args).await,
            Command::Preview(args) => cli::preview::run(&args).await,
            Command::Alerts(args) => cli::alerts::run(&args),
        }
    });
    result.unwrap_or_else(|e| fail(&e))
}

/// Every error the binary prints, printed one way: located problems first
/// when the error carries them (as `check` lists them), then one line
/// `hookroute: error: …`. Exit 1. Only the top message is printed: the
/// library's errors hold their cause in it.
fn fail(e: &anyhow::Error) -> ExitCode {
    if let Some(problems) = e.downcast_ref::<Problems>() {
        eprintln!("{}", problems.listing);
    }
    eprintln!("hookroute: error: {e}");
    ExitCode::FAILURE
}

/// clap's own messages (help and version on stdout; a usage mistake on
/// stderr with exit 2), with a mistake under the same prefix as every other
/// error.
fn usage_error(e: &clap::Error) -> ExitCode {
    if e.use_stderr() {
        // clap writes "error: …"; plain text, without its colours.
        eprint!("hookroute: {}", e.render());
    } else {
        let _ = e.print();
    }
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
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
    // The problems are `check`'s answer, not an error of the binary: they
    // are printed alone, as the docs show.
    match hookroute::settings::load_file(path, &ProcessEnv, &resources) {
        Ok(loaded) => {
            let n = loaded.snapshot.route_count();
            println!("ok: {n} route{}", if n == 1 { "" } else { "s" });
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            eprintln!("{errors}");
            Ok(ExitCode::FAILURE)
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
            return Err(Problems::new(errors, "the config has problems; not starting").into())
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
