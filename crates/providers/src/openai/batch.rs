//! OpenAI's Files and Batch APIs, for the batch lane: upload a JSONL file, create a batch on
//! it, read the batch's status, download its output and error files, cancel it. OpenAI-flavour
//! upstreams only (OpenAI, OpenAI-compatible vendors that implement it, the simulator).

use bytes::Bytes;
use http::header;
use serde_json::{json, Value};
use switchyard_types::{ChatRequest, ChatResponse, Usage};

use super::{wire, Flavor, OpenAiProvider};
use crate::batch::{LineOutcome, LineResult, Poll, Submitted};
use crate::{CallCx, ProviderError};

impl OpenAiProvider {
    /// Whether this upstream speaks OpenAI's Batch API (Azure's differs).
    pub fn has_batch_api(&self) -> bool {
        matches!(self.flavor, Flavor::OpenAi { .. })
    }

    /// One JSONL file of chat completions, one batch on it.
    pub(crate) async fn submit_batch(
        &self,
        lines: &[(String, &ChatRequest)],
        call: CallCx<'_>,
    ) -> Result<Submitted, ProviderError> {
        let mut jsonl = String::new();
        for (id, req) in lines {
            let body = wire::ChatBody::new(req, self.body_model(call.upstream_model), false);
            let body = serde_json::to_value(&body)
                .map_err(|e| ProviderError::internal(format!("encode request: {e}")))?;
            let line = json!({"custom_id": id, "method": "POST", "url": "/v1/chat/completions",
                              "body": body});
            jsonl.push_str(&line.to_string());
            jsonl.push('\n');
        }
        let file = self.upload_batch_file(jsonl).await?;
        let created = self.create_batch(&file).await?;
        let id = created["id"]
            .as_str()
            .ok_or_else(|| ProviderError::internal("the upstream's batch API returned no id"))?;
        Ok(Submitted {
            id: id.to_owned(),
            hints: std::collections::BTreeMap::new(),
        })
    }

    /// The batch's status; once it ended, the records of its output and error files.
    pub(crate) async fn poll_batch(&self, id: &str) -> Result<Poll, ProviderError> {
        let b = self.get_batch(id).await?;
        let status = b["status"].as_str().unwrap_or_default();
        if !matches!(status, "completed" | "failed" | "expired" | "cancelled") {
            return Ok(Poll::Running);
        }
        let mut lines = Vec::new();
        for file in ["output_file_id", "error_file_id"] {
            let Some(fid) = b[file].as_str() else {
                continue;
            };
            let bytes = self.file_content(fid).await?;
            for rec in String::from_utf8_lossy(&bytes)
                .lines()
                .filter(|l| !l.trim().is_empty())
            {
                if let Some(line) = self.line(rec) {
                    lines.push(line);
                }
            }
        }
        Ok(Poll::Ended {
            status: status.to_owned(),
            lines,
        })
    }

    /// One output- or error-file record.
    fn line(&self, rec: &str) -> Option<LineResult> {
        let rec: Value = serde_json::from_str(rec).ok()?;
        let id = rec["custom_id"].as_str()?.to_owned();
        let status = u16::try_from(rec["response"]["status_code"].as_u64().unwrap_or(0)).ok()?;
        let answer = (status == 200)
            .then(|| serde_json::from_value::<ChatResponse>(rec["response"]["body"].clone()).ok())
            .flatten();
        let outcome = match answer {
            Some(mut response) => {
                let mut usage = match response.usage.as_mut() {
                    Some(w) => {
                        let u = Usage::from_openai(w, self.dialect);
                        w.set_counts(&u);
                        u
                    }
                    None => Usage::default(),
                };
                usage.tier = super::served_tier(&response.extra);
                LineOutcome::Answered(Box::new(response), usage)
            }
            None => match rec["error"]["code"].as_str() {
                Some("batch_expired") => LineOutcome::Expired,
                Some("batch_cancelled") => LineOutcome::Cancelled,
                _ => LineOutcome::Failed {
                    status: if status == 0 { 500 } else { status },
                    body: if rec["response"]["body"].is_null() {
                        json!({"error": rec["error"]})
                    } else {
                        rec["response"]["body"].clone()
                    },
                },
            },
        };
        Some(LineResult { id, outcome })
    }

    /// Upload `jsonl` with `purpose=batch`; the upstream's file id.
    async fn upload_batch_file(&self, jsonl: String) -> Result<String, ProviderError> {
        let boundary = format!("switchyard-{}", uuid_like(&jsonl));
        let mut body = Vec::with_capacity(jsonl.len() + 512);
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n\
                 --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
                 filename=\"batch.jsonl\"\r\nContent-Type: application/jsonl\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(jsonl.as_bytes());
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let rb = self
            .client
            .post(format!("{}/files", self.base))
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body);
        let v = self.json(rb).await?;
        v["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| ProviderError::internal("upstream file upload returned no id"))
    }

    /// Create a batch of the chat completions in `file_id`.
    async fn create_batch(&self, file_id: &str) -> Result<Value, ProviderError> {
        let body = json!({"input_file_id": file_id, "endpoint": "/v1/chat/completions",
                          "completion_window": "24h"});
        let rb = self
            .client
            .post(format!("{}/batches", self.base))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        self.json(rb).await
    }

    /// A batch's status object.
    async fn get_batch(&self, id: &str) -> Result<Value, ProviderError> {
        let rb = self.client.get(format!("{}/batches/{id}", self.base));
        self.json(rb).await
    }

    /// Cancel a batch.
    pub(crate) async fn cancel_batch(&self, id: &str) -> Result<(), ProviderError> {
        let rb = self
            .client
            .post(format!("{}/batches/{id}/cancel", self.base));
        self.json(rb).await.map(drop)
    }

    /// A file's content (an output or error file), bounded like any upstream answer.
    async fn file_content(&self, id: &str) -> Result<Bytes, ProviderError> {
        let mut rb = self.client.get(format!("{}/files/{id}/content", self.base));
        if let Some((name, value)) = &self.auth {
            rb = rb.header(name.clone(), value.clone());
        }
        let resp = crate::http::send(rb, super::error::from_response).await?;
        crate::http::read_answer(resp).await
    }

    async fn json(&self, mut rb: reqwest::RequestBuilder) -> Result<Value, ProviderError> {
        if let Some((name, value)) = &self.auth {
            rb = rb.header(name.clone(), value.clone());
        }
        let resp = crate::http::send(rb, super::error::from_response).await?;
        let bytes = crate::http::read_answer(resp).await?;
        crate::http::decode_answer(&bytes, "upstream returned an unreadable batch object")
    }
}

/// A boundary that does not occur in the content.
fn uuid_like(content: &str) -> String {
    let mut n: u64 = 0xcbf2_9ce4_8422_2325;
    for b in content.bytes() {
        n = (n ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    loop {
        let b = format!("{n:016x}");
        if !content.contains(&b) {
            return b;
        }
        n = n.wrapping_add(1);
    }
}
