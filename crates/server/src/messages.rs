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

/// `POST /v1/messages/count_tokens`: the request's input tokens, counted by the gateway with
/// the `o200k_base` tokenizer (an estimate of the upstream's own count: the header
/// `x-switchyard-token-count` says so). No upstream is called and nothing is billed.
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
        let req = switchyard_providers::anthropic::ingress::parse_request(&text)
            .map_err(crate::ApiError::bad_request)?;
        let tools = req
            .tools
            .as_ref()
            .map(|t| serde_json::to_string(t).unwrap_or_default())
            .map_or(0, |s| switchyard_core::features::count_tokens(&s));
        let messages = switchyard_core::features::exact_input_tokens(&req)
            .ok_or_else(|| crate::ApiError::internal("the tokenizer is unavailable"))?;
        Ok::<u64, crate::ApiError>(messages + tools)
    }
    .await;
    match counted {
        Ok(n) => {
            let mut r = axum::Json(serde_json::json!({"input_tokens": n})).into_response();
            r.headers_mut().insert(
                "x-switchyard-token-count",
                axum::http::HeaderValue::from_static("estimated; o200k_base"),
            );
            r
        }
        Err(e) => e.shaped(shape).into_response(),
    }
}
