//! The live state: the current config snapshot, swapped atomically on reload, and the
//! simulator embedded in the process when the config uses one.

use std::{collections::HashMap, path::PathBuf, sync::Arc};

use arc_swap::ArcSwap;
use secrecy::SecretString;
use switchyard_core::{
    snapshot_provider, stats::StatsRegistry, ConfigError, Snapshot, SnapshotInputs,
};
use switchyard_pricing::Catalog;
use switchyard_providers::{AnyProvider, ProviderConfig, ProviderKind};
use switchyard_sim::{Sim, SimConfig};
use switchyard_store::{Ledger, LedgerConfig};
use tokio::sync::Mutex;

use crate::config::{self, Config, ProviderSection};

/// Provider adapters by provider name, with the settings they were built from: a reload reuses
/// the adapter (and its connection pool) of every provider whose settings did not change.
type Adapters = HashMap<String, (ProviderSection, String, Arc<AnyProvider>)>;

/// What a reload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// The file changed and its new config is now serving.
    Applied,
    /// The file's content is what is already serving: nothing was rebuilt.
    Unchanged,
}

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
    stats: Arc<StatsRegistry>,
    ledger: Option<Ledger>,
    /// The ledger's URL, when there is one.
    ledger_url: Option<String>,
    /// The trace exporter, when `[telemetry]` is on.
    traces: Option<Arc<crate::telemetry::Exporter>>,
    /// A reading (and feedback-writing) connection to the ledger, opened on first use.
    reader: tokio::sync::OnceCell<switchyard_store::LedgerReader>,
    sink: Arc<dyn switchyard_core::Sink>,
    adapters: std::sync::Mutex<Adapters>,
    /// Hash of the config file's text in force, to tell a real change from a touch.
    loaded: std::sync::Mutex<Option<u64>>,
    reloads: std::sync::atomic::AtomicU64,
    /// The latest audit.
    audit: ArcSwap<Option<Arc<crate::audit::Audit>>>,
    /// Gateway keys in force (reloaded from the ledger's database).
    keys: crate::keys::Keys,
    /// The admin token, when `[server] admin_token_env` names a set variable.
    admin_token: Option<SecretString>,
    /// Per-key limits and budgets (shared through Redis with `[state]`).
    admission: Arc<dyn switchyard_core::admission::Admission>,
    /// The response cache (in Redis with `[state] url`, else in process).
    answers: Arc<dyn switchyard_core::cache::AnswerCache>,
    /// The link to Redis that shared counts, circuits and quality sync over every second
    /// (its reachability is what `/admin/health` reports).
    shared_state: Option<Arc<crate::limits::Shared>>,
    /// Set by [`Gateway::shutdown`]: background work stops taking new work.
    stopping: std::sync::atomic::AtomicBool,
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
        let stats = Arc::new(StatsRegistry::default());
        let sim_url = embedded_sim_url(&cfg, &sim).await?;
        let mut adapters = Adapters::new();
        let snap = build_snapshot(&cfg, &secrets, sim_url.as_deref(), &stats, &mut adapters)?;
        let loaded = path
            .as_deref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .map(|t| content_hash(&t, &cfg));
        let (ledger, ledger_url) = match open_ledger(&cfg, path.as_deref()).await? {
            Some((ledger, url)) => {
                seed_from_ledger(url.clone(), stats.clone());
                (Some(ledger), Some(url))
            }
            None => {
                stats.quality().set_ready();
                (None, None)
            }
        };
        let traces = crate::telemetry::Exporter::start(&cfg.telemetry);
        let admin_token = match &cfg.server.admin_token_env {
            Some(var) => match secrets(var) {
                Some(t) if !t.is_empty() => Some(SecretString::from(t)),
                _ => {
                    return Err(vec![ConfigError::new(
                        "server.admin_token_env",
                        format!("the environment variable `{var}` is not set"),
                    )])
                }
            },
            None => None,
        };
        let limiter = crate::limits::Limiter::new(&cfg.state)
            .map_err(|e| vec![ConfigError::new("state.url", e)])?;
        if let Some(url) = &ledger_url {
            let seeded = match switchyard_store::LedgerReader::connect(url).await {
                Ok(reader) => limiter.seed(&reader).await,
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = seeded {
                tracing::warn!(error = %e, "could not start key budgets from the ledger's spend");
            }
        }
        let answers: Arc<dyn switchyard_core::cache::AnswerCache> = match &cfg.state.url {
            Some(url) => Arc::new(
                crate::answer_cache::RedisCache::new(url)
                    .map_err(|e| vec![ConfigError::new("state.url", e)])?,
            ),
            None => Arc::new(switchyard_core::cache::Memory::new(
                cfg.state.cache_max_bytes,
            )),
        };
        let shared_state = match &cfg.state.url {
            Some(url) => Some(Arc::new(
                crate::limits::Shared::new(url)
                    .map_err(|e| vec![ConfigError::new("state.url", e)])?,
            )),
            None => None,
        };
        let gw = Arc::new(Gateway {
            shared_state: shared_state.clone(),
            answers,
            stopping: std::sync::atomic::AtomicBool::new(false),
            admission: Arc::new(limiter),
            sink: Arc::new(crate::respond::LedgerSink {
                ledger: ledger.clone(),
                traces: traces.clone(),
            }),
            traces,
            ledger,
            ledger_url,
            reader: tokio::sync::OnceCell::new(),
            snapshot: ArcSwap::from_pointee(snap),
            config: ArcSwap::from_pointee(cfg),
            path,
            secrets,
            sim,
            stats,
            adapters: std::sync::Mutex::new(adapters),
            loaded: std::sync::Mutex::new(loaded),
            reloads: std::sync::atomic::AtomicU64::new(0),
            audit: ArcSwap::from_pointee(None),
            keys: crate::keys::Keys::default(),
            admin_token,
        });
        // The keys before the first request (an open gateway would otherwise serve anyone
        // until the first reload), then every few seconds.
        // With a ledger, a replica that cannot read the keys does not start (it would serve
        // everyone); without one there are no keys.
        if gw.ledger_url.is_some() {
            let loaded = match gw.reader().await {
                Ok(reader) => gw.keys.reload(reader, &gw.config().teams).await,
                Err(e) => Err(e),
            };
            if let Err(e) = loaded {
                return Err(vec![ConfigError::new(
                    "ledger",
                    format!("reading the gateway keys failed: {e}"),
                )]);
            }
        }
        crate::keys::spawn_refresh(&gw);
        crate::batches::spawn_worker(&gw);
        if let Some(shared) = shared_state {
            crate::counts::spawn_sync(&gw, shared);
        }
        Ok(gw)
    }

    /// Whether the shared state (Redis) answered the last periodic sync; `None` without
    /// `[state] url`.
    pub fn shared_state_up(&self) -> Option<bool> {
        self.shared_state.as_ref().map(|s| s.is_up())
    }

    /// The gateway keys in force.
    pub fn keys(&self) -> &crate::keys::Keys {
        &self.keys
    }

    /// The limiter of keys' rate limits and budgets.
    pub fn admission(&self) -> Arc<dyn switchyard_core::admission::Admission> {
        self.admission.clone()
    }

    /// Whether [`Gateway::shutdown`] has begun.
    pub fn stopping(&self) -> bool {
        self.stopping.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The response cache.
    pub fn answers(&self) -> Arc<dyn switchyard_core::cache::AnswerCache> {
        self.answers.clone()
    }

    /// The admin token, if configured.
    pub fn admin_token(&self) -> Option<SecretString> {
        self.admin_token.clone()
    }

    /// The ledger's URL, when there is a ledger.
    pub fn ledger_url(&self) -> Option<&str> {
        self.ledger_url.as_deref()
    }

    /// The current snapshot; take it once per request.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Where settled requests go (log line, metrics, ledger).
    pub fn sink(&self) -> Arc<dyn switchyard_core::Sink> {
        self.sink.clone()
    }

    /// A connection to the ledger for reads and feedback (opened on first use).
    pub async fn reader(&self) -> Result<&switchyard_store::LedgerReader, String> {
        let Some(url) = &self.ledger_url else {
            return Err("the ledger is disabled".into());
        };
        self.reader
            .get_or_try_init(|| switchyard_store::LedgerReader::connect(url))
            .await
            .map_err(|e| e.to_string())
    }

    /// [`Self::reader`] for an endpoint that needs the ledger: a 503 saying `what` otherwise.
    pub(crate) async fn ledger_for(
        &self,
        what: &str,
    ) -> Result<&switchyard_store::LedgerReader, crate::ApiError> {
        self.reader().await.map_err(|e| {
            crate::ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "api_error",
                format!("{what}: {e}"),
            )
        })
    }

    /// The latest audit, if one ran.
    pub fn last_audit(&self) -> Option<Arc<crate::audit::Audit>> {
        self.audit.load().as_ref().clone()
    }

    /// Audit the config in force against the ledger's last `[audit] window` now; the result
    /// becomes [`Gateway::last_audit`] and the `switchyard_audit_findings` gauges.
    pub async fn run_audit(&self) -> Result<Arc<crate::audit::Audit>, String> {
        let cfg = self.config();
        let catalog = load_catalog(&cfg).map_err(|e| e.to_string())?;
        let reader = self.reader().await?;
        let audit = crate::audit::audit(
            &cfg,
            &catalog,
            reader,
            cfg.audit.window,
            switchyard_store::now_ms(),
        )
        .await
        .map_err(|e| e.to_string())?;
        crate::metrics::audit_findings(&audit.findings);
        let audit = Arc::new(audit);
        self.audit.store(Arc::new(Some(audit.clone())));
        Ok(audit)
    }

    /// Live statistics and quality observations (kept across reloads).
    pub fn stats(&self) -> &Arc<StatsRegistry> {
        &self.stats
    }

    /// The current config.
    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    /// Base URL of the embedded simulator, if one runs.
    pub async fn sim_url(&self) -> Option<String> {
        self.sim.lock().await.as_ref().map(Sim::base_url)
    }

    /// Re-read the config file; on any error the running config keeps serving. A file whose
    /// content is what already serves is not rebuilt; providers whose settings did not change
    /// keep their adapters (and connection pools).
    pub async fn reload(&self) -> Result<Reload, Vec<ConfigError>> {
        let Some(path) = &self.path else {
            return Err(vec![ConfigError::new(
                "config",
                "running on the embedded config; nothing to reload",
            )]);
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![ConfigError::new(
                path.display().to_string(),
                format!("cannot read: {e}"),
            )]
        })?;
        let cfg = config::parse(&text)?;
        let hash = content_hash(&text, &cfg);
        if *lock(&self.loaded) == Some(hash) {
            return Ok(Reload::Unchanged);
        }
        let sim_url = embedded_sim_url(&cfg, &self.sim).await?;
        let snap = {
            let mut adapters = lock(&self.adapters);
            build_snapshot(
                &cfg,
                &self.secrets,
                sim_url.as_deref(),
                &self.stats,
                &mut adapters,
            )?
        };
        self.snapshot.store(Arc::new(snap));
        self.config.store(Arc::new(cfg));
        *lock(&self.loaded) = Some(hash);
        self.reloads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Reload::Applied)
    }

    /// How many reloads were applied since start.
    pub fn reloads(&self) -> u64 {
        self.reloads.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The ledger writer, if enabled.
    pub fn ledger(&self) -> Option<&Ledger> {
        self.ledger.as_ref()
    }

    /// Flush the ledger (every queued row) and the traces, and stop the embedded simulator.
    pub async fn shutdown(&self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = &self.traces {
            t.flush().await;
        }
        if let Some(ledger) = self.ledger.clone() {
            match ledger.shutdown().await {
                Ok(report) => tracing::info!(?report, "ledger flushed"),
                Err(e) => {
                    tracing::error!(error = %e, "ledger flush failed; unwritten rows are in the spill file")
                }
            }
        }
        if let Some(sim) = self.sim.lock().await.take() {
            sim.shutdown().await;
        }
    }
}

/// Reload the config when its file changes (looked at once a second) until the gateway or the
/// returned guard is dropped. SIGHUP does the same; both go through [`Gateway::reload`], so an
/// invalid file never replaces a working config.
///
/// The file's identity (modification time and length) is polled rather than watched with
/// inotify: a directory watch (needed to see editors that replace the file by rename) wakes a
/// thread for every write in that directory, and a ledger or spill file next to the config
/// writes there on every request. One `stat` a second costs nothing on the request path.
pub fn watch_config(gw: &GatewayHandle) -> Option<ConfigWatch> {
    let path = gw.path.clone()?;
    let weak = Arc::downgrade(gw);
    let mut seen = file_identity(&path);
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = file_identity(&path);
            if now == seen {
                continue;
            }
            seen = now;
            let Some(gw) = weak.upgrade() else { break };
            match gw.reload().await {
                Ok(Reload::Applied) => {
                    tracing::info!(path = %path.display(), "config file changed: reloaded")
                }
                Ok(Reload::Unchanged) => {
                    tracing::debug!(path = %path.display(), "config file touched, content unchanged")
                }
                Err(errs) => {
                    for e in &errs {
                        tracing::error!(error = %e, "config change rejected; the running config keeps serving");
                    }
                }
            }
        }
    });
    Some(ConfigWatch(task.abort_handle()))
}

/// Stops watching the config file when dropped.
#[derive(Debug)]
pub struct ConfigWatch(tokio::task::AbortHandle);

impl Drop for ConfigWatch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What changes when a file is written or replaced (`None`: it cannot be read now).
fn file_identity(path: &std::path::Path) -> Option<(std::time::SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// Start the embedded simulator if a `sim` provider has no `base_url`; reuse it on reload.
async fn embedded_sim_url(
    cfg: &Config,
    sim: &Mutex<Option<Sim>>,
) -> Result<Option<String>, Vec<ConfigError>> {
    let wanted = cfg
        .providers
        .iter()
        .any(|p| p.kind == ProviderKind::Sim && p.base_url.is_none());
    if !wanted {
        return Ok(None);
    }
    let mut guard = sim.lock().await;
    if guard.is_none() {
        let started = Sim::start(SimConfig::demo()).await.map_err(|e| {
            vec![ConfigError::new(
                "providers",
                format!("start the embedded simulator: {e}"),
            )]
        })?;
        *guard = Some(started);
    }
    Ok(guard.as_ref().map(Sim::base_url))
}

/// Validate a config as `serve` would, without starting anything.
pub fn check(cfg: &Config, secrets: &SecretLookup) -> Result<Snapshot, Vec<ConfigError>> {
    build_snapshot(
        cfg,
        secrets,
        Some("http://127.0.0.1:0/v1"),
        &StatsRegistry::default(),
        &mut Adapters::new(),
    )
}

/// What a reload would load: the config text and the learned routers' model files it names
/// (so replacing a model file and sending SIGHUP reloads it, though the config is the same).
fn content_hash(text: &str, cfg: &Config) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    for file in cfg.routes.iter().filter_map(|r| r.router.as_ref()) {
        match std::fs::read(file) {
            Ok(bytes) => bytes.hash(&mut h),
            Err(e) => e.kind().hash(&mut h),
        }
    }
    h.finish()
}

/// A poisoned lock only means a panic elsewhere while it was held; the data is still usable.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Resolve providers (keys, URLs, clients) and let the core validate the rest.
pub(crate) fn build_snapshot(
    cfg: &Config,
    secrets: &SecretLookup,
    sim_url: Option<&str>,
    stats: &StatsRegistry,
    adapters: &mut Adapters,
) -> Result<Snapshot, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let catalog = match load_catalog(cfg) {
        Ok(c) => c,
        Err(e) => return Err(vec![e]),
    };
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
        let vendor = switchyard_pricing::vendor::resolve(
            p.kind.as_str(),
            &p.name,
            Some(base_url.as_str()),
            p.vendor.as_deref(),
        );
        let reused = adapters
            .get(&p.name)
            .filter(|(section, url, _)| section == p && *url == base_url)
            .map(|(_, _, a)| a.clone());
        let built = match reused {
            Some(a) => Ok(a),
            None => AnyProvider::new(ProviderConfig {
                vendor: vendor.key.clone(),
                name: p.name.clone(),
                kind: p.kind,
                base_url: base_url.clone(),
                api_key,
                timeouts: p.timeouts,
                api_version: p.api_version.clone(),
                responses_api: p.responses_api(),
                region: p.region.clone(),
            })
            .map(Arc::new),
        };
        match built {
            Ok(adapter) => {
                adapters.insert(p.name.clone(), (p.clone(), base_url, adapter.clone()));
                let mut entry = snapshot_provider(adapter, p.kind, p.timeouts);
                entry.regions = p.regions.clone();
                entry.tags = p.tags.clone();
                entry.uplift_percent = p.uplift_percent;
                entry.vendor = vendor;
                entry.limits = p.limits;
                providers.insert(p.name.clone(), entry);
            }
            Err(e) => errors.push(ConfigError::new(format!("providers[{i}].kind"), e.message)),
        }
    }
    adapters.retain(|name, _| cfg.providers.iter().any(|p| &p.name == name));
    let inputs = SnapshotInputs {
        models: &cfg.models,
        routes: &cfg.routes,
        routing: &cfg.routing,
        providers: &providers,
        catalog: &catalog,
        stats,
    };
    match Snapshot::build(inputs) {
        Ok(s) if errors.is_empty() => Ok(s),
        Ok(_) => Err(errors),
        Err(mut more) => {
            errors.append(&mut more);
            Err(errors)
        }
    }
}

/// The price catalog: `[prices] catalog = "FILE"`, else the one embedded in the binary.
fn load_catalog(cfg: &Config) -> Result<Arc<Catalog>, ConfigError> {
    static EMBEDDED: std::sync::OnceLock<Result<Arc<Catalog>, String>> = std::sync::OnceLock::new();
    match &cfg.prices.catalog {
        Some(path) => Catalog::load(path).map(Arc::new).map_err(|e| {
            ConfigError::new(
                "prices.catalog",
                format!("cannot load {}: {e}", path.display()),
            )
        }),
        None => EMBEDDED
            .get_or_init(|| Catalog::embedded().map(Arc::new).map_err(|e| e.to_string()))
            .clone()
            .map_err(|e| {
                ConfigError::new("prices", format!("the embedded catalog is unreadable: {e}"))
            }),
    }
}

/// Open the ledger writer as `[ledger]` says.
/// The ledger URL a config uses: `ledger.url`, else a SQLite file beside the config file
/// (`switchyard-ledger.db`), else `.switchyard/ledger.db` (the directory is created).
pub fn ledger_url(cfg: &Config, config_path: Option<&std::path::Path>) -> Result<String, String> {
    if let Some(u) = &cfg.ledger.url {
        return Ok(u.clone());
    }
    let dir = match config_path.and_then(|p| p.parent()) {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        Some(_) => PathBuf::from("."),
        None => PathBuf::from(".switchyard"),
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let file = if config_path.is_some() {
        "switchyard-ledger.db"
    } else {
        "ledger.db"
    };
    Ok(format!("sqlite://{}", dir.join(file).display()))
}

async fn open_ledger(
    cfg: &Config,
    config_path: Option<&std::path::Path>,
) -> Result<Option<(Ledger, String)>, Vec<ConfigError>> {
    let l = &cfg.ledger;
    if !l.enabled {
        return Ok(None);
    }
    let url = ledger_url(cfg, config_path).map_err(|e| vec![ConfigError::new("ledger.url", e)])?;
    let spill = l.spill_path.clone().unwrap_or_else(|| {
        url.strip_prefix("sqlite://")
            .map(|p| PathBuf::from(format!("{p}.spill.jsonl")))
            .unwrap_or_else(|| PathBuf::from("switchyard-ledger.spill.jsonl"))
    });
    let mut lc = LedgerConfig::new(url.clone(), spill);
    lc.batch_size = l.batch_size;
    lc.flush_interval = l.flush_interval;
    lc.queue_capacity = l.queue_capacity;
    let ledger = Ledger::open(lc).await.map_err(|e| {
        vec![ConfigError::new(
            "ledger.url",
            format!("open the ledger: {e}"),
        )]
    })?;
    tracing::info!(url = %switchyard_store::redact_url(&url), "ledger open");
    Ok(Some((ledger, url)))
}

/// After a restart, what the ledger knows: volume price tiers count tokens per calendar month,
/// so add what the ledger already holds for this month; and the quality model is rebuilt from
/// the observations in the `signals` table. Runs in the background (two `SUM … GROUP BY`
/// queries) so a large ledger does not delay the start; until it finishes, costs use the tier
/// the in-process count reaches and quality starts from the priors. The task ends after.
fn seed_from_ledger(url: String, stats: Arc<StatsRegistry>) {
    tokio::spawn(async move {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let since = switchyard_core::health::month_start_ms(now);
        let result = async {
            let reader = switchyard_store::LedgerReader::connect(&url).await?;
            let rows = reader.tokens_by_model(since).await;
            let observed = reader.observations().await;
            reader.close().await;
            Ok::<_, switchyard_store::StoreError>((rows?, observed?))
        }
        .await;
        match result {
            Ok((rows, observed)) => {
                for o in &observed {
                    stats.quality().add(
                        o.task.as_deref(),
                        &o.model,
                        switchyard_core::quality::Observed {
                            sum: o.sum,
                            n: o.n as f64,
                        },
                    );
                }
                for (model, tokens) in &rows {
                    stats.get(model).monthly.seed(*tokens, now);
                }
                tracing::info!(
                    models = rows.len(),
                    quality_entries = observed.len(),
                    "monthly token counts and quality observations seeded from the ledger"
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not seed monthly token counts and quality from the ledger; counting from now")
            }
        }
        stats.quality().set_ready();
    });
}

/// Run the audit every `[audit] interval` (read anew each time, so a reload applies) while the
/// gateway lives; the first run is at once.
pub fn spawn_audits(gw: &GatewayHandle) -> tokio::task::JoinHandle<()> {
    let weak = Arc::downgrade(gw);
    tokio::spawn(async move {
        loop {
            let Some(gw) = weak.upgrade() else { return };
            if gw.ledger_url.is_none() {
                return; // nothing to audit against
            }
            let interval = gw.config().audit.interval;
            if !interval.is_zero() {
                match gw.run_audit().await {
                    Ok(a) => tracing::info!(findings = a.findings.len(), "audit ran"),
                    Err(e) => tracing::warn!(error = %e, "audit failed"),
                }
            }
            drop(gw);
            tokio::time::sleep(if interval.is_zero() {
                std::time::Duration::from_secs(60)
            } else {
                interval
            })
            .await;
        }
    })
}
