//! `switchyard serve` and `switchyard sim`.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::Context;
use switchyard_server::{app, config, Gateway, SecretLookup};
use switchyard_sim::{Sim, SimConfig};

/// Run the gateway until SIGTERM or Ctrl-C; reload the config on SIGHUP.
pub async fn run(
    path: Option<PathBuf>,
    listen: Option<SocketAddr>,
    secrets: SecretLookup,
) -> anyhow::Result<()> {
    let path = path.or_else(|| Some(PathBuf::from("switchyard.toml")).filter(|p| p.exists()));
    let mut cfg = match &path {
        Some(p) => config::load(p).map_err(|errs| config_errors(p.display().to_string(), &errs))?,
        None => {
            tracing::warn!("no config given and no ./switchyard.toml: starting the EMBEDDED DEMO SETUP (simulated providers, no real LLM is called)");
            config::embedded()
        }
    };
    if let Some(l) = listen {
        cfg.server.listen = l;
    }
    let addr = cfg.server.listen;
    let gw = Gateway::start(cfg, path.clone(), secrets)
        .await
        .map_err(|errs| config_errors("config".into(), &errs))?;
    if let Some(url) = gw.sim_url().await {
        tracing::warn!(sim = %url, "the embedded simulator is serving the `sim` provider");
    }
    let listener = app::bind(addr)
        .await
        .with_context(|| format!("bind {addr}"))?;
    tracing::info!(addr = %listener.local_addr()?, "switchyard gateway listening");
    spawn_reload_on_sighup(gw.clone());
    let _watcher = switchyard_server::watch_config(&gw);
    app::serve(listener, gw.clone(), shutdown_signal())
        .await
        .context("serve HTTP")?;
    gw.shutdown().await;
    tracing::info!("switchyard stopped");
    Ok(())
}

/// Run the simulator until Ctrl-C / SIGTERM.
pub async fn run_sim(path: Option<PathBuf>, listen: Option<SocketAddr>) -> anyhow::Result<()> {
    let mut cfg = match &path {
        Some(p) => {
            SimConfig::load(p).with_context(|| format!("load simulator config {}", p.display()))?
        }
        None => SimConfig::demo(),
    };
    if let Some(l) = listen {
        cfg.listen = Some(l);
    } else if path.is_none() {
        cfg.listen = Some(SocketAddr::from(([127, 0, 0, 1], 9090)));
    }
    let sim = Sim::start(cfg).await.context("start the simulator")?;
    tracing::info!(base_url = %sim.base_url(), "switchyard simulator listening");
    shutdown_signal().await;
    sim.shutdown().await;
    Ok(())
}

fn config_errors(what: String, errs: &[switchyard_core::ConfigError]) -> anyhow::Error {
    let list: Vec<String> = errs.iter().map(|e| format!("  {e}")).collect();
    anyhow::anyhow!(
        "invalid {what} ({} problem(s)):\n{}",
        errs.len(),
        list.join("\n")
    )
}

fn spawn_reload_on_sighup(gw: switchyard_server::GatewayHandle) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; config reload disabled");
            return;
        };
        // The task lives as long as the process; it holds no resources that need a flush.
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                match gw.reload().await {
                    Ok(()) => tracing::info!("config reloaded"),
                    Err(errs) => {
                        for e in &errs {
                            tracing::error!(error = %e, "config reload rejected; the running config keeps serving");
                        }
                    }
                }
            }
        });
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: draining in-flight requests");
}
