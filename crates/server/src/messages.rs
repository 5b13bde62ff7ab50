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
