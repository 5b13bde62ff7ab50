//! OpenAI Chat Completions: api.openai.com, every OpenAI-compatible vendor, and the simulator.
//!
//! The canonical model is OpenAI-shaped, so encoding is a clone with the upstream model id
//! substituted; unknown fields ride along in the `extra` maps untouched.

mod error;
mod stream;

use bytes::Bytes;
use http::{HeaderValue, header};
use secrecy::ExposeSecret;
use switchyard_types::{ChatRequest, ChatResponse, StreamOptions, Usage};

use crate::{
    ProviderConfig, ProviderError, RateLimitInfo, Reply, StreamReply, UpstreamMeta, http::client,
};

/// An OpenAI-wire upstream.
#[derive(Debug)]
pub struct OpenAiProvider {
    name: String,
    chat_url: String,
    auth: Option<HeaderValue>,
    client: reqwest::Client,
}

impl OpenAiProvider {
    /// Build the adapter; fails only if the key is not a valid header value.
    pub fn new(cfg: ProviderConfig) -> Result<Self, ProviderError> {
        let auth = match &cfg.api_key {
            Some(key) => {
                let mut v = HeaderValue::from_str(&format!("Bearer {}", key.expose_secret()))
                    .map_err(|_| ProviderError::internal("provider API key is not a valid header"))?;
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        let client = client(cfg.timeouts.connect)
            .map_err(|e| ProviderError::internal(format!("build HTTP client: {e}")))?;
        Ok(OpenAiProvider {
            name: cfg.name,
            chat_url: format!("{}/chat/completions", cfg.base_url.trim_end_matches('/')),
            auth,
            client,
        })
    }

    /// Config name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Non-streaming completion.
    pub async fn chat(&self, req: &ChatRequest, upstream: &str) -> Result<Reply, ProviderError> {
        let mut body = req.clone();
        body.model = upstream.to_owned();
        body.stream = false;
        body.stream_options = None;
        let resp = self.send(&body).await?;
        let meta = meta(&resp);
        let bytes = resp.bytes().await.map_err(|e| ProviderError::from_transport(&e))?;
        let response: ChatResponse = serde_json::from_slice(&bytes).map_err(|e| {
            ProviderError::new(
                crate::ErrorClass::Malformed,
                format!("upstream returned an unreadable completion: {e}"),
            )
        })?;
        let usage = response.usage.as_ref().map(Usage::from_openai).unwrap_or_default();
        Ok(Reply { response, usage, meta })
    }

    /// Streaming completion; always asks the upstream for usage so the gateway can account.
    pub async fn chat_stream(
        &self,
        req: &ChatRequest,
        upstream: &str,
    ) -> Result<StreamReply, ProviderError> {
        let mut body = req.clone();
        body.model = upstream.to_owned();
        body.stream = true;
        let mut opts = body.stream_options.take().unwrap_or_default();
        opts.include_usage = true;
        body.stream_options = Some(StreamOptions { ..opts });
        let resp = self.send(&body).await?;
        let meta = meta(&resp);
        Ok(StreamReply { stream: stream::decode(resp), meta })
    }

    async fn send(&self, body: &ChatRequest) -> Result<reqwest::Response, ProviderError> {
        let bytes = Bytes::from(
            serde_json::to_vec(body)
                .map_err(|e| ProviderError::internal(format!("encode request: {e}")))?,
        );
        let mut rb = self
            .client
            .post(&self.chat_url)
            .header(header::CONTENT_TYPE, "application/json")
            .body(bytes);
        if let Some(auth) = &self.auth {
            rb = rb.header(header::AUTHORIZATION, auth.clone());
        }
        let resp = rb.send().await.map_err(|e| ProviderError::from_transport(&e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        Err(error::from_response(resp).await)
    }
}

fn meta(resp: &reqwest::Response) -> UpstreamMeta {
    UpstreamMeta {
        status: resp.status().as_u16(),
        rate_limit: RateLimitInfo::from_openai_headers(resp.headers()),
    }
}
