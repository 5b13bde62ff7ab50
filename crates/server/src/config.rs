//! The root config file: `[server]`, `[[providers]]`, `[[models]]`, `[[routes]]`, `[routing]`.
//!
//! Loading is two-stage: the TOML is deserialised section by section (so every section's
//! first error is reported, each with its path), then references between sections are
//! resolved and validated by `switchyard-core` (every problem, each with its path).

use std::{net::SocketAddr, path::Path};

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use switchyard_core::{
    config::{ModelConfig, RouteConfig, RoutingConfig},
    ConfigError,
};
use switchyard_providers::{ProviderKind, Timeouts};

/// The whole config file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// `[server]`.
    pub server: ServerConfig,
    /// `[[providers]]`.
    pub providers: Vec<ProviderSection>,
    /// `[[models]]`.
    pub models: Vec<ModelConfig>,
    /// `[[routes]]`.
    pub routes: Vec<RouteConfig>,
    /// `[routing]`.
    pub routing: RoutingConfig,
    /// `[prices]`.
    pub prices: PricesConfig,
    /// `[ledger]`.
    pub ledger: LedgerSection,
    /// `[telemetry]`.
    pub telemetry: TelemetrySection,
    /// `[audit]`.
    pub audit: AuditSection,
    /// `[responses]`.
    pub responses: ResponsesSection,
    /// `[state]`.
    pub state: StateSection,
    /// `[[teams]]`: budgets a team's gateway keys share.
    pub teams: Vec<TeamSection>,
}

/// `[[teams]]`: a team's budgets, which bound all its keys together (each key's own budgets
/// still apply).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamSection {
    /// The team, as keys name it (`keys create --team`).
    pub name: String,
    /// Spend per UTC day, dollars.
    #[serde(default)]
    pub daily_usd: Option<rust_decimal::Decimal>,
    /// Spend per UTC month, dollars.
    #[serde(default)]
    pub monthly_usd: Option<rust_decimal::Decimal>,
}

/// `[state]`: shared state across replicas (per-key limits and budgets, the response cache).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateSection {
    /// `redis://host:port` (every replica on it shares the counters and the response cache);
    /// none: in process.
    pub url: Option<String>,
    /// What to do when Redis cannot be reached.
    pub on_unavailable: OnUnavailable,
    /// The in-process response cache's size (answers' JSON bytes), without `url`.
    pub cache_max_bytes: u64,
}

impl Default for StateSection {
    fn default() -> Self {
        StateSection {
            url: None,
            on_unavailable: OnUnavailable::default(),
            cache_max_bytes: 64 << 20,
        }
    }
}

/// `open`: fall back to this replica's own counters; `closed`: refuse with a 503.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnUnavailable {
    /// Keep serving with local limits.
    #[default]
    Open,
    /// Refuse keyed requests with limits until Redis is back.
    Closed,
}

/// `[responses]`: the Responses API's stored turns (`store: true`, the default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResponsesSection {
    /// How long a stored response can be read or continued (`previous_response_id`).
    #[serde(with = "humantime_serde")]
    pub retention: std::time::Duration,
}

impl Default for ResponsesSection {
    fn default() -> Self {
        ResponsesSection {
            retention: std::time::Duration::from_secs(30 * 86_400),
        }
    }
}

/// `[audit]`: the audit `serve` runs on a schedule (metrics and dashboard).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSection {
    /// How often; `0s` turns the schedule off (the dashboard still audits on demand).
    #[serde(with = "humantime_serde")]
    pub interval: std::time::Duration,
    /// The ledger window each run reads (the task mix is compared with the window before).
    #[serde(with = "humantime_serde")]
    pub window: std::time::Duration,
}

impl Default for AuditSection {
    fn default() -> Self {
        AuditSection {
            interval: std::time::Duration::from_secs(3600),
            window: std::time::Duration::from_secs(7 * 86_400),
        }
    }
}

/// `[telemetry]`: OpenTelemetry traces (off unless an endpoint is given).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySection {
    /// OTLP/HTTP (protobuf) traces endpoint, e.g. `http://127.0.0.1:4318/v1/traces`.
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the spans (default `switchyard`).
    pub service_name: Option<String>,
}

/// `[ledger]`: where one row per request is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LedgerSection {
    /// Write the ledger at all.
    pub enabled: bool,
    /// `sqlite://PATH` or `postgres://…`; default: `switchyard-ledger.db` next to the config
    /// file (or `.switchyard/ledger.db` on the embedded setup).
    pub url: Option<String>,
    /// Rows per batch.
    pub batch_size: usize,
    /// Longest a row waits for its batch.
    #[serde(with = "humantime_serde")]
    pub flush_interval: std::time::Duration,
    /// Rows buffered in memory before spilling to the local file.
    pub queue_capacity: usize,
    /// Spill file for rows that could not be written (default: next to the ledger).
    pub spill_path: Option<std::path::PathBuf>,
}

impl Default for LedgerSection {
    fn default() -> Self {
        LedgerSection {
            enabled: true,
            url: None,
            batch_size: 500,
            flush_interval: std::time::Duration::from_millis(200),
            queue_capacity: 100_000,
            spill_path: None,
        }
    }
}

/// `[prices]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricesConfig {
    /// A catalog file (as written by `switchyard prices import`); default: the embedded one.
    #[serde(default)]
    pub catalog: Option<std::path::PathBuf>,
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// The environment variable holding the admin token (`/admin/*`, `/dashboard`, and
    /// `/metrics` unless `metrics_public`); without it, those are open until keys exist.
    pub admin_token_env: Option<String>,
    /// Serve `/metrics` without the admin token (for a scraper on a trusted network).
    pub metrics_public: bool,
    /// Listen address.
    pub listen: SocketAddr,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Most API requests in flight at once; beyond it requests get 503 at once (load shedding).
    pub max_in_flight: usize,
    /// Longest time to receive a request body once its headers are in; a client that stalls
    /// gets 408 and frees its slot.
    #[serde(with = "humantime_serde")]
    pub body_read_timeout: std::time::Duration,
    /// Most inputs in one embeddings request (OpenAI's own limit is 2,048).
    pub max_embedding_inputs: usize,
    /// Longest time for a client to send a request's headers (a connection idle between
    /// keep-alive requests is closed after it too); slowloris clients are disconnected.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: std::time::Duration,
    /// Most client connections open at once; past it new connections are closed at once, so a
    /// flood of idle connections cannot exhaust file descriptors.
    pub max_connections: usize,
    /// Browser origins allowed to call the API (CORS); empty (the default): none.
    pub cors_origins: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            admin_token_env: None,
            metrics_public: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 4 * 1024 * 1024,
            max_in_flight: 10_000,
            body_read_timeout: std::time::Duration::from_secs(30),
            max_embedding_inputs: 2048,
            header_read_timeout: std::time::Duration::from_secs(10),
            max_connections: 20_000,
            cors_origins: Vec::new(),
        }
    }
}

/// One `[[providers]]` entry: an upstream API account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSection {
    /// Name models refer to.
    pub name: String,
    /// Wire API.
    pub kind: ProviderKind,
    /// Base URL (default per kind; required for `openai-compatible`; for `sim`, omit it to use
    /// the simulator embedded in the gateway).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Who bills for it: the price catalog's provider key (`groq`, `deepseek`, `xai`, …).
    /// Default: the kind; for `openai-compatible`, inferred from the `base_url` host, else
    /// the provider's name.
    #[serde(default)]
    pub vendor: Option<String>,
    /// Name of the environment variable holding the API key (never the key itself).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Where it processes data.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Compliance facts (`zdr`, `hipaa`, …).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Timeouts for calls to this provider.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// The account's rate limits; traffic spills to the next candidate before they are hit.
    #[serde(default)]
    pub limits: switchyard_core::config::ProviderLimits,
    /// Percentage added to every price of this provider (e.g. a residency uplift of 10).
    #[serde(
        default,
        deserialize_with = "switchyard_pricing::exact::deserialize_opt"
    )]
    pub uplift_percent: Option<rust_decimal::Decimal>,
    /// Azure OpenAI `api-version` (kind `azure-openai` only; default `2024-10-21`).
    #[serde(default)]
    pub api_version: Option<String>,
    /// The upstream serves OpenAI's Responses API at `{base_url}/responses` (OpenAI-wire
    /// kinds but Azure; default: true for `openai`, false otherwise): a Responses client's
    /// request is sent there natively, with its reasoning state.
    #[serde(default)]
    pub responses_api: Option<bool>,
    /// AWS region (kind `bedrock`: signing region; the base URL then defaults to
    /// `https://bedrock-runtime.{region}.amazonaws.com`). `api_key_env` names a variable
    /// holding `ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]`.
    #[serde(default)]
    pub region: Option<String>,
}

impl ProviderSection {
    /// Whether the upstream is sent Responses requests natively (`responses_api`; default:
    /// OpenAI itself).
    pub fn responses_api(&self) -> bool {
        self.responses_api
            .unwrap_or(self.kind == ProviderKind::OpenAi)
    }
}

/// The embedded default config (simulator in-process), as TOML text.
pub const EMBEDDED: &str = include_str!("embedded.toml");

/// The embedded default config.
pub fn embedded() -> Config {
    // The embedded file is covered by a test; a parse failure here is a build defect.
    parse(EMBEDDED).unwrap_or_default()
}

/// Read and validate a config file. Errors are returned all at once.
pub fn load(path: &Path) -> Result<Config, Vec<ConfigError>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![ConfigError::new(
            path.display().to_string(),
            format!("cannot read: {e}"),
        )]
    })?;
    parse(&text)
}

/// Parse and validate config text.
pub fn parse(text: &str) -> Result<Config, Vec<ConfigError>> {
    let value: toml::Table = toml::from_str(text).map_err(|e| {
        let at = e.span().map(|s| line_of(text, s.start)).unwrap_or_default();
        vec![ConfigError::new(
            format!("line {at}"),
            e.message().to_owned(),
        )]
    })?;
    let mut errors = Vec::new();
    let mut cfg = Config::default();
    for (key, v) in &value {
        match key.as_str() {
            "server" => section(v, "server", &mut errors, |s| cfg.server = s),
            "routing" => section(v, "routing", &mut errors, |s| cfg.routing = s),
            "prices" => section(v, "prices", &mut errors, |s| cfg.prices = s),
            "ledger" => section(v, "ledger", &mut errors, |s| cfg.ledger = s),
            "telemetry" => section(v, "telemetry", &mut errors, |s| cfg.telemetry = s),
            "audit" => section(v, "audit", &mut errors, |s| cfg.audit = s),
            "responses" => section(v, "responses", &mut errors, |s| cfg.responses = s),
            "state" => section(v, "state", &mut errors, |s| cfg.state = s),
            "providers" => cfg.providers = list(v, "providers", &mut errors),
            "models" => cfg.models = list(v, "models", &mut errors),
            "routes" => cfg.routes = list(v, "routes", &mut errors),
            "teams" => cfg.teams = list(v, "teams", &mut errors),
            other => errors.push(ConfigError::new(other, "unknown section")),
        }
    }
    validate_providers(&cfg, &mut errors);
    if errors.is_empty() {
        Ok(cfg)
    } else {
        Err(errors)
    }
}

fn validate_providers(cfg: &Config, errors: &mut Vec<ConfigError>) {
    let mut seen = std::collections::HashSet::new();
    for (i, p) in cfg.providers.iter().enumerate() {
        if !seen.insert(&p.name) {
            errors.push(ConfigError::new(
                format!("providers[{i}].name"),
                format!("duplicate provider `{}`", p.name),
            ));
        }
        let bedrock_region = p.kind == ProviderKind::Bedrock && p.region.is_some();
        let needs_url =
            p.kind.default_base_url().is_none() && p.kind != ProviderKind::Sim && !bedrock_region;
        if needs_url && p.base_url.is_none() {
            errors.push(ConfigError::new(
                format!("providers[{i}].base_url"),
                format!("required for kind `{}`", p.kind.as_str()),
            ));
        }
        let openai_wire = matches!(
            p.kind,
            ProviderKind::OpenAi | ProviderKind::OpenAiCompatible | ProviderKind::Sim
        );
        if p.responses_api == Some(true) && !openai_wire {
            errors.push(ConfigError::new(
                format!("providers[{i}].responses_api"),
                format!(
                    "kind `{}` does not serve the Responses API (only openai, \
                     openai-compatible and sim)",
                    p.kind.as_str()
                ),
            ));
        }
        if let Some(url) = &p.base_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                errors.push(ConfigError::new(
                    format!("providers[{i}].base_url"),
                    "must start with http:// or https://",
                ));
            }
        }
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn section<T: DeserializeOwned>(
    v: &toml::Value,
    path: &str,
    errors: &mut Vec<ConfigError>,
    set: impl FnOnce(T),
) {
    match from_value(v.clone()) {
        Ok(s) => set(s),
        Err((at, msg)) => errors.push(ConfigError::new(join(path, &at), msg)),
    }
}

fn list<T: DeserializeOwned>(v: &toml::Value, path: &str, errors: &mut Vec<ConfigError>) -> Vec<T> {
    let Some(items) = v.as_array() else {
        errors.push(ConfigError::new(
            path,
            "expected an array of tables ([[...]])",
        ));
        return Vec::new();
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match from_value(item.clone()) {
            Ok(t) => out.push(t),
            Err((at, msg)) => {
                errors.push(ConfigError::new(join(&format!("{path}[{i}]"), &at), msg))
            }
        }
    }
    out
}

fn from_value<T: DeserializeOwned>(v: toml::Value) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        (
            if path == "." { String::new() } else { path },
            e.into_inner().message().to_owned(),
        )
    })
}

fn join(base: &str, rest: &str) -> String {
    if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}.{rest}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_config_is_valid() {
        parse(EMBEDDED).unwrap();
    }

    #[test]
    fn reports_every_section_error_with_its_path() {
        let errs = parse(
            r#"
            [server]
            listen = "nope"
            [[providers]]
            name = "a"
            kind = "martian"
            [[models]]
            name = "m"
            provider = "a"
            colour = "blue"
            [[routes]]
            name = "r"
            candidates = ["m"]
            "#,
        )
        .unwrap_err();
        let paths: Vec<_> = errs.iter().map(|e| e.path.as_str()).collect();
        assert!(paths.contains(&"server.listen"), "{errs:?}");
        assert!(paths.contains(&"providers[0].kind"), "{errs:?}");
        assert!(paths.iter().any(|p| p.starts_with("models[0]")), "{errs:?}");
    }

    #[test]
    fn every_section_parses() {
        let cfg = parse(
            r#"
            [responses]
            retention = "1d"
            [state]
            url = "redis://127.0.0.1:6379"
            on_unavailable = "closed"
            [server]
            admin_token_env = "ADMIN"
            metrics_public = true
            "#,
        )
        .unwrap();
        assert_eq!(
            cfg.responses.retention,
            std::time::Duration::from_secs(86_400)
        );
        assert_eq!(cfg.state.on_unavailable, OnUnavailable::Closed);
        assert_eq!(cfg.server.admin_token_env.as_deref(), Some("ADMIN"));
    }
}
