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
        None => match keyed_config(&secrets) {
            Some((cfg, vendors)) => {
                tracing::warn!(providers = %vendors.join(", "), "no config given: serving the providers whose API keys are set, with a default route `auto` (cheapest; reasoning and code to the premium models). Write a switchyard.toml to choose your own.");
                cfg
            }
            None => {
                tracing::warn!("no config given, no ./switchyard.toml and no provider keys: starting the EMBEDDED DEMO SETUP (simulated providers, no real LLM is called)");
                config::embedded()
            }
        },
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
    let _audits = switchyard_server::spawn_audits(&gw);
    app::serve(listener, gw.clone(), shutdown_signal())
        .await
        .context("serve HTTP")?;
    gw.shutdown().await;
    tracing::info!("switchyard stopped");
    Ok(())
}

/// Vendors a config-less `serve` uses when their key is set: (provider kind, key variable,
/// basic model, premium model).
const KEYED: &[(&str, &str, &str, &str)] = &[
    ("openai", "OPENAI_API_KEY", "gpt-4o-mini", "gpt-4o"),
    (
        "anthropic",
        "ANTHROPIC_API_KEY",
        "claude-haiku-4-5",
        "claude-sonnet-4-5",
    ),
    (
        "gemini",
        "GEMINI_API_KEY",
        "gemini-2.5-flash",
        "gemini-2.5-pro",
    ),
];

/// A default config over the vendors whose API keys are set, if any.
fn keyed_config(secrets: &SecretLookup) -> Option<(config::Config, Vec<&'static str>)> {
    let present: Vec<_> = KEYED
        .iter()
        .filter(|(_, var, _, _)| secrets(var).is_some())
        .collect();
    if present.is_empty() {
        return None;
    }
    let mut toml = String::from("[routing]\ndefault = \"auto\"\n");
    toml.push_str(&format!("baseline = \"{}\"\n", present[0].3));
    let (mut all, mut premium) = (Vec::new(), Vec::new());
    for (kind, var, basic, top) in &present {
        toml.push_str(&format!(
            "[[providers]]\nname = \"{kind}\"\nkind = \"{kind}\"\napi_key_env = \"{var}\"\n"
        ));
        for (model, tier) in [(basic, "basic"), (top, "premium")] {
            toml.push_str(&format!(
                "[[models]]\nname = \"{model}\"\nprovider = \"{kind}\"\ntier = \"{tier}\"\n"
            ));
            all.push(format!("\"{model}\""));
        }
        premium.push(format!("\"{top}\""));
    }
    toml.push_str(&format!(
        "[[routes]]\nname = \"auto\"\nstrategy = \"cheapest\"\ncandidates = [{}]\nrules = [{{ name = \"hard-tasks\", when = {{ task = [\"reasoning\", \"code\"] }}, use = [{}] }}]\n",
        all.join(", "),
        premium.join(", ")
    ));
    let cfg = config::parse(&toml).ok()?;
    Some((cfg, present.iter().map(|(k, ..)| *k).collect()))
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
                    Ok(switchyard_server::Reload::Applied) => tracing::info!("config reloaded"),
                    Ok(switchyard_server::Reload::Unchanged) => {
                        tracing::info!("SIGHUP: config file unchanged")
                    }
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn keys_in_the_environment_make_a_valid_default_config() {
        let none: SecretLookup = Arc::new(|_: &str| None);
        assert!(keyed_config(&none).is_none(), "no keys: the embedded demo");
        let some: SecretLookup = Arc::new(|v: &str| {
            matches!(v, "OPENAI_API_KEY" | "GEMINI_API_KEY").then(|| "k".to_owned())
        });
        let (cfg, vendors) = keyed_config(&some).unwrap();
        assert_eq!(vendors, ["openai", "gemini"]);
        let snap = switchyard_server::check(&cfg, &some).unwrap();
        assert_eq!(snap.deployments.len(), 4);
        assert!(
            snap.deployments.iter().all(|d| d.price.is_some()),
            "every default model is priced"
        );
        assert_eq!(snap.routes["auto"].candidates.len(), 4);
        assert_eq!(snap.deployment(snap.baseline.unwrap()).name, "gpt-4o");
    }
}
