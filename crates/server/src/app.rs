//! The axum app: routes and the tower layers around them, top to bottom.

use std::{net::SocketAddr, sync::Arc};

use axum::error_handling::HandleErrorLayer;
use axum::{
    extract::State,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde_json::json;
use tower::{limit::ConcurrencyLimitLayer, load_shed::LoadShedLayer, ServiceBuilder};
use tower_http::{
    catch_panic::CatchPanicLayer, sensitive_headers::SetSensitiveRequestHeadersLayer,
};

use crate::{chat, messages, ApiError, GatewayHandle};

/// Build the router. Layers, outermost first: catch-panic → sensitive-header redaction →
/// (API routes) load shedding at `server.max_in_flight`.
pub fn router(gw: GatewayHandle) -> Router {
    let _ = crate::metrics::handle();
    let layers = ServiceBuilder::new()
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error in the gateway",
            )
            .into_response()
        }))
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::HeaderName::from_static("x-api-key"),
            header::HeaderName::from_static("x-goog-api-key"),
        ]));
    // Past `server.max_in_flight` concurrent API requests, answer 503 at once instead of
    // queueing without bound; health and metrics stay outside the limit.
    let shed = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
            let mut e = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded_error",
                "the gateway is at its concurrency limit; retry shortly",
            )
            .code("gateway_overloaded");
            e.retry_after = Some(1);
            e.into_response()
        }))
        .layer(LoadShedLayer::new())
        .layer(ConcurrencyLimitLayer::new(
            gw.config().server.max_in_flight.max(1),
        ));
    let api = Router::new()
        .route("/v1/chat/completions", post(chat::completions))
        .route(
            "/v1/chat/completions/{id}",
            get(crate::batches::lane_result),
        )
        .route("/v1/embeddings", post(crate::embeddings::embeddings))
        .route("/v1/messages", post(messages::messages))
        .route("/v1/messages/count_tokens", post(messages::count_tokens))
        .route(
            "/v1/messages/batches",
            post(crate::batches::anthropic::create).get(crate::batches::anthropic::list),
        )
        .route(
            "/v1/messages/batches/{id}",
            get(crate::batches::anthropic::get),
        )
        .route(
            "/v1/messages/batches/{id}/results",
            get(crate::batches::anthropic::results),
        )
        .route(
            "/v1/messages/batches/{id}/cancel",
            post(crate::batches::anthropic::cancel),
        )
        .route("/v1/responses", post(crate::responses::create))
        // Gemini's API, under both versions the `google-genai` SDK may use.
        .route("/v1beta/models/{call}", post(crate::gemini::models))
        .route("/v1/models/{call}", post(crate::gemini::models))
        .route(
            "/v1/responses/{id}",
            get(crate::responses::get).delete(crate::responses::delete),
        )
        .route(
            "/v1/responses/{id}/input_items",
            get(crate::responses::input_items),
        )
        .route("/v1/files", post(crate::batches::upload))
        .route("/v1/files/{id}", get(crate::batches::file))
        .route("/v1/files/{id}/content", get(crate::batches::content))
        .route(
            "/v1/batches",
            post(crate::batches::create).get(crate::batches::list),
        )
        .route("/v1/batches/{id}", get(crate::batches::get))
        .route("/v1/batches/{id}/cancel", post(crate::batches::cancel))
        .route("/v1/feedback", post(crate::feedback::feedback))
        .route("/v1/models", get(models))
        .layer(axum::middleware::from_fn_with_state(
            gw.clone(),
            crate::keys::authenticate,
        ))
        .layer(shed);
    let admin = Router::new()
        .route("/metrics", get(prometheus))
        .route("/admin/health", get(health))
        .route(
            "/admin/keys",
            post(crate::keys::admin_create).get(crate::keys::admin_list),
        )
        .route(
            "/admin/keys/{id}",
            axum::routing::delete(crate::keys::admin_revoke),
        )
        .merge(crate::dashboard::routes())
        .layer(axum::middleware::from_fn_with_state(
            gw.clone(),
            crate::keys::admin,
        ));
    let cors = cors(&gw.config().server.cors_origins);
    Router::new()
        .merge(api)
        .merge(admin)
        .route("/healthz", get(|| async { "ok" }))
        .fallback(not_found)
        .layer(layers)
        .layer(tower::util::option_layer(cors))
        .with_state(gw)
}

/// CORS only for the configured origins: off by default, so a web page on another origin can
/// neither read answers nor, since API bodies must be JSON (which needs a preflight), send them.
fn cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let allowed: Vec<header::HeaderValue> = origins
        .iter()
        .filter_map(|o| header::HeaderValue::from_str(o).ok())
        .collect();
    (!allowed.is_empty()).then(|| {
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(allowed))
            .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
            .allow_headers(tower_http::cors::Any)
            .expose_headers(tower_http::cors::Any)
    })
}

/// Serve the app on a bound listener until `shutdown` resolves, then wait for the requests in
/// flight. Every connection gets `TCP_NODELAY`, must send its first byte and then its headers
/// each within `server.header_read_timeout` (hyper's timer is set, so it fires), and takes a
/// place under `server.max_connections` (past it, new connections are closed at once).
pub async fn serve(
    listener: tokio::net::TcpListener,
    gw: GatewayHandle,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    let server = gw.config().server.clone();
    let app = hyper_util::service::TowerToHyperService::new(router(gw));
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(server.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let places = Arc::new(tokio::sync::Semaphore::new(server.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    // Set when shutdown starts: a connection still waiting for its first byte is closed then,
    // instead of holding the drain for up to `header_read_timeout`.
    let (stopping, stopped) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = &mut shutdown => break,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                continue;
            }
        };
        let Ok(place) = places.clone().try_acquire_owned() else {
            tracing::debug!("connection refused: server.max_connections reached");
            continue;
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "set TCP_NODELAY on an accepted connection");
        }
        let (builder, app, watcher) = (builder.clone(), app.clone(), graceful.watcher());
        let mut stopped = stopped.clone();
        let first_byte = server.header_read_timeout;
        // Ends with the connection; holds its place under max_connections until then.
        tokio::spawn(async move {
            // hyper's header timer starts at the first byte: a connection that sends nothing
            // is closed here instead of holding its place forever.
            let mut probe = [0u8; 1];
            let first = tokio::select! {
                r = tokio::time::timeout(first_byte, tcp.peek(&mut probe)) => r,
                _ = stopped.wait_for(|s| *s) => return,
            };
            if !matches!(first, Ok(Ok(1..))) {
                return;
            }
            let conn = builder
                .serve_connection_with_upgrades(TokioIo::new(tcp), app)
                .into_owned();
            let _ = watcher.watch(conn).await;
            drop(place);
        });
    }
    let _ = stopping.send(true);
    graceful.shutdown().await;
    Ok(())
}

/// Bind the configured listen address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

async fn models(State(gw): State<GatewayHandle>) -> Json<serde_json::Value> {
    let snap = gw.snapshot();
    let mut data = Vec::new();
    for name in &snap.route_order {
        data.push(
            json!({"id": name, "object": "model", "created": 0, "owned_by": "switchyard-route"}),
        );
    }
    for d in &snap.deployments {
        data.push(
            json!({"id": d.name, "object": "model", "created": 0, "owned_by": d.provider_name}),
        );
    }
    Json(json!({"object": "list", "data": data}))
}

/// Circuit state, load and latency of every deployment.
async fn health(State(gw): State<GatewayHandle>) -> Json<serde_json::Value> {
    let snap = gw.snapshot();
    let deployments: Vec<_> = snap
        .deployments
        .iter()
        .map(|d| {
            let h = &d.stats.health;
            json!({
                "model": d.name, "provider": d.provider_name,
                "circuit": h.state().as_str(),
                "quota_exhausted": h.quota_exhausted(),
                "inflight": d.stats.inflight(),
                "ttft_ms": d.stats.ttft().map(|t| t.as_secs_f64() * 1e3),
            })
        })
        .collect();
    crate::metrics::refresh_gauges(&gw);
    let state = match gw.shared_state_up() {
        Some(up) => json!({
            "shared": "redis", "reachable": up,
            "on_unavailable": gw.config().state.on_unavailable,
        }),
        None => json!({"shared": "in_process"}),
    };
    Json(json!({"deployments": deployments, "quality": quality(&snap), "state": state}))
}

/// The quality model: every (task, model) observed, with its posterior under the priors.
fn quality(snap: &switchyard_core::Snapshot) -> Vec<serde_json::Value> {
    use switchyard_core::quality::{prior_for, Beta, ANY_TASK};
    snap.quality
        .entries()
        .into_iter()
        .map(|(task, model, o)| {
            let t = (task != ANY_TASK).then_some(task.as_str());
            let b = Beta::posterior(prior_for(&snap.quality_priors, t, &model), o);
            json!({
                "task": task, "model": model, "observations": o.n,
                "mean": b.mean(), "lower_95": b.lower(),
            })
        })
        .collect()
}

async fn prometheus(State(gw): State<GatewayHandle>) -> Response {
    match crate::metrics::handle() {
        Some(h) => {
            crate::metrics::refresh_gauges(&gw);
            crate::metrics::with_usd_counters(h.render()).into_response()
        }
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder unavailable",
        )
            .into_response(),
    }
}

/// Read an API request body: JSON only (415 otherwise — a browser form or `text/plain` POST,
/// which any web page can send cross-origin without a preflight, is refused), up to
/// `server.max_body_bytes` (413 beyond it), within `server.body_read_timeout` (408 when the
/// client stalls).
pub(crate) async fn read_body(
    headers: &axum::http::HeaderMap,
    body: axum::body::Body,
    server: &crate::config::ServerConfig,
) -> Result<bytes::Bytes, ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .is_some_and(|m| m == "application/json" || m.ends_with("+json"));
    if !json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request_error",
            "the request body must be JSON: send `Content-Type: application/json`",
        )
        .code("unsupported_media_type"));
    }
    let limit = server.max_body_bytes;
    let read = tokio::time::timeout(server.body_read_timeout, read_within(body, limit));
    match read.await {
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            format!("request body is larger than the gateway's limit of {limit} bytes"),
        )
        .code("request_too_large")),
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "invalid_request_error",
            format!(
                "the request body did not arrive within {:?}",
                server.body_read_timeout
            ),
        )
        .code("body_read_timeout")),
    }
}

/// Bytes past `max_body_bytes` read and discarded before answering 413 (nginx's lingering
/// close): a client still sending when the connection closed would see a broken pipe instead
/// of the 413.
const DRAIN_BYTES: usize = 64 << 20;

/// The body if it fits in `limit` (`None` if not, after draining up to [`DRAIN_BYTES`] more, or
/// if the client broke off).
async fn read_within(mut body: axum::body::Body, limit: usize) -> Option<bytes::Bytes> {
    use http_body_util::BodyExt;
    let mut buf = bytes::BytesMut::new();
    let mut drained = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return None };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if drained > 0 || buf.len() + data.len() > limit {
            drained += data.len();
            if drained > DRAIN_BYTES {
                return None;
            }
            continue;
        }
        buf.extend_from_slice(&data);
    }
    (drained == 0).then(|| buf.freeze())
}

async fn not_found() -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        "unknown endpoint",
    )
    .code("unknown_url")
    .into_response()
}
