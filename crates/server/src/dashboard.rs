//! `/dashboard`: where the money went and what it saved, served by the gateway with its page,
//! script and style embedded in the binary (no CDN, no external fonts). The page draws its
//! charts from three JSON endpoints that read the ledger:
//!
//! * `GET /dashboard/api/overview?window=7d`: totals, spend against the baseline over time,
//!   per-provider/route/rule/model aggregates, quality per model and task, the month-end
//!   forecast and the latest audit findings;
//! * `GET /dashboard/api/requests?limit=50&before=MS`: the most recent requests;
//! * `GET /dashboard/api/requests/{id}`: one request's ledger row (decision, attempts, costs)
//!   and its quality signals; the page `/dashboard/requests/{id}` shows it.

use axum::{
    extract::{Path, Query, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};
use switchyard_store::{now_ms, GroupBy, LedgerReader, LedgerRow, SummaryRow};

use crate::{ApiError, GatewayHandle};

const PAGE: &str = include_str!("../assets/dashboard.html");
const SCRIPT: &str = include_str!("../assets/dashboard.js");
const STYLE: &str = include_str!("../assets/dashboard.css");

/// Most rows one `requests` call returns.
const MAX_RECENT: u32 = 200;
/// Points the spend chart aims for at most.
const MAX_POINTS: i64 = 60;
/// Bucket sizes the spend chart chooses from, in ms.
const BUCKETS_MS: &[i64] = &[
    1_000, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000, 21_600_000, 86_400_000,
];

/// The dashboard's routes (pages, assets, JSON).
pub(crate) fn routes() -> Router<GatewayHandle> {
    Router::new()
        .route("/dashboard", get(page))
        .route("/dashboard/", get(page))
        .route("/dashboard/requests/{id}", get(page))
        .route("/dashboard/assets/dashboard.js", get(script))
        .route("/dashboard/assets/dashboard.css", get(style))
        .route("/dashboard/api/overview", get(overview))
        .route("/dashboard/api/requests", get(recent))
        .route("/dashboard/api/requests/{id}", get(request))
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

async fn page() -> Response {
    let mut r = asset(PAGE, "text/html; charset=utf-8");
    // Everything the page loads is its own: no inline script, no other origin.
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
        ),
    );
    r
}

async fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}

async fn reader(gw: &GatewayHandle) -> Result<&LedgerReader, ApiError> {
    gw.ledger_for("the dashboard reads the ledger").await
}

fn store_err(e: switchyard_store::StoreError) -> ApiError {
    ApiError::internal(format!("ledger read failed: {e}"))
}

fn usd(d: Decimal) -> String {
    d.normalize().to_string()
}

#[derive(Deserialize)]
struct WindowQuery {
    /// How far back, e.g. `24h`, `7d` (default `7d`).
    window: Option<String>,
}

async fn overview(
    State(gw): State<GatewayHandle>,
    Query(q): Query<WindowQuery>,
) -> Result<Json<Value>, ApiError> {
    let window = match q.window.as_deref() {
        None => std::time::Duration::from_secs(7 * 86_400),
        Some(w) => humantime::parse_duration(w)
            .map_err(|e| ApiError::bad_request(format!("window `{w}`: {e}")))?,
    };
    let reader = reader(&gw).await?;
    let now = now_ms();
    let since = now.saturating_sub(i64::try_from(window.as_millis()).unwrap_or(i64::MAX));
    let by = |g| reader.summary(Some(since), None, g);
    let (providers, routes, rules, models) = tokio::try_join!(
        by(GroupBy::Provider),
        by(GroupBy::Route),
        by(GroupBy::Rule),
        by(GroupBy::Model)
    )
    .map_err(store_err)?;
    let mut total = SummaryRow::default();
    providers.iter().for_each(|r| total.absorb(r));
    let bucket_ms = bucket_for(reader, since, now).await?;
    let series = reader
        .cost_series(since, now + 1, bucket_ms)
        .await
        .map_err(store_err)?;
    let quality = reader.quality(Some(since), None).await.map_err(store_err)?;
    let forecast = reader.month_forecast(now, None).await.map_err(store_err)?;
    let audit = match gw.last_audit() {
        Some(a) => Some(a),
        None => gw.run_audit().await.ok(),
    };
    let series: Vec<Value> = series
        .iter()
        .map(|p| {
            json!({
                "t_ms": p.bucket * bucket_ms, "cost_usd": usd(p.cost),
                "baseline_usd": usd(p.baseline), "requests": p.requests, "unpriced": p.unpriced,
            })
        })
        .collect();
    let quality: Vec<Value> = quality
        .iter()
        .map(|r| {
            json!({
                "task": r.task, "model": r.model, "verdicts": r.verdicts,
                "passed": r.verdicts_passed, "feedback": r.feedback,
                "feedback_mean": (r.feedback > 0).then(|| r.feedback_score_sum / r.feedback as f64),
            })
        })
        .collect();
    Ok(Json(json!({
        "window": {"since_ms": since, "until_ms": now, "bucket_ms": bucket_ms},
        "totals": group(&total),
        "series": series,
        "providers": providers.iter().map(group).collect::<Vec<_>>(),
        "routes": routes.iter().map(group).collect::<Vec<_>>(),
        "rules": rules.iter().map(group).collect::<Vec<_>>(),
        "models": models.iter().map(group).collect::<Vec<_>>(),
        "quality": quality,
        "forecast": forecast,
        "audit": audit,
    })))
}

/// The smallest bucket that puts the window's traffic in at most [`MAX_POINTS`] points.
async fn bucket_for(reader: &LedgerReader, since: i64, now: i64) -> Result<i64, ApiError> {
    let span = reader
        .span(since, now + 1)
        .await
        .map_err(store_err)?
        .map_or(0, |(first, last)| last - first);
    Ok(BUCKETS_MS
        .iter()
        .copied()
        .find(|b| span / b < MAX_POINTS)
        .unwrap_or(switchyard_store::DAY_MS))
}

/// One group's aggregates, money as exact decimal strings.
fn group(r: &SummaryRow) -> Value {
    let rate = |part: u64| {
        if r.requests == 0 {
            0.0
        } else {
            part as f64 / r.requests as f64
        }
    };
    json!({
        "key": r.key, "requests": r.requests, "ok": r.ok, "errors": r.errors,
        "cancelled": r.cancelled, "success_rate": rate(r.ok),
        "cost_usd": usd(r.cost()), "baseline_usd": usd(r.baseline_cost()),
        "savings_usd": usd(r.savings()), "answer_cost_usd": usd(r.answer_cost()),
        "cost_per_request_usd": usd(r.cost_per_request()),
        "unpriced": r.unpriced_requests,
        "p50_ms": r.p50_latency_ms, "p95_ms": r.p95_latency_ms, "p99_ms": r.p99_latency_ms,
        "p50_ttft_ms": r.p50_ttft_ms, "p95_ttft_ms": r.p95_ttft_ms,
        "retried_rate": rate(r.retried), "escalated_rate": rate(r.escalated),
        "input_tokens": r.input_tokens, "output_tokens": r.output_tokens,
    })
}

#[derive(Deserialize)]
struct RecentQuery {
    limit: Option<u32>,
    before: Option<i64>,
}

async fn recent(
    State(gw): State<GatewayHandle>,
    Query(q): Query<RecentQuery>,
) -> Result<Json<Value>, ApiError> {
    let reader = reader(&gw).await?;
    let limit = q.limit.unwrap_or(50).clamp(1, MAX_RECENT);
    let rows = reader.recent(limit, q.before).await.map_err(store_err)?;
    let rows: Vec<Value> = rows.iter().map(summary_of).collect();
    Ok(Json(json!({ "requests": rows })))
}

/// A request in a list: who decided, who answered, what it cost.
fn summary_of(r: &LedgerRow) -> Value {
    json!({
        "id": r.id, "ts_ms": r.ts, "route": r.route, "rule": r.rule, "task": r.task,
        "tenant": r.tenant, "provider": r.provider, "model": r.model, "status": r.status,
        "http_status": r.http_status, "stream": r.stream, "attempts": r.attempts.len(),
        "cost_usd": r.cost().map(usd), "baseline_usd": r.baseline_cost().map(usd),
        "unpriced": r.unpriced, "latency_ms": r.latency_ms, "ttft_ms": r.ttft_ms,
        "escalated": r.attempts.iter().any(|a| a.rejected.is_some()),
    })
}

async fn request(
    State(gw): State<GatewayHandle>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if id.len() > 128 {
        return Err(ApiError::bad_request("request id too long"));
    }
    let reader = reader(&gw).await?;
    let Some(row) = reader.row(&id).await.map_err(store_err)? else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found_error",
            format!("no request `{id}` in the ledger"),
        ));
    };
    let signals = reader.signals_of(&id).await.map_err(store_err)?;
    let capture = reader
        .capture(&id, switchyard_store::now_ms())
        .await
        .map_err(store_err)?;
    let attempts: Vec<Value> = row
        .attempts
        .iter()
        .map(|a| {
            json!({
                "provider": a.provider, "model": a.model, "status": a.status,
                "error_class": a.error_class, "latency_ms": a.latency_ms, "ttft_ms": a.ttft_ms,
                "offset_us": a.offset_us, "usage": a.usage, "cost_usd": a.cost().map(usd),
                "billed": a.billed, "rejected": a.rejected, "usage_estimated": a.usage_estimated,
                "served_model": a.served_model,
            })
        })
        .collect();
    let mut out = summary_of(&row);
    out["decision"] = row.decision.clone();
    out["attempts"] = json!(attempts);
    out["usage"] = json!(row.usage);
    out["usage_estimated"] = json!(row.usage_estimated);
    out["catalog_version"] = json!(row.catalog_version);
    out["overhead_us"] = json!(row.overhead_us);
    out["error_class"] = json!(row.error_class);
    out["ingress"] = json!(row.ingress);
    out["tags"] = json!(row.tags);
    out["answer_cost_usd"] = json!(row.answer_cost().map(usd));
    out["signals"] = json!(signals);
    out["capture"] = match capture {
        Some(c) => json!({
            "prompt": c.prompt, "answer": c.answer, "truncated": c.truncated,
            "captured_ms": c.ts, "expires_ms": c.expires_ms,
        }),
        None => Value::Null,
    };
    Ok(Json(out))
}
