//! The per-request translation work, each step alone: reading a client's OpenAI body into the
//! canonical request, writing it as an Anthropic or Gemini wire body, reading an Anthropic
//! client's body, and decoding an upstream SSE stream (40 chunks, in 1 KB network reads).
//!
//! `cargo bench -p switchyard-providers --bench translate` (results: docs/benchmarks.md)

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a benchmark's setup may panic"
)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use switchyard_providers::{anthropic, gemini, sse};
use switchyard_types::ChatRequest;

/// A realistic request: a system prompt, three turns, one tool, sampling settings (~1.5 KB).
fn openai_body() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "model": "auto",
        "temperature": 0.2,
        "max_tokens": 512,
        "messages": [
            {"role": "system", "content": "You are a support assistant for an online shop. Answer briefly, cite the order id, and never invent a refund policy. ".repeat(4)},
            {"role": "user", "content": "My order 8812 arrived damaged: the box was crushed and the mug inside is broken. What can I do?"},
            {"role": "assistant", "content": "I am sorry to hear that. Could you tell me whether you would like a replacement or a refund?"},
            {"role": "user", "content": "A replacement please, and can you check when it would arrive?"}
        ],
        "tools": [{"type": "function", "function": {"name": "lookup_order", "description": "Look up an order by id",
            "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}}]
    }))
    .unwrap()
}

fn anthropic_body() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "model": "auto",
        "max_tokens": 512,
        "system": "You are a support assistant for an online shop. Answer briefly.",
        "messages": [
            {"role": "user", "content": "My order 8812 arrived damaged. What can I do?"},
            {"role": "assistant", "content": [{"type": "text", "text": "Replacement or refund?"}]},
            {"role": "user", "content": "A replacement please."}
        ]
    }))
    .unwrap()
}

/// An OpenAI stream of 40 content chunks and a usage chunk, as upstream bytes.
fn stream_bytes() -> Vec<u8> {
    let mut s = String::new();
    for i in 0..40 {
        s.push_str(&format!(
            "data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"token{i} \"}},\"finish_reason\":null}}]}}\n\n"
        ));
    }
    s.push_str("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":40,\"total_tokens\":60}}\n\ndata: [DONE]\n\n");
    s.into_bytes()
}

fn bench(c: &mut Criterion) {
    let body = openai_body();
    let req: ChatRequest = serde_json::from_slice(&body).unwrap();
    c.bench_function("parse OpenAI request (1.5 KB)", |b| {
        b.iter(|| serde_json::from_slice::<ChatRequest>(black_box(&body)).unwrap())
    });
    c.bench_function("canonical -> Anthropic wire body (bytes)", |b| {
        b.iter(|| {
            let enc =
                anthropic::convert::encode_request(black_box(&req), "claude", Some(1024)).unwrap();
            serde_json::to_vec(&enc.body).unwrap()
        })
    });
    c.bench_function("canonical -> Gemini wire body (bytes)", |b| {
        b.iter(|| serde_json::to_vec(&gemini::convert::to_wire(black_box(&req)).unwrap()).unwrap())
    });
    let abody = anthropic_body();
    c.bench_function("parse Anthropic client request", |b| {
        b.iter(|| anthropic::ingress::parse_request(black_box(&abody)).unwrap())
    });
    let stream = stream_bytes();
    c.bench_function("SSE decode: 41 events in 1 KB reads", |b| {
        b.iter(|| {
            let mut d = sse::Decoder::new();
            let mut n = 0;
            for chunk in black_box(&stream).chunks(1024) {
                d.push(chunk);
                while let Some(e) = d.next_event().unwrap() {
                    n += e.data.len();
                }
            }
            n
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
