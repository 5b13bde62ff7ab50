//! The provider simulator: OpenAI-compatible endpoints with scripted latency, errors, rate
//! limits, outages and stream faults, deterministic answers and recorded requests.
//!
//! Used by `switchyard sim`, by the gateway's embedded demo, by integration tests, and as the
//! upstream of load tests.
//!
//! ```no_run
//! # async fn f() -> std::io::Result<()> {
//! let sim = switchyard_sim::Sim::start(switchyard_sim::SimConfig::instant()).await?;
//! let base = sim.base_url(); // http://127.0.0.1:PORT/v1
//! // POST {base}/chat/completions with model "sim-cheap", "sim-500-once", "sim-cut-5", ...
//! # drop(base); sim.shutdown().await; Ok(()) }
//! ```
//!
//! Endpoints: OpenAI Chat Completions (`POST /v1/chat/completions`) and Responses
//! (`POST /v1/responses`; both also without `/v1`), embeddings, files and batches, models;
//! Anthropic Messages (`/v1/messages`, `count_tokens`, message batches); Gemini
//! (`/v1beta/models/{model}:generateContent`, `:streamGenerateContent`,
//! `:batchEmbedContents`); Bedrock Converse (`/model/{id}/converse`, `/converse-stream`); Azure
//! OpenAI deployments. Reasoning state is provider-bound as at the real APIs: Anthropic thinking
//! blocks carry a signature, and Responses reasoning items carry encrypted content for one
//! model ([`reasoning_encrypted_content`]); either is refused when it comes back altered or
//! (for Responses) to another model.
//!
//! Layout: [`config`] (TOML) → `model` (profiles, counters) → `engine` (format-neutral
//! deterministic answers) → `openai` (wire decode/encode; Chat Completions and Responses
//! share one handler body and differ only in decoding and encoding). A new wire format
//! (Anthropic Messages, Gemini) is a sibling of `openai` that reuses `model` and `engine`.
//! The fault grammar is documented in [`faults`].

mod anthropic;
mod azure;
mod batch;
mod bedrock;
pub mod config;
mod embed;
pub mod engine;
pub mod faults;
mod gemini;
mod model;
mod openai;
mod playback;
mod ratelimit;
mod server;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

pub use config::{ModelConfig, OutageConfig, SimConfig, SimError};
pub use faults::{Fault, FaultSpec};
pub use openai::responses::reasoning_encrypted_content;
pub use server::{RecordedRequest, Sim, SimState};

/// The simulator's routes over shared state (for embedding in another axum app). Served this
/// way rather than by [`Sim`], the `reset` fault degrades to a dropped body after the headers.
pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/chat/completions", post(openai::chat_completions))
        .route("/v1/responses", post(openai::responses::responses))
        .route("/responses", post(openai::responses::responses))
        .route("/v1/messages", post(anthropic::messages))
        .route("/v1/messages/count_tokens", post(anthropic::count_tokens))
        .route("/model/{model_id}/converse", post(bedrock::converse))
        .route(
            "/model/{model_id}/converse-stream",
            post(bedrock::converse_stream),
        )
        .route("/v1beta/models/{*rest}", post(gemini::models))
        .route("/v1/embeddings", post(embed::embeddings))
        .route("/embeddings", post(embed::embeddings))
        .route(
            "/openai/deployments/{deployment}/chat/completions",
            post(azure::chat_completions),
        )
        .route(
            "/openai/deployments/{deployment}/embeddings",
            post(azure::embeddings),
        )
        .route("/v1/files", post(batch::upload))
        .route("/v1/files/{id}", get(batch::file))
        .route("/v1/files/{id}/content", get(batch::content))
        .route("/v1/batches", post(batch::create))
        .route("/v1/batches/{id}", get(batch::get))
        .route("/v1/batches/{id}/cancel", post(batch::cancel))
        .route("/v1/messages/batches", post(batch::messages_create))
        .route("/v1/messages/batches/{id}", get(batch::messages_get))
        .route(
            "/v1/messages/batches/{id}/results",
            get(batch::messages_results),
        )
        .route(
            "/v1/messages/batches/{id}/cancel",
            post(batch::messages_cancel),
        )
        .route("/v1/models", get(openai::list_models))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(openai::not_found)
        .with_state(state)
}

/// Serve until ctrl-c (the `switchyard sim` command).
pub async fn run(cfg: SimConfig) -> std::io::Result<()> {
    let sim = Sim::start(cfg).await?;
    tracing::info!(base_url = %sim.base_url(), "simulator ready; ctrl-c to stop");
    tokio::signal::ctrl_c().await?;
    sim.shutdown().await;
    Ok(())
}
