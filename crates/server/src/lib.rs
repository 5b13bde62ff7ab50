//! The switchyard HTTP gateway: ingress endpoints, the request path from parse to response,
//! error → HTTP mapping, and the live configuration.
//!
//! [`config::load`] reads and validates a config file, [`Gateway::start`] builds the live
//! state (provider clients, the embedded simulator when the config asks for it) and
//! [`app::router`] the axum app. Only this crate knows axum and HTTP status codes.

mod answer_cache;
pub mod app;
pub mod audit;
mod batches;
mod chat;
pub mod config;
mod counts;
mod dashboard;
mod embeddings;
mod error;
mod feedback;
mod gemini;
pub mod keys;
mod limits;
mod live;
mod messages;
pub mod metrics;
mod respond;
mod responses;
mod sse;
mod telemetry;

pub use error::{ApiError, Shape};
pub use live::{
    check, ledger_url, spawn_audits, watch_config, ConfigWatch, Gateway, GatewayHandle, Reload,
    SecretLookup,
};
