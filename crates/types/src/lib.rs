//! The canonical model of switchyard: what a chat request, response, stream chunk and token
//! usage look like inside the gateway, whatever API the client or the provider speaks.
//!
//! The shape follows OpenAI Chat Completions (the API most clients speak), with every struct
//! keeping unknown fields in an `extra` map so that a request passed to an OpenAI-family
//! upstream loses nothing. Token usage is normalised separately in [`Usage`], so that each
//! provider's counting convention is translated exactly once.
//!
//! Invariant: this crate performs no IO and knows no provider URL.

mod chat;
mod embeddings;
mod stream;
mod usage;
mod whole;

pub use chat::*;
pub use embeddings::*;
pub use stream::*;
pub use usage::*;

/// A JSON object, as used for pass-through fields.
pub type JsonMap = serde_json::Map<String, serde_json::Value>;
