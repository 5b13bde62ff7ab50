//! Provider keys never appear in logs (at debug level), error bodies, metrics, the health
//! endpoint or the ledger, whatever happens upstream.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::process::Command;

mod common;

const KEY: &str = "sk-live-SECRET-0123456789abcdef";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_keys_never_leak() {
    let common::Served {
        mut child,
        base,
        dir,
        ledger: db,
        log,
    } = common::serve(
        "secrets",
        r#"
            [ledger]
            url = "sqlite://{LEDGER}"
            flush_interval = "10ms"
            [[providers]]
            name = "sim"
            kind = "sim"
            api_key_env = "SY_TEST_PROVIDER_KEY"
            [[models]]
            name = "ok"
            provider = "sim"
            upstream = "sim-cheap"
            [[models]]
            name = "broken"
            provider = "sim"
            upstream = "sim-500"
            [[models]]
            name = "rejected"
            provider = "sim"
            upstream = "sim-policy"
            [[models]]
            name = "cut"
            provider = "sim"
            upstream = "sim-cut-3"
            "#,
        &[("SY_TEST_PROVIDER_KEY", KEY), ("SWITCHYARD_LOG", "debug")],
    )
    .await;
    let client = reqwest::Client::new();
    let mut seen = String::new();
    for (model, stream) in [
        ("ok", false),
        ("ok", true),
        ("broken", false),
        ("rejected", false),
        ("cut", true),
        ("nope", false),
    ] {
        let resp = client
            .post(format!("{base}/v1/chat/completions"))
            .header("authorization", format!("Bearer {KEY}"))
            .json(&serde_json::json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        seen.push_str(&format!("{:?}", resp.headers()));
        seen.push_str(&resp.text().await.unwrap());
    }
    for path in ["/metrics", "/admin/health", "/v1/models"] {
        seen.push_str(
            &client
                .get(format!("{base}{path}"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());

    assert!(!seen.contains(KEY), "a response carried the key");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("request"),
        "the gateway logged its requests: {logged}"
    );
    assert!(!logged.contains(KEY), "the log carried the key");
    let ledger = std::fs::read(&db).unwrap();
    assert!(
        !String::from_utf8_lossy(&ledger).contains(KEY),
        "the ledger carried the key"
    );
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(KEY),
            "{} carried the key",
            path.display()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
