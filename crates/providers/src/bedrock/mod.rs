//! AWS Bedrock Converse (`POST {base}/model/{modelId}/converse`) and ConverseStream
//! (`…/converse-stream`, an `application/vnd.amazon.eventstream` body).
//!
//! Layout: [`wire`] (serde types of the API) → [`convert`] (pure conversions) → `stream`
//! (event messages → chunks) over [`eventstream`] (binary framing, CRC-checked) → `error`
//! (exception classification); `sigv4` signs every request.
//!
//! Config: `region` is the signing region (if absent it is read from a
//! `bedrock-runtime.<region>.amazonaws.com` base URL); the base URL defaults to
//! `https://bedrock-runtime.{region}.amazonaws.com`. The API key is
//! `ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]`.

pub mod convert;
pub(crate) mod error;
pub mod eventstream;
mod sigv4;
pub(crate) mod stream;
pub mod wire;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use http::header;
use switchyard_types::ChatRequest;

use crate::{
    http::client, CallCx, Provider, ProviderConfig, ProviderError, RateLimitInfo, Reply,
    StreamReply, UpstreamMeta,
};

pub use sigv4::SERVICE as SIGNING_SERVICE;

/// A Bedrock runtime endpoint.
#[derive(Debug)]
pub struct BedrockProvider {
    name: String,
    base: String,
    signer: sigv4::Signer,
    client: reqwest::Client,
}

impl BedrockProvider {
    /// Build the adapter; fails if the region or the credentials are missing or malformed.
    pub fn new(cfg: ProviderConfig) -> Result<Self, ProviderError> {
        let base = cfg.base_url.trim().trim_end_matches('/');
        let region = cfg
            .region
            .clone()
            .filter(|r| !r.is_empty())
            .or_else(|| region_from_url(base))
            .ok_or_else(|| {
                ProviderError::internal(format!("Bedrock provider `{}` needs a `region`", cfg.name))
            })?;
        let base = if base.is_empty() {
            format!("https://bedrock-runtime.{region}.amazonaws.com")
        } else {
            base.to_owned()
        };
        let key = cfg.api_key.as_ref().ok_or_else(|| {
            ProviderError::internal(format!(
                "Bedrock provider `{}` needs credentials (`ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]`)",
                cfg.name
            ))
        })?;
        let signer = sigv4::Signer::new(key, &region)?;
        let client = client(cfg.timeouts.connect)
            .map_err(|e| ProviderError::internal(format!("build HTTP client: {e}")))?;
        Ok(BedrockProvider {
            name: cfg.name,
            base,
            signer,
            client,
        })
    }

    /// Config name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The signing region.
    pub fn region(&self) -> &str {
        self.signer.region()
    }

    async fn send(
        &self,
        model: &str,
        action: &str,
        body: &wire::ConverseRequest<'_>,
    ) -> Result<reqwest::Response, ProviderError> {
        let bytes = crate::http::json_body(body)?;
        let url = format!(
            "{}/model/{}/{action}",
            self.base,
            encode_path_segment(model)
        );
        let accept = if action == "converse" {
            "application/json"
        } else {
            "application/vnd.amazon.eventstream"
        };
        let headers = [("content-type", "application/json"), ("accept", accept)];
        let signed = self
            .signer
            .sign("POST", &url, &headers, &bytes, SystemTime::now())?;
        let mut rb = self
            .client
            .post(&url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, accept)
            .body(bytes);
        for (name, value) in signed {
            rb = rb.header(name, value);
        }
        crate::http::send(rb, error::from_response).await
    }
}

impl Provider for BedrockProvider {
    /// Non-streaming completion.
    async fn chat(&self, req: &ChatRequest, call: CallCx<'_>) -> Result<Reply, ProviderError> {
        let upstream = call.upstream_model;
        let enc = convert::encode_request(req, call.default_max_tokens)?;
        let resp = self.send(upstream, "converse", &enc.body).await?;
        let meta = meta(&resp);
        let id = completion_id(&resp);
        let bytes = crate::http::read_answer(resp).await?;
        let wire: wire::ConverseResponse =
            crate::http::decode_answer(&bytes, "upstream returned an unreadable response")?;
        let (response, usage) = convert::decode_response(
            wire,
            enc.json_tool.as_deref(),
            id,
            upstream,
            crate::http::unix_now(),
        );
        Ok(Reply {
            response,
            usage,
            meta,
        })
    }

    /// Streaming completion.
    async fn chat_stream(
        &self,
        req: &ChatRequest,
        call: CallCx<'_>,
    ) -> Result<StreamReply, ProviderError> {
        let upstream = call.upstream_model;
        let enc = convert::encode_request(req, call.default_max_tokens)?;
        let resp = self.send(upstream, "converse-stream", &enc.body).await?;
        let meta = meta(&resp);
        let opts = stream::Options {
            id: completion_id(&resp),
            model: upstream.to_owned(),
            created: crate::http::unix_now(),
            json_tool: enc.json_tool,
        };
        let body = Box::pin(resp.bytes_stream());
        Ok(StreamReply {
            stream: Box::pin(stream::decode(body, opts)),
            meta,
        })
    }
}

/// Percent-encode everything but RFC 3986 unreserved characters (model ids contain `:`,
/// inference-profile ARNs also `/`).
pub fn encode_path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `https://bedrock-runtime[-fips].<region>.amazonaws.com[.cn]` → the region.
fn region_from_url(url: &str) -> Option<String> {
    let host = url.split("://").nth(1)?.split(['/', ':']).next()?;
    let mut labels = host.split('.');
    let service = labels.next()?;
    let region = labels.next()?;
    (service.starts_with("bedrock-runtime") && labels.next() == Some("amazonaws"))
        .then(|| region.to_owned())
}

fn meta(resp: &reqwest::Response) -> UpstreamMeta {
    UpstreamMeta {
        status: resp.status().as_u16(),
        rate_limit: RateLimitInfo::default(),
    }
}

/// `chatcmpl-<x-amzn-requestid>`, or a process-unique id if the header is missing.
fn completion_id(resp: &reqwest::Response) -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    match resp
        .headers()
        .get("x-amzn-requestid")
        .and_then(|v| v.to_str().ok())
    {
        Some(id) if !id.is_empty() => format!("chatcmpl-{id}"),
        _ => format!(
            "chatcmpl-bedrock-{}-{}",
            crate::http::unix_now(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ),
    }
}
