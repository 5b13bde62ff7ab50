//! Gateway keys and the admin token.
//!
//! Keys live in the ledger's database (`gateway_keys`), so every replica sees the same set:
//! each reloads it every [`REFRESH`] (a key created or revoked anywhere takes effect
//! everywhere within seconds, no restart). With no keys the gateway is open, as the embedded
//! default is; once a key has been created (revoked keys count: revoking the last key closes
//! the gateway rather than opening it), every API request needs an active one (`Authorization: Bearer`,
//! `x-api-key`, `x-goog-api-key` or `?key=`), a missing or unknown one is a 401 in the
//! client's API shape, and the tenant is the key's (a client-written `x-switchyard-tenant` is
//! ignored). Only a key's SHA-256 is kept, in the database and in memory.
//!
//! The admin token (`[server] admin_token_env`) guards `/admin/*`, `/dashboard` and `/metrics`
//! (unless `metrics_public`): as a bearer token, or as the password of HTTP Basic auth so a
//! browser can open the dashboard. With keys in use and no admin token configured, those are
//! closed.

use std::{collections::HashMap, sync::Arc, time::Duration};

use arc_swap::ArcSwap;
use axum::{
    extract::{Path, Request, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    Json,
};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use switchyard_core::{KeyGrant, RequestCx};
use switchyard_store::{KeyRow, LedgerReader};
use tokio::time::Instant;

use crate::{error::Shape, ApiError, GatewayHandle};

/// How often each replica reloads the keys.
pub const REFRESH: Duration = Duration::from_secs(2);

/// The header the authentication layer sets (after removing any the client sent) to name the
/// key a request came with.
const KEY_HEADER: &str = "x-switchyard-key-id";

/// A key's grant as stored (`spec`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeySpec {
    /// Team (reported; team budgets come with them).
    pub team: Option<String>,
    /// Routes it may use (empty: any).
    pub routes: Vec<String>,
    /// Models it may name directly.
    pub models: Vec<String>,
    /// Requests per minute (across every replica with `[state]`).
    pub rpm: Option<u64>,
    /// Tokens per minute (estimated input plus the output cap).
    pub tpm: Option<u64>,
    /// Spend per UTC day, dollars.
    pub daily_usd: Option<rust_decimal::Decimal>,
    /// Spend per UTC month, dollars.
    pub monthly_usd: Option<rust_decimal::Decimal>,
    /// Every request goes to this route, whatever it names.
    pub pin_route: Option<String>,
    /// A region every request is constrained to.
    pub region: Option<String>,
    /// Tags added to every request.
    pub tags: Vec<String>,
}

/// Dollars → nano-dollars (rounded down: a budget is never exceeded by rounding).
fn nanos(usd: rust_decimal::Decimal) -> i64 {
    i64::try_from((usd * rust_decimal::Decimal::from(1_000_000_000u64)).floor()).unwrap_or(i64::MAX)
}

/// The keys in force, by hash and by id.
#[derive(Debug, Default)]
pub struct KeySet {
    by_hash: HashMap<String, Arc<KeyGrant>>,
    by_id: HashMap<String, Arc<KeyGrant>>,
    /// Some key was ever created (revoking every key closes the gateway; it does not open it).
    enforced: bool,
}

impl KeySet {
    fn of(rows: Vec<KeyRow>, teams: &[crate::config::TeamSection]) -> KeySet {
        let mut set = KeySet {
            enforced: !rows.is_empty(),
            ..KeySet::default()
        };
        for r in rows.into_iter().filter(|r| r.revoked_ms.is_none()) {
            let spec: KeySpec = serde_json::from_str(&r.spec).unwrap_or_default();
            let grant = Arc::new(KeyGrant {
                id: r.id.clone(),
                tenant: r.name,
                routes: spec.routes,
                models: spec.models,
                rpm: spec.rpm,
                tpm: spec.tpm,
                daily_nanos: spec.daily_usd.map(nanos),
                monthly_nanos: spec.monthly_usd.map(nanos),
                pin_route: spec.pin_route,
                region: spec.region,
                tags: spec.tags,
                team: spec.team.as_ref().map(|name| {
                    let t = teams.iter().find(|t| &t.name == name);
                    switchyard_core::TeamBudget {
                        name: name.clone(),
                        daily_nanos: t.and_then(|t| t.daily_usd).map(nanos),
                        monthly_nanos: t.and_then(|t| t.monthly_usd).map(nanos),
                    }
                }),
            });
            set.by_id.insert(r.id, grant.clone());
            set.by_hash.insert(r.hash, grant);
        }
        set
    }

    /// Whether keys are in use (a key was ever created): then every API request needs an
    /// active one.
    pub fn any(&self) -> bool {
        self.enforced
    }
}

/// The shared, periodically reloaded key set.
#[derive(Debug, Default)]
pub struct Keys {
    set: ArcSwap<KeySet>,
}

impl Keys {
    /// The keys in force now.
    pub fn current(&self) -> Arc<KeySet> {
        self.set.load_full()
    }

    /// Reload from the database (with the config's `[[teams]]` budgets); on failure the keys
    /// in force stay.
    pub async fn reload(
        &self,
        reader: &LedgerReader,
        teams: &[crate::config::TeamSection],
    ) -> Result<(), String> {
        let rows = reader.keys().await.map_err(|e| e.to_string())?;
        self.set.store(Arc::new(KeySet::of(rows, teams)));
        Ok(())
    }
}

/// Reload the keys every [`REFRESH`] for as long as the gateway runs.
pub fn spawn_refresh(gw: &GatewayHandle) -> Option<tokio::task::JoinHandle<()>> {
    let weak = Arc::downgrade(gw);
    gw.ledger_url()?;
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(REFRESH);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(gw) = weak.upgrade() else { return };
            let Ok(reader) = gw.reader().await else {
                continue;
            };
            if let Err(e) = gw.keys().reload(reader, &gw.config().teams).await {
                tracing::warn!(error = %e, "reloading gateway keys failed; the keys in force stay");
            }
        }
    }))
}

/// SHA-256 of a key, hex.
pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A new key (`sy-` and 40 base62 characters: 238 random bits) and its public id.
pub fn generate() -> (String, String) {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rngs::OsRng;
    let mut pick = |n: usize| -> String {
        (0..n)
            .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
            .collect()
    };
    let key = format!("sy-{}", pick(40));
    let id = format!("key_{}", pick(12));
    (key, id)
}

/// A request context on behalf of the gateway key `key_id` (one still in force), for work the
/// gateway does after the client's request (a batch's lines).
pub(crate) fn key_cx(gw: &GatewayHandle, ingress: &'static str, key_id: Option<&str>) -> RequestCx {
    let key = key_id.and_then(|id| key_grant(gw, id));
    RequestCx::new(gw.snapshot(), gw.sink(), ingress, Instant::now()).with_key(key, None)
}

/// The grant of the gateway key `id`, if it is in force.
pub(crate) fn key_grant(
    gw: &GatewayHandle,
    id: &str,
) -> Option<Arc<switchyard_core::cx::KeyGrant>> {
    gw.keys().current().by_id.get(id).cloned()
}

/// The request context of an API request, with the key the authentication layer found.
pub(crate) fn request_cx(
    gw: &GatewayHandle,
    ingress: &'static str,
    headers: &HeaderMap,
) -> RequestCx {
    let key = headers
        .get(KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|id| gw.keys().current().by_id.get(id).cloned());
    let admission = key.is_some().then(|| gw.admission());
    RequestCx::new(gw.snapshot(), gw.sink(), ingress, Instant::now())
        .with_key(key, admission)
        .with_cache(gw.answers())
}

/// The error shape of the API a path belongs to.
fn shape_of(path: &str) -> Shape {
    if path.starts_with("/v1/messages") {
        Shape::Anthropic
    } else if path.starts_with("/v1beta/")
        || (path.starts_with("/v1/models/") && path.contains(':'))
    {
        Shape::Gemini
    } else {
        Shape::OpenAi
    }
}

/// The key a request presents, wherever its client puts it.
fn presented(req: &Request) -> Option<String> {
    let h = req.headers();
    let header = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(v) = header("authorization") {
        if let Some(t) = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
        {
            return Some(t.trim().to_owned());
        }
    }
    for name in ["x-api-key", "x-goog-api-key"] {
        if let Some(v) = header(name).filter(|v| !v.is_empty()) {
            return Some(v.to_owned());
        }
    }
    req.uri().query().and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "key")
            .map(|(_, v)| v.to_owned())
    })
}

/// The authentication layer of the API routes.
pub(crate) async fn authenticate(
    State(gw): State<GatewayHandle>,
    mut req: Request,
    next: Next,
) -> Response {
    let headers = req.headers_mut();
    // Never trust a client with these: only this layer sets them.
    headers.remove(KEY_HEADER);
    let keys = gw.keys().current();
    if !keys.any() {
        return next.run(req).await;
    }
    let shape = shape_of(req.uri().path());
    let grant = presented(&req).and_then(|k| keys.by_hash.get(&hash(&k)).cloned());
    let Some(grant) = grant else {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "a valid gateway key is required (Authorization: Bearer, x-api-key or x-goog-api-key)",
        )
        .code("invalid_api_key")
        .shaped(shape)
        .into_response();
    };
    let headers = req.headers_mut();
    if let (Ok(id), Ok(tenant)) = (
        HeaderValue::from_str(&grant.id),
        HeaderValue::from_str(&grant.tenant),
    ) {
        headers.insert(KEY_HEADER, id);
        headers.insert("x-switchyard-tenant", tenant);
    }
    next.run(req).await
}

/// The admin token in force, if the operator configured one.
fn admin_token(gw: &GatewayHandle) -> Option<secrecy::SecretString> {
    gw.admin_token()
}

/// Constant-time comparison.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The admin layer of `/admin/*`, `/dashboard` and `/metrics`.
pub(crate) async fn admin(State(gw): State<GatewayHandle>, req: Request, next: Next) -> Response {
    use secrecy::ExposeSecret;
    let path = req.uri().path();
    if path == "/metrics" && gw.config().server.metrics_public {
        return next.run(req).await;
    }
    let token = admin_token(&gw);
    let Some(token) = token else {
        if !gw.keys().current().any() {
            return next.run(req).await;
        }
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            "gateway keys are in use: set `[server] admin_token_env` to reach the admin endpoints",
        )
        .into_response();
    };
    let offered = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            if let Some(t) = v.strip_prefix("Bearer ") {
                return Some(t.trim().to_owned());
            }
            use base64::Engine;
            let b = v.strip_prefix("Basic ")?;
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()?;
            let text = String::from_utf8(raw).ok()?;
            text.split_once(':').map(|(_, p)| p.to_owned())
        });
    if offered.is_some_and(|o| same(o.as_bytes(), token.expose_secret().as_bytes())) {
        return next.run(req).await;
    }
    let mut r = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_request_error",
        "the admin token is required (Authorization: Bearer, or Basic with the token as password)",
    )
    .into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"switchyard\""),
    );
    r
}

/// `POST /admin/keys` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewKey {
    name: String,
    #[serde(flatten)]
    spec: KeySpec,
}

/// What a key looks like when listed (never its text or hash).
fn listed(r: &KeyRow) -> serde_json::Value {
    let spec: KeySpec = serde_json::from_str(&r.spec).unwrap_or_default();
    serde_json::json!({
        "id": r.id, "name": r.name, "team": spec.team, "routes": spec.routes,
        "models": spec.models, "rpm": spec.rpm, "tpm": spec.tpm,
        "daily_usd": spec.daily_usd.map(|d| d.to_string()),
        "monthly_usd": spec.monthly_usd.map(|d| d.to_string()),
        "pin_route": spec.pin_route, "region": spec.region, "tags": spec.tags,
        "created_ms": r.created_ms, "revoked_ms": r.revoked_ms,
    })
}

/// Create a key in `reader`'s database: its row, and the key text (shown once).
pub async fn create(
    reader: &LedgerReader,
    name: &str,
    spec: &KeySpec,
) -> Result<(KeyRow, String), String> {
    let name = name.trim();
    if name.is_empty() || name.len() > 128 {
        return Err("a key's name must be 1 to 128 characters".into());
    }
    let (key, id) = generate();
    let row = KeyRow {
        id,
        hash: hash(&key),
        name: name.to_owned(),
        spec: serde_json::to_string(spec).map_err(|e| e.to_string())?,
        created_ms: switchyard_store::now_ms(),
        revoked_ms: None,
    };
    reader.create_key(&row).await.map_err(|e| e.to_string())?;
    Ok((row, key))
}

async fn reader(gw: &GatewayHandle) -> Result<&LedgerReader, ApiError> {
    gw.ledger_for("gateway keys live in the ledger's database")
        .await
}

/// `POST /admin/keys`.
pub(crate) async fn admin_create(
    State(gw): State<GatewayHandle>,
    Json(new): Json<NewKey>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let reader = reader(&gw).await?;
    let (row, key) = create(reader, &new.name, &new.spec)
        .await
        .map_err(ApiError::bad_request)?;
    gw.keys()
        .reload(reader, &gw.config().teams)
        .await
        .map_err(ApiError::internal)?;
    let mut v = listed(&row);
    v["key"] = serde_json::json!(key);
    Ok(Json(v))
}

/// `GET /admin/keys`.
pub(crate) async fn admin_list(
    State(gw): State<GatewayHandle>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let rows = reader(&gw)
        .await?
        .keys()
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(
        serde_json::json!({"keys": rows.iter().map(listed).collect::<Vec<_>>()}),
    ))
}

/// `DELETE /admin/keys/{id}`: revoke.
pub(crate) async fn admin_revoke(
    State(gw): State<GatewayHandle>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let reader = reader(&gw).await?;
    let revoked = reader
        .revoke_key(&id, switchyard_store::now_ms())
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    if !revoked {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found_error",
            format!("no active key `{id}`"),
        ));
    }
    gw.keys()
        .reload(reader, &gw.config().teams)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(serde_json::json!({"id": id, "revoked": true})))
}
