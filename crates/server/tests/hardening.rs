//! Slow, careless and hostile clients (issue 17): each test is a defect that was reproduced
//! against the release binary, named after what it checks.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use std::time::Duration;

use serde_json::{json, Value};
use switchyard_sim::{Sim, SimConfig};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// A gateway over a fresh simulator, with `server` as its `[server]` extra keys; returns its
/// base URL (the simulator and server live as long as the test's runtime).
async fn start(server: &str) -> (Sim, String) {
    let sim = Sim::start(SimConfig::instant()).await.unwrap();
    let text = format!(
        r#"
        [server]
        {server}
        [ledger]
        enabled = false
        [[providers]]
        name = "sim"
        kind = "openai-compatible"
        base_url = "{}"
        [[models]]
        name = "sim-cheap"
        provider = "sim"
        [[models]]
        name = "embed"
        provider = "sim"
        upstream = "text-embedding-3-small"
        price = {{ input = 0.02, output = 0 }}
        "#,
        sim.base_url()
    );
    (sim, common::serve(&text).await)
}

/// A stalled request body held a concurrency slot forever: headers with `Content-Length: 100`,
/// one byte, then nothing. Now the client gets a 408 in the OpenAI shape once
/// `server.body_read_timeout` passes.
#[tokio::test]
async fn a_stalled_request_body_gets_408_and_frees_its_slot() {
    let (_sim, url) = start("body_read_timeout = \"300ms\"\nmax_in_flight = 1").await;
    let addr = url.trim_start_matches("http://");
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{",
    )
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
        .await
        .expect("an answer before 5 s")
        .unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");
    assert!(head.contains("body_read_timeout"), "{head}");
    assert!(started.elapsed() < Duration::from_secs(3));
    // The slot is free again: a normal request is served.
    let ok = reqwest::Client::new()
        .post(format!("{url}/v1/chat/completions"))
        .json(&json!({"model": "sim-cheap", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

/// A `text/plain` POST — what any web page can send cross-origin without a preflight — was
/// accepted and billed. Now: 415, and the upstream is never called.
#[tokio::test]
async fn a_non_json_body_is_refused_with_415_before_any_upstream_call() {
    let (sim, url) = start("").await;
    let r = reqwest::Client::new()
        .post(format!("{url}/v1/chat/completions"))
        .header("content-type", "text/plain")
        .body(r#"{"model": "sim-cheap", "messages": [{"role": "user", "content": "hi"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unsupported_media_type", "{body}");
    assert_eq!(sim.calls("sim-cheap"), 0);
}

/// Client-supplied labels were unbounded: a 3 MB `metadata.task` went into the ledger twice.
/// Now a label past 128 bytes (or more than 32 tags) is a 400 naming it.
#[tokio::test]
async fn oversized_client_labels_are_refused() {
    let (sim, url) = start("").await;
    let client = reqwest::Client::new();
    let long = "t".repeat(129);
    let r = client
        .post(format!("{url}/v1/chat/completions"))
        .json(&json!({"model": "sim-cheap", "metadata": {"task": long},
                      "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("task")),
        "{body}"
    );
    let tags = vec!["a"; 33].join(",");
    let r = client
        .post(format!("{url}/v1/chat/completions"))
        .header("x-switchyard-tags", tags)
        .json(&json!({"model": "sim-cheap", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(sim.calls("sim-cheap"), 0);
}

/// One embeddings request with 16,000 inputs could take the process down. Now more than
/// `server.max_embedding_inputs` (default 2,048, OpenAI's own limit) is a 400.
#[tokio::test]
async fn too_many_embedding_inputs_are_refused() {
    let (sim, url) = start("").await;
    let inputs: Vec<String> = (0..2049).map(|i| format!("x{i}")).collect();
    let r = reqwest::Client::new()
        .post(format!("{url}/v1/embeddings"))
        .json(&json!({"model": "embed", "input": inputs}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["param"], "input", "{body}");
    assert_eq!(sim.calls("text-embedding-3-small"), 0);
}

/// A one-shot-per-connection upstream that answers every request with `status` and `body`.
async fn canned_upstream(status: u16, body: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let _ = tcp.read(&mut buf).await;
                let resp = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tcp.write_all(resp.as_bytes()).await;
            });
        }
    });
    url
}

/// Upstream error text reached clients unredacted: an upstream echoing the key in a 400 passed
/// it through, and a 401 carried the upstream's own code instead of `upstream_auth`.
#[tokio::test]
async fn upstream_error_text_never_carries_a_credential_to_the_client() {
    let bad = canned_upstream(
        400,
        r#"{"error":{"message":"Incorrect API key provided: sk-test-SECRET0123456789abcdef (Bearer sk-test-SECRET0123456789abcdef)","type":"invalid_request_error","code":"invalid_api_key"}}"#,
    )
    .await;
    let auth = canned_upstream(
        401,
        r#"{"error":{"message":"Incorrect API key provided: sk-test-SECRET0123456789abcdef","type":"invalid_request_error","code":"invalid_api_key"}}"#,
    )
    .await;
    let text = format!(
        r#"
        [ledger]
        enabled = false
        [[providers]]
        name = "bad"
        kind = "openai-compatible"
        base_url = "{bad}"
        [[providers]]
        name = "auth"
        kind = "openai-compatible"
        base_url = "{auth}"
        [[models]]
        name = "echoes"
        provider = "bad"
        price = {{ input = 1, output = 1 }}
        [[models]]
        name = "rejects"
        provider = "auth"
        price = {{ input = 1, output = 1 }}
        "#
    );
    let url = common::serve(&text).await;
    let client = reqwest::Client::new();
    for (model, code) in [("echoes", "invalid_api_key"), ("rejects", "upstream_auth")] {
        let r = client
            .post(format!("{url}/v1/chat/completions"))
            .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        let body = r.text().await.unwrap();
        assert!(!body.contains("SECRET"), "{model}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"]["code"], code, "{body}");
    }
}

/// Upstream response bodies were read without a size limit. Now an answer past 64 MiB is
/// refused as malformed (502) without being read.
#[tokio::test]
async fn an_oversized_upstream_answer_is_refused_not_read() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let _ = tcp.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100000000\r\n\r\n{\"id\":";
                let _ = tcp.write_all(head.as_bytes()).await;
                // Never send the rest: a gateway that reads it whole would wait.
                tokio::time::sleep(Duration::from_secs(30)).await;
            });
        }
    });
    let text = format!(
        r#"
        [ledger]
        enabled = false
        [[providers]]
        name = "huge"
        kind = "openai-compatible"
        base_url = "{upstream}"
        [[models]]
        name = "huge"
        provider = "huge"
        price = {{ input = 1, output = 1 }}
        "#
    );
    let url = common::serve(&text).await;
    let r = reqwest::Client::new()
        .post(format!("{url}/v1/chat/completions"))
        .timeout(Duration::from_secs(10))
        .json(&json!({"model": "huge", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "malformed", "{body}");
}

/// Read from `tcp` until it closes (or 5 s pass): `true` if the server closed it.
async fn closed_by_server(tcp: &mut TcpStream) -> bool {
    let mut buf = vec![0u8; 4096];
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match tokio::time::timeout(left, tcp.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// No header-read or idle timeout was set (hyper's timer was missing): slowloris connections
/// stayed open forever. Now a connection that does not finish its headers in time is closed.
#[tokio::test]
async fn a_slowloris_connection_is_closed_after_the_header_read_timeout() {
    let (_sim, url) = start("header_read_timeout = \"300ms\"").await;
    let mut tcp = TcpStream::connect(url.trim_start_matches("http://"))
        .await
        .unwrap();
    tcp.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    assert!(closed_by_server(&mut tcp).await, "still open after 5 s");
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// Idle connections were unbounded: enough of them exhausted file descriptors and took the
/// health endpoint down. Now past `server.max_connections` a new connection is closed at once.
#[tokio::test]
async fn connections_past_the_cap_are_closed_at_once() {
    let (_sim, url) = start("max_connections = 2\nheader_read_timeout = \"30s\"").await;
    let addr = url.trim_start_matches("http://").to_owned();
    let _a = TcpStream::connect(&addr).await.unwrap();
    let _b = TcpStream::connect(&addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut c = TcpStream::connect(&addr).await.unwrap();
    let _ = c
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await;
    assert!(
        closed_by_server(&mut c).await,
        "the third connection was served"
    );
    drop((_a, _b));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ok = reqwest::get(format!("{url}/healthz")).await.unwrap();
    assert_eq!(ok.status(), 200, "a place frees when a connection closes");
}

/// Valid requests were refused: an integer field sent as a whole float (`493824.0`, as
/// JavaScript clients do) was a 400.
#[tokio::test]
async fn whole_numbers_sent_as_floats_are_accepted() {
    let (_sim, url) = start("").await;
    let r = reqwest::Client::new()
        .post(format!("{url}/v1/chat/completions"))
        .json(&json!({"model": "sim-cheap", "max_tokens": 16.0, "n": 1.0,
                      "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = reqwest::Client::new()
        .post(format!("{url}/v1/chat/completions"))
        .json(&json!({"model": "sim-cheap", "max_tokens": 16.5,
                      "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "a fraction is still refused");
}

/// `/v1/messages` dropped content blocks it did not model (the client then saw a misleading
/// upstream error), and a string `input_schema` became a tool call with `"input": null`. Now
/// an unsupported block or a non-object schema is a 400 in Anthropic's shape, naming it.
#[tokio::test]
async fn messages_ingress_refuses_what_it_cannot_serve_and_names_it() {
    let (sim, url) = start("").await;
    let client = reqwest::Client::new();
    let post = |body: Value| {
        client
            .post(format!("{url}/v1/messages"))
            .header("anthropic-version", "2023-06-01")
            .json(&body)
            .send()
    };
    let r = post(json!({"model": "sim-cheap", "max_tokens": 16,
        "messages": [{"role": "user", "content": [{"type": "mystery_block", "x": 1}]}]}))
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["type"], "error", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("messages[0].content")),
        "{body}"
    );
    let r = post(json!({"model": "sim-cheap", "max_tokens": 16,
        "tools": [{"name": "f", "input_schema": "{\"type\": \"object\"}"}],
        "messages": [{"role": "user", "content": "hi"}]}))
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("tools[0].input_schema")),
        "{body}"
    );
    assert_eq!(sim.calls("sim-cheap"), 0);
}

/// OpenAI custom tools (`"type": "custom"`) were refused with "missing field `function`". Now
/// they are passed through to OpenAI-wire upstreams unchanged.
#[tokio::test]
async fn custom_tools_pass_through_to_openai_upstreams() {
    let (sim, url) = start("").await;
    let tool =
        json!({"type": "custom", "custom": {"name": "code_exec", "description": "Runs Python"}});
    let r = reqwest::Client::new()
        .post(format!("{url}/v1/chat/completions"))
        .json(&json!({"model": "sim-cheap", "tools": [tool],
                      "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body = r.text().await.unwrap();
    assert!(!body.contains("missing field"), "{body}");
    let sent = sim.requests();
    let last = sent.last().expect("the upstream was called");
    assert_eq!(
        last.body["tools"][0], tool,
        "forwarded unchanged (status {status})"
    );
}

/// Requests the OpenAI spec allows were refused with 400 (found by schemathesis): `stream: null`,
/// a `custom` or `allowed_tools` tool choice, a custom tool's call in the conversation, and
/// embeddings `dimensions` as a whole float. Now they are accepted and forwarded unchanged.
#[tokio::test]
async fn requests_the_openai_spec_allows_are_accepted() {
    let (sim, url) = start("").await;
    let client = reqwest::Client::new();
    let post = |path: &'static str, body: Value| {
        client.post(format!("{url}/v1/{path}")).json(&body).send()
    };
    let hi = json!([{"role": "user", "content": "hi"}]);
    let r = post(
        "chat/completions",
        json!({"model": "sim-cheap", "messages": hi, "stream": null}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    let custom = json!({"type": "custom", "custom": {"name": "grep"}});
    let choices = [
        json!({"type": "custom", "custom": {"name": "grep"}}),
        json!({"type": "allowed_tools", "allowed_tools": {"mode": "auto",
               "tools": [{"type": "custom", "custom": {"name": "grep"}}]}}),
    ];
    for choice in choices {
        let r = post(
            "chat/completions",
            json!({"model": "sim-cheap", "messages": hi,
                     "tools": [custom], "tool_choice": choice}),
        )
        .await
        .unwrap();
        let body = r.text().await.unwrap();
        assert!(!body.contains("untagged enum"), "{body}");
        let sent = sim.requests();
        assert_eq!(sent.last().unwrap().body["tool_choice"], choice, "{body}");
    }

    let call =
        json!({"id": "call_1", "type": "custom", "custom": {"name": "grep", "input": "foo"}});
    let r = post(
        "chat/completions",
        json!({"model": "sim-cheap", "tools": [custom],
        "messages": [{"role": "user", "content": "hi"},
                     {"role": "assistant", "content": null, "tool_calls": [call]},
                     {"role": "tool", "tool_call_id": "call_1", "content": "bar"}]}),
    )
    .await
    .unwrap();
    let body = r.text().await.unwrap();
    assert!(!body.contains("missing field"), "{body}");
    assert_eq!(
        sim.requests().last().unwrap().body["messages"][1]["tool_calls"][0],
        call
    );

    let r = post(
        "embeddings",
        json!({"model": "sim-cheap", "input": "hi", "dimensions": 8.0}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// A body over `max_body_bytes` got a 413 only clients that read while sending could see
/// (Python's urllib got a broken pipe: the connection closed while it was still sending). Now
/// the rest is drained (bounded) before the 413, so a client that sends everything first reads it.
#[tokio::test]
async fn an_oversized_body_gets_a_413_the_client_can_read() {
    let (_sim, url) = start("max_body_bytes = 65536").await;
    let mut tcp = TcpStream::connect(url.trim_start_matches("http://"))
        .await
        .unwrap();
    let body = vec![b'x'; 40 << 20];
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(&body)
        .await
        .expect("the whole body is accepted");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
        .await
        .expect("an answer")
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

/// CORS is answered deliberately: no origin is allowed unless configured, and a configured one
/// gets its preflight answered.
#[tokio::test]
async fn cors_is_off_unless_origins_are_configured() {
    let preflight = |url: String, origin: &'static str| async move {
        reqwest::Client::new()
            .request(
                reqwest::Method::OPTIONS,
                format!("{url}/v1/chat/completions"),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,authorization",
            )
            .send()
            .await
            .unwrap()
    };
    let (_a, closed) = start("").await;
    let r = preflight(closed, "https://evil.example").await;
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let (_b, open) = start("cors_origins = [\"https://app.example\"]").await;
    let r = preflight(open.clone(), "https://app.example").await;
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let r = preflight(open, "https://evil.example").await;
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

/// A connection that sends nothing at all held its place forever (hyper's header timer starts
/// at the first byte). Now it is closed after `server.header_read_timeout`.
#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed() {
    let (_sim, url) = start("header_read_timeout = \"300ms\"").await;
    let mut tcp = TcpStream::connect(url.trim_start_matches("http://"))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    assert!(closed_by_server(&mut tcp).await, "still open after 5 s");
    assert!(started.elapsed() < Duration::from_secs(3));
}
