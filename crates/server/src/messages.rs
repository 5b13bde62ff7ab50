//! `POST /v1/messages`: the Anthropic-compatible ingress.
//!
//! Same phases as `/v1/chat/completions` (see `chat.rs`): the body is parsed from Anthropic
//! Messages into the canonical request, the answer is encoded back (JSON or named SSE events),
//! and errors are Anthropic-shaped. Any `anthropic-version` is accepted; the client's key may
//! come as `x-api-key` or `Authorization: Bearer` (both are redacted from traces).

use axum::{body::Body, extract::State, http::HeaderMap, response::Response};

use crate::{
    chat::{serve, Ingress},
    GatewayHandle,
};

/// The handler.
pub(crate) async fn messages(
    State(gw): State<GatewayHandle>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    serve(gw, headers, body, Ingress::Anthropic).await
}

/// `POST /v1/messages/count_tokens`: forwarded to the Anthropic upstream the request's model
/// would be routed to first (its own count, tools and thinking included), else — or if that
/// call fails — counted by the gateway with the `o200k_base` tokenizer. The header
/// `x-switchyard-token-count` says which (`upstream; PROVIDER` or `estimated; o200k_base`).
/// Nothing is billed.
pub(crate) async fn count_tokens(
    State(gw): State<GatewayHandle>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    use axum::response::IntoResponse;
    let shape = crate::error::Shape::Anthropic;
    let counted = async {
        let bytes = crate::app::read_body(&headers, body, &gw.config().server).await?;
        // count_tokens takes a Messages request without `max_tokens`.
        let mut v: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| crate::ApiError::bad_request(format!("invalid request body: {e}")))?;
        if let Some(o) = v.as_object_mut() {
            o.entry("max_tokens").or_insert(serde_json::json!(1));
        }
        let text = serde_json::to_vec(&v).map_err(|e| crate::ApiError::internal(e.to_string()))?;
        let mut req = switchyard_providers::anthropic::ingress::parse_request(&text)
            .map_err(crate::ApiError::bad_request)?;
        crate::chat::native_betas(&mut req, &headers);
        if let Some(answer) = upstream_count(&gw, &req, &headers).await {
            return Ok(answer);
        }
        Ok::<_, crate::ApiError>((count_locally(&req)?, "estimated; o200k_base".to_owned()))
    }
    .await;
    match counted {
        Ok((n, how)) => {
            let mut r = axum::Json(serde_json::json!({"input_tokens": n})).into_response();
            if let Ok(v) = axum::http::HeaderValue::from_str(&how) {
                r.headers_mut().insert("x-switchyard-token-count", v);
            }
            r
        }
        Err(e) => e.shaped(shape).into_response(),
    }
}

/// The count of the Anthropic upstream the request would go to first, if it is one and it
/// answers within its timeout.
async fn upstream_count(
    gw: &GatewayHandle,
    req: &switchyard_types::ChatRequest,
    headers: &HeaderMap,
) -> Option<(u64, String)> {
    let snap = gw.snapshot();
    let features = switchyard_core::Features::extract(req, headers);
    let plan = switchyard_core::plan::plan(&snap, req, &features).ok()?;
    let d = snap.deployment(*plan.targets.first()?);
    let switchyard_providers::AnyProvider::Anthropic(p) = d.provider.as_ref() else {
        return None;
    };
    match tokio::time::timeout(d.timeouts.response, p.count_tokens(req, &d.upstream)).await {
        Ok(Ok(n)) => Some((n, format!("upstream; {}", d.provider_name))),
        Ok(Err(e)) => {
            tracing::debug!(provider = %d.provider_name, error = %e, "upstream token count failed");
            None
        }
        Err(_) => None,
    }
}

/// The request's input tokens (messages and tool definitions) by the gateway's `o200k_base`
/// tokenizer: the estimate every `count_tokens` endpoint answers without an upstream.
pub(crate) fn count_locally(req: &switchyard_types::ChatRequest) -> Result<u64, crate::ApiError> {
    let tools = req
        .tools
        .as_ref()
        .map(|t| serde_json::to_string(t).unwrap_or_default())
        .map_or(0, |s| switchyard_core::features::count_tokens(&s));
    let messages = switchyard_core::features::exact_input_tokens(req)
        .ok_or_else(|| crate::ApiError::internal("the tokenizer is unavailable"))?;
    Ok(messages + tools)
}
