//! The OpenAI Responses API: `POST /v1/responses` (whole or streamed), `GET` and `DELETE
//! /v1/responses/{id}`, `GET /v1/responses/{id}/input_items`.
//!
//! Phase 1 (ingress) and phase 6 (respond) only, like `chat.rs`: the body becomes the
//! canonical request (`switchyard_providers::openai::responses`), the same driver routes,
//! translates, fails over and settles it, and the answer is encoded as a `response` object or
//! its typed events. A stored turn (`store`, default true) is written to the ledger's database
//! before the client is answered, scoped to the tenant, so `previous_response_id` continues it
//! on any replica until `[responses] retention`.

use axum::{
    body::Body,
    extract::{Path, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use futures::StreamExt;
use serde_json::{json, Value};
use switchyard_core::{
    driver::{self, Outcome, RunToCompletion},
    relay::Event,
};
use switchyard_providers::openai::responses::{
    encode_response, output_as_input, stored_input, Ids, ResponsesRequest, SseEncoder, StoredTurn,
};
use switchyard_store::{LedgerReader, StoredResponse};

use crate::{error::Shape, respond, ApiError, GatewayHandle};

/// The tenant a stored response belongs to: `x-switchyard-tenant`, else `metadata.tenant`,
/// else `default` (as the ledger labels requests).
fn tenant(headers: &HeaderMap, metadata: Option<&serde_json::Map<String, Value>>) -> String {
    headers
        .get("x-switchyard-tenant")
        .and_then(|v| v.to_str().ok())
        .or_else(|| metadata?.get("tenant")?.as_str())
        .filter(|t| !t.is_empty())
        .unwrap_or("default")
        .to_owned()
}

async fn reader(gw: &GatewayHandle) -> Result<&LedgerReader, ApiError> {
    gw.ledger_for("stored responses live in the ledger's database")
        .await
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        format!("Response with id '{id}' not found."),
    )
}

/// The stored turn `id` of `tenant`.
/// The stored turn `id` of `tenant`; with `limit`, a turn whose stored conversation is larger
/// is refused (a continued conversation is bounded like a request body).
async fn load(
    gw: &GatewayHandle,
    id: &str,
    tenant: &str,
    limit: Option<usize>,
) -> Result<StoredTurn, ApiError> {
    if id.len() > 128 {
        return Err(not_found(id));
    }
    let stored = reader(gw)
        .await?
        .get_response(id, tenant, switchyard_store::now_ms())
        .await
        .map_err(|e| ApiError::internal(format!("reading a stored response failed: {e}")))?
        .ok_or_else(|| not_found(id))?;
    if limit.is_some_and(|l| stored.body.len() > l) {
        return Err(ApiError::bad_request(format!(
            "the conversation of `{id}` is larger than server.max_body_bytes; start a new one \
             (send the items you want to keep as input)"
        )));
    }
    serde_json::from_str(&stored.body)
        .map_err(|e| ApiError::internal(format!("a stored response is unreadable: {e}")))
}

/// What a new turn needs to be stored once answered.
struct Store {
    reader: LedgerReader,
    tenant: String,
    request_id: String,
    retention_ms: i64,
    /// The conversation before this turn's output.
    items: Vec<Value>,
    /// The conversation's session.
    session: String,
}

impl Store {
    /// Write the turn; a failure is logged and reported in the response (never silent).
    async fn put(self, response: &Value) -> bool {
        let mut items = self.items;
        items.extend(output_as_input(response));
        let turn = StoredTurn {
            response: response.clone(),
            items,
            session: Some(self.session),
        };
        let now = switchyard_store::now_ms();
        let row = StoredResponse {
            id: response["id"].as_str().unwrap_or_default().to_owned(),
            tenant: self.tenant,
            request_id: self.request_id,
            created_ms: now,
            expires_ms: now.saturating_add(self.retention_ms),
            body: serde_json::to_string(&turn).unwrap_or_default(),
        };
        match self.reader.put_response(&row).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(response = %row.id, error = %e, "storing a response failed");
                false
            }
        }
    }
}

/// `POST /v1/responses`.
pub(crate) async fn create(
    State(gw): State<GatewayHandle>,
    mut headers: HeaderMap,
    body: Body,
) -> Response {
    let cx = crate::keys::request_cx(&gw, "responses", &headers);
    let prepared = prepare(&gw, &mut headers, body, cx.id()).await;
    let (req, chat, store) = match prepared {
        Ok(p) => p,
        Err(e) => return respond::error(cx, e, Shape::OpenAi),
    };
    let ids = Ids::of_request(cx.id()).with_tools(&req);
    let created = u64::try_from(switchyard_store::now_ms() / 1000).unwrap_or_default();
    let echo = req.echo();
    let wants_store = req.store();
    let outcome = RunToCompletion::new(driver::chat(cx, chat, headers)).await;
    match outcome {
        Outcome::Answer(resp, cx) => {
            let body = encode_response(&resp, cx.usage(), &ids, created, &echo);
            let stored = match store {
                Some(s) => s.put(&body).await,
                None => !wants_store,
            };
            let mut r = respond::json(cx, serde_json::to_vec(&body).unwrap_or_default());
            if !stored {
                r.headers_mut()
                    .insert("x-switchyard-stored", HeaderValue::from_static("false"));
            }
            r
        }
        Outcome::Failed(e, cx) => respond::error(cx, e.into(), Shape::OpenAi),
        Outcome::Stream(s) => {
            let enc = SseEncoder::new(ids, created, echo);
            let events = stream(s.events, enc, store);
            let mut resp = Response::new(Body::from_stream(crate::sse::coalesce(events)));
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            respond::apply(h, &s.facts);
            resp
        }
    }
}

type Prepared = (
    ResponsesRequest,
    switchyard_types::ChatRequest,
    Option<Store>,
);

/// Read and parse the body, and load the conversation it continues.
async fn prepare(
    gw: &GatewayHandle,
    headers: &mut HeaderMap,
    body: Body,
    request_id: &str,
) -> Result<Prepared, ApiError> {
    let config = gw.config();
    let bytes = crate::app::read_body(headers, body, &config.server).await?;
    let req = ResponsesRequest::parse(&bytes).map_err(ApiError::bad_request)?;
    let tenant = tenant(headers, req.metadata.as_ref());
    let (history, chain) = match &req.previous_response_id {
        Some(prev) => {
            let turn = load(gw, prev, &tenant, Some(config.server.max_body_bytes))
                .await
                .map_err(|e| e.param("previous_response_id"))?;
            (turn.items, turn.session)
        }
        None => (Vec::new(), None),
    };
    // Conversation affinity: the client's session, else its cache key (Codex), else the
    // chain this turn continues (its first response), else this response if it is stored.
    let session = req
        .metadata
        .as_ref()
        .and_then(|m| m.get("session"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| req.prompt_cache_key.clone())
        .or(chain)
        .or_else(|| req.store().then(|| Ids::of_request(request_id).response));
    if let (false, Some(v)) = (
        headers.contains_key("x-switchyard-session"),
        session
            .as_deref()
            .and_then(|s| HeaderValue::from_str(s).ok()),
    ) {
        headers.insert("x-switchyard-session", v);
    }
    let chat = req.to_chat(&history).map_err(ApiError::bad_request)?;
    // Without a ledger database nothing can be stored: the answer says so
    // (`x-switchyard-stored: false`) rather than failing.
    let ledger = match req.store() {
        true => gw.reader().await.ok(),
        false => None,
    };
    let store = if let Some(reader) = ledger {
        let mut items = history;
        items.extend(stored_input(&req, &Ids::of_request(request_id)));
        Some(Store {
            reader: reader.clone(),
            tenant,
            request_id: request_id.to_owned(),
            retention_ms: i64::try_from(config.responses.retention.as_millis()).unwrap_or(i64::MAX),
            items,
            session: session.unwrap_or_default(),
        })
    } else {
        None
    };
    Ok((req, chat, store))
}

/// The relay's events as typed Responses events; a completed stream is stored before its
/// `response.completed` is sent, so the client can continue from it at once.
fn stream(
    events: futures::stream::BoxStream<'static, Event>,
    enc: SseEncoder,
    store: Option<Store>,
) -> impl futures::Stream<Item = Result<bytes::Bytes, std::convert::Infallible>> + Send {
    struct St {
        events: futures::stream::BoxStream<'static, Event>,
        enc: SseEncoder,
        store: Option<Store>,
        usage: switchyard_types::Usage,
        bill: Option<Value>,
        over: bool,
    }
    let st = St {
        events,
        enc,
        store,
        usage: Default::default(),
        bill: None,
        over: false,
    };
    futures::stream::unfold(st, |mut st| async move {
        loop {
            if st.over {
                return None;
            }
            let out = match st.events.next().await? {
                Event::Chunk(c) => st.enc.chunk(&c),
                Event::Usage(c, usage, bill) => {
                    st.usage = usage;
                    st.bill = Some(crate::sse::annotate(&bill));
                    st.enc.chunk(&c)
                }
                Event::Done => {
                    st.over = true;
                    let bill = st.bill.take().map(|b| ("switchyard", b));
                    let (out, response) = st.enc.done(&st.usage, bill);
                    if let Some(s) = st.store.take() {
                        s.put(&response).await;
                    }
                    out
                }
                Event::Failed(e) => {
                    st.over = true;
                    st.enc.failed(e.class.as_str(), &crate::sse::incomplete(&e))
                }
            };
            if !out.is_empty() {
                return Some((Ok(bytes::Bytes::from(out)), st));
            }
        }
    })
}

/// `GET /v1/responses/{id}`.
pub(crate) async fn get(
    State(gw): State<GatewayHandle>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match load(&gw, &id, &tenant(&headers, None), None).await {
        Ok(turn) => Json(turn.response).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /v1/responses/{id}/input_items`: the conversation's items before this response's
/// output, newest first (the API's default order).
pub(crate) async fn input_items(
    State(gw): State<GatewayHandle>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match load(&gw, &id, &tenant(&headers, None), None).await {
        Ok(turn) => {
            let outputs = output_as_input(&turn.response).len();
            let n = turn.items.len().saturating_sub(outputs);
            let data: Vec<Value> = turn.items[..n].iter().rev().cloned().collect();
            Json(json!({
                "object": "list",
                "data": data,
                "first_id": data.first().and_then(|i| i.get("id")),
                "last_id": data.last().and_then(|i| i.get("id")),
                "has_more": false,
            }))
            .into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// `DELETE /v1/responses/{id}`.
pub(crate) async fn delete(
    State(gw): State<GatewayHandle>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let deleted = async {
        reader(&gw)
            .await?
            .delete_response(&id, &tenant(&headers, None))
            .await
            .map_err(|e| ApiError::internal(format!("deleting a stored response failed: {e}")))
    }
    .await;
    match deleted {
        Ok(true) => {
            Json(json!({"id": id, "object": "response.deleted", "deleted": true})).into_response()
        }
        Ok(false) => not_found(&id).into_response(),
        Err(e) => e.into_response(),
    }
}
