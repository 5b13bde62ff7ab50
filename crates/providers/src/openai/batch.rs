//! OpenAI's Files and Batch APIs, for the batch lane: upload a JSONL file, create a batch on
//! it, read the batch's status, download its output and error files, cancel it. OpenAI-flavour
//! upstreams only (OpenAI, OpenAI-compatible vendors that implement it, the simulator).

use bytes::Bytes;
use http::header;
use serde_json::{json, Value};

use super::{Flavor, OpenAiProvider};
use crate::ProviderError;

impl OpenAiProvider {
    /// Whether this upstream speaks OpenAI's Batch API (Azure's differs).
    pub fn has_batch_api(&self) -> bool {
        matches!(self.flavor, Flavor::OpenAi)
    }

    /// Upload `jsonl` with `purpose=batch`; the upstream's file id.
    pub async fn upload_batch_file(&self, jsonl: String) -> Result<String, ProviderError> {
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
    pub async fn create_batch(&self, file_id: &str) -> Result<Value, ProviderError> {
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
    pub async fn get_batch(&self, id: &str) -> Result<Value, ProviderError> {
        let rb = self.client.get(format!("{}/batches/{id}", self.base));
        self.json(rb).await
    }

    /// Cancel a batch.
    pub async fn cancel_batch(&self, id: &str) -> Result<Value, ProviderError> {
        let rb = self
            .client
            .post(format!("{}/batches/{id}/cancel", self.base));
        self.json(rb).await
    }

    /// A file's content (an output or error file), bounded like any upstream answer.
    pub async fn file_content(&self, id: &str) -> Result<Bytes, ProviderError> {
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
