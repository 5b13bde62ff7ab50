//! Running the real `switchyard serve` binary for a test.
#![allow(dead_code, reason = "each test binary uses part of the helpers")]

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

/// A running gateway process and its files.
pub struct Served {
    /// The process (stop it with SIGTERM and wait).
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The test's own directory (config, ledger, log).
    pub dir: PathBuf,
    /// The SQLite ledger file that `{LEDGER}` in the config stood for.
    pub ledger: PathBuf,
    /// stdout and stderr of the process.
    pub log: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Write `config` (with `{LEDGER}` replaced by a ledger path) into a fresh directory, start
/// `switchyard serve` on a free port with `env`, and wait until `/healthz` answers.
pub async fn serve(name: &str, config: &str, env: &[(&str, &str)]) -> Served {
    let dir =
        std::env::temp_dir().join(format!("sy-{name}-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    let ledger = dir.join("ledger.db");
    let cfg = dir.join("switchyard.toml");
    std::fs::write(
        &cfg,
        config.replace("{LEDGER}", &ledger.display().to_string()),
    )
    .unwrap();
    let log = dir.join("gateway.log");
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args([
            "serve",
            "--config",
            cfg.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .envs(env.iter().copied())
        .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
        .stderr(Stdio::from(
            std::fs::File::options().append(true).open(&log).unwrap(),
        ))
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Served {
        child,
        base,
        dir,
        ledger,
        log,
    }
}
