//! The `switchyard` binary: argument parsing, logging setup, and dispatch to the commands.
//! The only place that reads argv or the environment, or decides the exit code.

mod audit;
mod check;
mod demo;
mod keys;
mod prices;
mod replay;
mod report;
mod router;
mod serve;

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, sync::Arc};

use clap::{Parser, Subcommand};

/// switchyard: a self-hosted LLM gateway that sends each request to the cheapest model that
/// can handle it, survives provider failures, and accounts for every cent.
#[derive(Debug, Parser)]
#[command(name = "switchyard", version, about)]
struct Cli {
    /// Log as JSON lines instead of text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the gateway. Without a config it runs the embedded demo setup (simulator in-process).
    Serve {
        /// Config file (default: ./switchyard.toml if present, else the embedded demo setup).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Override `[server] listen`.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Serve simulated providers (OpenAI wire format) with scripted latency and faults.
    Sim {
        /// Simulator config (TOML); default: the demo models.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Override the listen address.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Run the embedded demo: simulator + gateway in-process and a mixed workload.
    Demo {
        /// Number of requests to send.
        #[arg(long, default_value_t = 200)]
        requests: usize,
    },
    /// Validate a config and print the resolved routing table.
    CheckConfig {
        /// The config file.
        file: PathBuf,
    },
    /// Spend, savings vs baseline, success and latency from the ledger.
    Report(report::ReportArgs),
    /// Price catalog tools.
    #[command(subcommand)]
    Prices(prices::PricesCmd),
    /// Train the learned router on RouteLLM's benchmark data and write the model file.
    TrainRouter(router::TrainRouterArgs),
    /// Re-decide logged traffic under another config or price catalog (no provider called):
    /// projected cost, savings, model mix and quality.
    Replay(replay::ReplayArgs),
    /// Routing assumptions gone stale: prices, deprecations, effective cost, rules, task mix.
    Audit(audit::AuditArgs),
    /// Gateway keys (tenants): create, list, revoke.
    #[command(subcommand)]
    Keys(keys::KeysCmd),
    /// Compare routing policies (learned, quality-floor, cascade, random, oracle) on held-out data.
    BenchRouter(router::BenchRouterArgs),
}

/// jemalloc rather than glibc's malloc, measured on the load benchmark (docs/benchmarks.md,
/// "Allocator"): ~25% more closed-loop throughput for the same idle memory. mimalloc was
/// faster still but idled at 48 MB resident (glibc 25, jemalloc 30).
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo prints its own report; keep the per-request log lines out of it unless asked.
    let default_level = if matches!(cli.cmd, Cmd::Demo { .. }) {
        "warn"
    } else {
        "info"
    };
    let log = init_tracing(cli.log_json, default_level);
    let result = match cli.cmd {
        Cmd::Serve { config, listen } => {
            runtime().and_then(|rt| rt.block_on(serve::run(config, listen, secrets())))
        }
        Cmd::Sim { config, listen } => {
            runtime().and_then(|rt| rt.block_on(serve::run_sim(config, listen)))
        }
        Cmd::Demo { requests } => runtime().and_then(|rt| rt.block_on(demo::run(requests))),
        Cmd::CheckConfig { file } => check::run(&file, secrets()),
        Cmd::Prices(cmd) => prices::run(cmd),
        Cmd::Report(args) => runtime().and_then(|rt| rt.block_on(report::run(args))),
        Cmd::TrainRouter(args) => router::train(args),
        Cmd::Replay(args) => runtime().and_then(|rt| rt.block_on(replay::run(args))),
        Cmd::Audit(args) => runtime().and_then(|rt| rt.block_on(audit::run(args))),
        Cmd::Keys(cmd) => runtime().and_then(|rt| rt.block_on(keys::run(cmd))),
        Cmd::BenchRouter(args) => router::bench(args),
    };
    // Every queued log line is written before the result.
    drop(log);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchyard: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Provider keys come from the environment, by the variable names the config gives.
fn secrets() -> switchyard_server::SecretLookup {
    Arc::new(|name: &str| std::env::var(name).ok().filter(|v| !v.is_empty()))
}

/// Log lines go to stderr from a thread of their own: a request's log line is queued, never
/// written on the request path (a slow or full stderr would stall the worker serving it), and
/// lines queued together are written in one system call. When the queue (128k lines) is full,
/// lines are dropped rather than requests slowed. The guard flushes the queue when dropped.
fn init_tracing(json: bool, default_level: &str) -> tracing_appender::non_blocking::WorkerGuard {
    use tracing_subscriber::{fmt, EnvFilter};
    let filter = EnvFilter::try_from_env("SWITCHYARD_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new(default_level))
        // PostgreSQL's notices (e.g. "relation already exists, skipping" on every start's
        // migration check) are not the operator's news; warnings and errors still show.
        .add_directive(
            "sqlx::postgres::notice=warn"
                .parse()
                .unwrap_or_else(|_| tracing::Level::WARN.into()),
        );
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .thread_name("switchyard-log")
        .finish(std::io::BufWriter::new(std::io::stderr()));
    let builder = fmt().with_env_filter(filter).with_writer(writer);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
    guard
}
