//! One test per vendor family: what each vendor's usage fields include, read by the adapter
//! into switchyard's normalised [`Usage`] (every token in exactly one priced bucket). The same
//! table, in words, is in `docs/pricing.md` ("Usage semantics by vendor").

use serde_json::{json, Value};
use switchyard_types::{Usage, WireUsage};

use crate::vendor::openai_dialect;

fn openai_shaped(vendor: &str, body: Value) -> Usage {
    let w: WireUsage = serde_json::from_value(body).expect("usage");
    Usage::from_openai(&w, openai_dialect(vendor))
}

fn u(input: u64, cache_read: u64, cw5: u64, cw1h: u64, output: u64, reasoning: u64) -> Usage {
    Usage {
        input,
        cache_read,
        cache_write_5m: cw5,
        cache_write_1h: cw1h,
        output,
        reasoning,
        ..Usage::default()
    }
}

#[test]
fn openai_prompt_tokens_include_cache_reads_and_writes_completion_includes_reasoning() {
    let got = openai_shaped(
        "openai",
        json!({"prompt_tokens": 5000, "completion_tokens": 900,
               "prompt_tokens_details": {"cached_tokens": 3000, "cache_write_tokens": 1500},
               "completion_tokens_details": {"reasoning_tokens": 600}}),
    );
    assert_eq!(got, u(500, 3000, 1500, 0, 900, 600));
}

#[test]
fn openai_audio_tokens_are_a_subset_of_prompt_and_completion_tokens() {
    let got = openai_shaped(
        "openai",
        json!({"prompt_tokens": 1000, "completion_tokens": 400,
               "prompt_tokens_details": {"audio_tokens": 700},
               "completion_tokens_details": {"audio_tokens": 300}}),
    );
    let want = Usage {
        input_audio: 700,
        output_audio: 300,
        ..u(1000, 0, 0, 0, 400, 0)
    };
    assert_eq!(got, want);
}

#[test]
fn azure_and_openrouter_read_like_openai() {
    for vendor in [
        "azure-openai",
        "openrouter",
        "groq",
        "deepseek",
        "mistral",
        "together_ai",
    ] {
        let got = openai_shaped(
            vendor,
            json!({"prompt_tokens": 200, "completion_tokens": 50,
                   "prompt_tokens_details": {"cached_tokens": 100, "cache_write_tokens": 20},
                   "completion_tokens_details": {"reasoning_tokens": 10}}),
        );
        assert_eq!(got, u(80, 100, 20, 0, 50, 10), "{vendor}");
    }
}

#[test]
fn xai_reports_reasoning_beside_completion_tokens() {
    let got = openai_shaped(
        "xai",
        json!({"prompt_tokens": 300, "completion_tokens": 40,
               "prompt_tokens_details": {"cached_tokens": 100},
               "completion_tokens_details": {"reasoning_tokens": 260}}),
    );
    assert_eq!(got, u(200, 100, 0, 0, 300, 260));
}

#[test]
fn anthropic_input_tokens_exclude_cache_reads_and_writes() {
    let w: crate::anthropic::wire::AnthropicUsage = serde_json::from_value(json!({
        "input_tokens": 50, "output_tokens": 200,
        "cache_read_input_tokens": 4000, "cache_creation_input_tokens": 3000,
        "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 1500}
    }))
    .expect("usage");
    // 500 written tokens are not in the TTL breakdown: billed at the default (5-minute) rate.
    assert_eq!(
        crate::anthropic::convert::usage(&w),
        u(50, 4000, 1500, 1500, 200, 0)
    );
}

#[test]
fn gemini_prompt_count_includes_cached_and_candidates_exclude_thoughts() {
    let w: crate::gemini::wire::UsageMetadata = serde_json::from_value(json!({
        "promptTokenCount": 10000, "cachedContentTokenCount": 6000,
        "candidatesTokenCount": 300, "thoughtsTokenCount": 700, "toolUsePromptTokenCount": 50,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 7000},
                                {"modality": "AUDIO", "tokenCount": 3000}],
        "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 5000},
                               {"modality": "AUDIO", "tokenCount": 1000}],
        "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 300}]
    }))
    .expect("usage");
    let want = Usage {
        input_audio: 2000,
        cache_read_audio: 1000,
        ..u(4050, 6000, 0, 0, 1000, 700)
    };
    assert_eq!(crate::gemini::convert::usage(&w), want);
}

#[test]
fn bedrock_input_tokens_exclude_cache_and_cache_details_split_writes_by_ttl() {
    let w: crate::bedrock::wire::TokenUsage = serde_json::from_value(json!({
        "inputTokens": 120, "outputTokens": 40, "totalTokens": 2460,
        "cacheReadInputTokens": 2000, "cacheWriteInputTokens": 300,
        "cacheDetails": [{"ttl": "1h", "inputTokens": 200}]
    }))
    .expect("usage");
    assert_eq!(
        crate::bedrock::convert::usage(&w),
        u(120, 2000, 100, 200, 40, 0)
    );
}
