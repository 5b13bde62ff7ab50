//! Anthropic's Message Batches (`{base}/messages/batches`): every request of the batch in one
//! JSON body (`custom_id` and the Messages `params`), the batch's `processing_status` polled
//! until `ended`, then its results read as JSONL (`succeeded` with the message, `errored`,
//! `canceled`, `expired`). The results are read from the configured base URL, never from the
//! `results_url` the upstream names.

use std::collections::BTreeMap;

use http::header;
use serde_json::{json, Value};
use switchyard_types::ChatRequest;

use super::{convert, error, wire, AnthropicProvider};
use crate::batch::{LineOutcome, LineResult, Poll, Submitted};
use crate::{CallCx, ErrorClass, ProviderError};

impl AnthropicProvider {
    /// `POST {base}/messages/batches` with every line's Messages body.
    pub(crate) async fn submit_batch(
        &self,
        lines: &[(String, &ChatRequest)],
        call: CallCx<'_>,
    ) -> Result<Submitted, ProviderError> {
        let mut requests = Vec::with_capacity(lines.len());
        let mut hints = BTreeMap::new();
        for (id, req) in lines {
            let enc = convert::encode_request(req, call.upstream_model, call.default_max_tokens)?;
            let params = serde_json::to_value(&enc.body).map_err(|e| {
                ProviderError::new(ErrorClass::BadRequest, format!("encode request: {e}"))
            })?;
            if let Some(tool) = enc.json_tool {
                hints.insert(id.clone(), tool);
            }
            requests.push(json!({"custom_id": id, "params": params}));
        }
        let body = json!({ "requests": requests }).to_string();
        let rb = self
            .authed(self.client.post(format!("{}/batches", self.url)))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body);
        let created = self.json(rb).await?;
        let id = created["id"]
            .as_str()
            .ok_or_else(|| ProviderError::internal("the upstream's batch API returned no id"))?;
        Ok(Submitted {
            id: id.to_owned(),
            hints,
        })
    }

    /// `GET {base}/messages/batches/{id}`; once `ended`, its results.
    pub(crate) async fn poll_batch(
        &self,
        id: &str,
        hints: &BTreeMap<String, String>,
    ) -> Result<Poll, ProviderError> {
        let rb = self.authed(self.client.get(format!("{}/batches/{id}", self.url)));
        let b = self.json(rb).await?;
        if b["processing_status"] != "ended" {
            return Ok(Poll::Running);
        }
        let rb = self.authed(
            self.client
                .get(format!("{}/batches/{id}/results", self.url)),
        );
        let resp = crate::http::send(rb, error::from_response).await?;
        let bytes = crate::http::read_answer(resp).await?;
        let lines = String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .filter_map(|l| line(l, hints))
            .collect();
        Ok(Poll::Ended {
            status: "ended".to_owned(),
            lines,
        })
    }

    /// `POST {base}/messages/batches/{id}/cancel`.
    pub(crate) async fn cancel_batch(&self, id: &str) -> Result<(), ProviderError> {
        let rb = self.authed(
            self.client
                .post(format!("{}/batches/{id}/cancel", self.url)),
        );
        self.json(rb).await.map(drop)
    }

    async fn json(&self, rb: reqwest::RequestBuilder) -> Result<Value, ProviderError> {
        let resp = crate::http::send(rb, error::from_response).await?;
        let bytes = crate::http::read_answer(resp).await?;
        crate::http::decode_answer(&bytes, "upstream returned an unreadable message batch")
    }
}

/// One results record.
fn line(rec: &str, hints: &BTreeMap<String, String>) -> Option<LineResult> {
    let rec: Value = serde_json::from_str(rec).ok()?;
    let id = rec["custom_id"].as_str()?.to_owned();
    let result = &rec["result"];
    let outcome = match result["type"].as_str()? {
        "succeeded" => {
            let message: wire::MessagesResponse =
                serde_json::from_value(result["message"].clone()).ok()?;
            let (response, usage) = convert::decode_response(
                message,
                hints.get(&id).map(String::as_str),
                crate::http::unix_now(),
            );
            LineOutcome::Answered(Box::new(response), usage)
        }
        "canceled" => LineOutcome::Cancelled,
        "expired" => LineOutcome::Expired,
        _ => {
            let kind = result["error"]["error"]["type"]
                .as_str()
                .unwrap_or_default();
            LineOutcome::Failed {
                status: status_of(kind),
                body: result["error"].clone(),
            }
        }
    };
    Some(LineResult { id, outcome })
}

/// The HTTP status the same error has on the Messages API.
fn status_of(kind: &str) -> u16 {
    match kind {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "overloaded_error" => 529,
        _ => 500,
    }
}
