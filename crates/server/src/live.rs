//! The live state: the current config snapshot, swapped atomically on reload, and the
//! simulator embedded in the process when the config uses one.

use std::{collections::HashMap, path::PathBuf, sync::Arc};

use arc_swap::ArcSwap;
use secrecy::SecretString;
use switchyard_core::{ConfigError, Snapshot, snapshot_provider};
use switchyard_providers::{AnyProvider, ProviderConfig, ProviderKind};
use switchyard_sim::{Sim, SimConfig};
use tokio::sync::Mutex;

use crate::config::{self, Config};

/// Looks up a secret (an environment variable) by name. Only the binary reads the environment.
pub type SecretLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Shared handle to the gateway's state.
pub type GatewayHandle = Arc<Gateway>;

/// The gateway's live state.
pub struct Gateway {
    snapshot: ArcSwap<Snapshot>,
    config: ArcSwap<Config>,
    path: Option<PathBuf>,
    secrets: SecretLookup,
    sim: Mutex<Option<Sim>>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").field("path", &self.path).finish()
    }
}

impl Gateway {
    /// Build the live state from a validated config. `path` is where reloads read from.
    pub async fn start(
        cfg: Config,
        path: Option<PathBuf>,
        secrets: SecretLookup,
    ) -> Result<GatewayHandle, Vec<ConfigError>> {
        let sim = Mutex::new(None);
        let sim_url = embedded_sim_url(&cfg, &sim).await?;
        let snap = build_snapshot(&cfg, &secrets, sim_url.as_deref())?;
        Ok(Arc::new(Gateway {
            snapshot: ArcSwap::from_pointee(snap),
            config: ArcSwap::from_pointee(cfg),
            path,
            secrets,
            sim,
        }))
    }

    /// The current snapshot; take it once per request.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// The current config.
    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    /// Base URL of the embedded simulator, if one runs.
    pub async fn sim_url(&self) -> Option<String> {
        self.sim.lock().await.as_ref().map(Sim::base_url)
    }

    /// Re-read the config file; on any error the running config keeps serving.
    pub async fn reload(&self) -> Result<(), Vec<ConfigError>> {
        let Some(path) = &self.path else {
            return Err(vec![ConfigError::new("config", "running on the embedded config; nothing to reload")]);
        };
        let cfg = config::load(path)?;
        let sim_url = embedded_sim_url(&cfg, &self.sim).await?;
        let snap = build_snapshot(&cfg, &self.secrets, sim_url.as_deref())?;
        self.snapshot.store(Arc::new(snap));
        self.config.store(Arc::new(cfg));
        Ok(())
    }

    /// Stop the embedded simulator, if any.
    pub async fn shutdown(&self) {
        if let Some(sim) = self.sim.lock().await.take() {
            sim.shutdown().await;
        }
    }
}

/// Start the embedded simulator if a `sim` provider has no `base_url`; reuse it on reload.
async fn embedded_sim_url(cfg: &Config, sim: &Mutex<Option<Sim>>) -> Result<Option<String>, Vec<ConfigError>> {
    let wanted = cfg.providers.iter().any(|p| p.kind == ProviderKind::Sim && p.base_url.is_none());
    if !wanted {
        return Ok(None);
    }
    let mut guard = sim.lock().await;
    if guard.is_none() {
        let started = Sim::start(SimConfig::demo())
            .await
            .map_err(|e| vec![ConfigError::new("providers", format!("start the embedded simulator: {e}"))])?;
        *guard = Some(started);
    }
    Ok(guard.as_ref().map(Sim::base_url))
}

/// Validate a config as `serve` would, without starting anything.
pub fn check(cfg: &Config, secrets: &SecretLookup) -> Result<Snapshot, Vec<ConfigError>> {
    build_snapshot(cfg, secrets, Some("http://127.0.0.1:0/v1"))
}

/// Resolve providers (keys, URLs, clients) and let the core validate the rest.
pub(crate) fn build_snapshot(
    cfg: &Config,
    secrets: &SecretLookup,
    sim_url: Option<&str>,
) -> Result<Snapshot, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut providers = HashMap::new();
    for (i, p) in cfg.providers.iter().enumerate() {
        let base_url = match (&p.base_url, p.kind) {
            (Some(u), _) => u.clone(),
            (None, ProviderKind::Sim) => sim_url.unwrap_or_default().to_owned(),
            (None, kind) => kind.default_base_url().unwrap_or_default().to_owned(),
        };
        let api_key = match &p.api_key_env {
            Some(var) => match secrets(var) {
                Some(v) => Some(SecretString::from(v)),
                None => {
                    errors.push(ConfigError::new(
                        format!("providers[{i}].api_key_env"),
                        format!("environment variable `{var}` is not set"),
                    ));
                    continue;
                }
            },
            None => None,
        };
        let pc = ProviderConfig { name: p.name.clone(), kind: p.kind, base_url, api_key, timeouts: p.timeouts };
        match AnyProvider::new(pc) {
            Ok(adapter) => {
                providers.insert(p.name.clone(), snapshot_provider(Arc::new(adapter), p.kind, p.timeouts));
            }
            Err(e) => errors.push(ConfigError::new(format!("providers[{i}].kind"), e.message)),
        }
    }
    match Snapshot::build(&cfg.models, &cfg.routes, &cfg.routing, &providers) {
        Ok(s) if errors.is_empty() => Ok(s),
        Ok(_) => Err(errors),
        Err(mut more) => {
            errors.append(&mut more);
            Err(errors)
        }
    }
}
