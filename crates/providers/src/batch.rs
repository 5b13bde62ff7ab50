//! Providers' batch APIs behind one interface: OpenAI's Batch API (a JSONL file, a batch on
//! it, output and error files) and Anthropic's Message Batches (the requests in one JSON body,
//! results as JSONL). The gateway's batch worker submits lines, polls, and reads canonical
//! answers from here; it never sees a provider's batch format.
//!
//! Line ids on the wire are the gateway's own (`[A-Za-z0-9_-]`, as Anthropic requires): a
//! client's `custom_id` never reaches a provider.

use std::collections::BTreeMap;

use serde_json::Value;
use switchyard_types::{ChatRequest, ChatResponse, Usage};

use crate::{AnthropicProvider, CallCx, OpenAiProvider, ProviderError};

/// A provider's batch API.
#[derive(Debug, Clone, Copy)]
pub enum BatchApi<'a> {
    /// OpenAI's Files + Batch APIs (OpenAI, compatible vendors that implement them, the
    /// simulator).
    OpenAi(&'a OpenAiProvider),
    /// Anthropic's Message Batches.
    Anthropic(&'a AnthropicProvider),
}

/// A created provider batch.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// The provider's batch id.
    pub id: String,
    /// What reading a line's answer needs besides the answer, by line id (Anthropic: the tool
    /// that emulates JSON mode). Kept with the batch until its results are read.
    pub hints: BTreeMap<String, String>,
}

/// A provider batch's state.
#[derive(Debug)]
pub enum Poll {
    /// Still being worked on.
    Running,
    /// Ended (`status` as the provider says it), with every line the provider reported. A line
    /// it did not report was not answered: expired when the batch `expired`, failed otherwise.
    Ended {
        /// The provider's final status (`completed`, `expired`, `cancelled`, `ended`, …).
        status: String,
        /// Each reported line.
        lines: Vec<LineResult>,
    },
}

/// One line's result.
#[derive(Debug)]
pub struct LineResult {
    /// The line id given at submission.
    pub id: String,
    /// What became of it.
    pub outcome: LineOutcome,
}

/// What became of one line.
#[derive(Debug)]
pub enum LineOutcome {
    /// Answered: the canonical answer and its usage.
    Answered(Box<ChatResponse>, Usage),
    /// The provider failed it: an HTTP-like status and the provider's error body.
    Failed {
        /// The status the line's request got (500 when the provider gave none).
        status: u16,
        /// The provider's error, as it gave it.
        body: Value,
    },
    /// The batch's window ran out before the line was run.
    Expired,
    /// The batch was cancelled before the line was run.
    Cancelled,
}

impl BatchApi<'_> {
    /// Create a batch of `lines` (line id, request already adjusted for the deployment) for
    /// the model in `call`.
    pub async fn submit(
        &self,
        lines: &[(String, &ChatRequest)],
        call: CallCx<'_>,
    ) -> Result<Submitted, ProviderError> {
        match self {
            BatchApi::OpenAi(p) => p.submit_batch(lines, call).await,
            BatchApi::Anthropic(p) => p.submit_batch(lines, call).await,
        }
    }

    /// The batch's state; its lines once it ended. `hints` as returned by [`Self::submit`].
    pub async fn poll(
        &self,
        id: &str,
        hints: &BTreeMap<String, String>,
    ) -> Result<Poll, ProviderError> {
        match self {
            BatchApi::OpenAi(p) => p.poll_batch(id).await,
            BatchApi::Anthropic(p) => p.poll_batch(id, hints).await,
        }
    }

    /// Ask the provider to cancel the batch (lines already run are still reported).
    pub async fn cancel(&self, id: &str) -> Result<(), ProviderError> {
        match self {
            BatchApi::OpenAi(p) => p.cancel_batch(id).await,
            BatchApi::Anthropic(p) => p.cancel_batch(id).await,
        }
    }
}
