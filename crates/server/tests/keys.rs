//! Gateway keys across two replicas sharing one ledger database: open until a key exists, then
//! a 401 in each client's API shape without one; the tenant and key id come from the key;
//! granted routes only; a revocation on one replica reaches the other within seconds; the key
//! text is nowhere in the database; the admin endpoints need the admin token.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use std::{sync::Arc, time::Duration};

use serde_json::{json, Value};
use switchyard_sim::{Sim, SimConfig};

const ADMIN: &str = "admin-token-for-tests";

async fn replica(sim: &str, ledger: &str, admin: bool) -> String {
    let text = format!(
        r#"
        [server]
        {}
        [ledger]
        url = "{ledger}"
        flush_interval = "5ms"
        [[providers]]
        name = "sim"
        kind = "openai-compatible"
        base_url = "{sim}"
        [[models]]
        name = "cheap"
        provider = "sim"
        upstream = "sim-cheap"
        price = {{ input = 0.10, output = 0.40 }}
        [[routes]]
        name = "chat"
        candidates = ["cheap"]
        "#,
        if admin {
            r#"admin_token_env = "ADMIN_TOKEN""#
        } else {
            ""
        }
    );
    let secrets = Arc::new(|v: &str| (v == "ADMIN_TOKEN").then(|| ADMIN.to_owned()));
    common::start_with_secrets(&text, secrets).await.1
}

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "Hi"}]})
}

/// Poll `check` every 100 ms for up to 6 s (a replica reloads keys every 2 s).
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..60 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: not within 6 s");
}

#[tokio::test]
async fn keys_hold_across_replicas_and_the_admin_endpoints_need_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("l.db");
    let ledger = format!("sqlite://{}", db.display());
    let sim = Sim::start(SimConfig::instant()).await.unwrap();
    let a = replica(&sim.base_url(), &ledger, true).await;
    let b = replica(&sim.base_url(), &ledger, false).await;
    let http = reqwest::Client::new();
    let post = |url: String, body: Value, key: Option<&str>| {
        let mut rb = http.post(url).json(&body);
        if let Some(k) = key {
            rb = rb.bearer_auth(k);
        }
        rb.send()
    };

    // No keys: open, admin endpoints too.
    assert_eq!(
        post(format!("{b}/v1/chat/completions"), chat("chat"), None)
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        http.get(format!("{b}/admin/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Creating a key needs the admin token on a replica that has one.
    let new = json!({"name": "acme", "team": "eng"});
    let r = http
        .post(format!("{a}/admin/keys"))
        .json(&new)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
    let created: Value = http
        .post(format!("{a}/admin/keys"))
        .bearer_auth(ADMIN)
        .json(&new)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    let key_id = created["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with("sy-") && key_id.starts_with("key_"));

    // Both replicas now refuse a request without a key, each in its client's API shape.
    eventually("replica b requires keys", async || {
        post(format!("{b}/v1/chat/completions"), chat("chat"), None)
            .await
            .unwrap()
            .status()
            == 401
    })
    .await;
    let r = post(
        format!("{a}/v1/chat/completions"),
        chat("chat"),
        Some("sy-wrong"),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "invalid_api_key"
    );
    let r = http
        .post(format!("{b}/v1/messages"))
        .header("x-api-key", "sy-wrong")
        .json(&json!({"model": "chat", "max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let e: Value = r.json().await.unwrap();
    assert_eq!(
        (e["type"].as_str(), e["error"]["type"].as_str()),
        (Some("error"), Some("authentication_error"))
    );
    let r = http
        .post(format!("{b}/v1beta/models/chat:generateContent"))
        .json(&json!({"contents": [{"parts": [{"text": "Hi"}]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["status"],
        "UNAUTHENTICATED"
    );

    // With the key, on either replica and in any of the places clients put it; the tenant is
    // the key's, whatever the client writes.
    let r = http
        .post(format!("{b}/v1/chat/completions"))
        .bearer_auth(&key)
        .header("x-switchyard-tenant", "someone-else")
        .json(&chat("chat"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = r.headers()["x-switchyard-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let row = common::ledger_row(&ledger, &id).await;
    assert_eq!(
        (row.tenant.as_str(), row.key_id.as_deref()),
        ("acme", Some(key_id.as_str()))
    );
    let r = http
        .post(format!("{a}/v1beta/models/chat:generateContent"))
        .header("x-goog-api-key", &key)
        .json(&json!({"contents": [{"parts": [{"text": "Hi"}]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // A key granted one route may use only that route.
    let narrow: Value = http
        .post(format!("{a}/admin/keys"))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "narrow", "routes": ["chat"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let narrow_key = narrow["key"].as_str().unwrap();
    assert_eq!(
        post(
            format!("{a}/v1/chat/completions"),
            chat("chat"),
            Some(narrow_key)
        )
        .await
        .unwrap()
        .status(),
        200
    );
    let r = post(
        format!("{a}/v1/chat/completions"),
        chat("cheap"),
        Some(narrow_key),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 403);

    // A key pinned to a route gets it whatever it names, with its tags; a key's region is a
    // hard constraint (no candidate here is in `eu`).
    let create = |body: Value| {
        let http = http.clone();
        let a = a.clone();
        async move {
            let v: Value = http
                .post(format!("{a}/admin/keys"))
                .bearer_auth(ADMIN)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["key"].as_str().unwrap().to_owned()
        }
    };
    let vip = create(json!({"name": "vip", "pin_route": "chat", "tags": ["vip"]})).await;
    let r = post(
        format!("{a}/v1/chat/completions"),
        chat("cheap"),
        Some(&vip),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-switchyard-route"], "chat");
    let id = r.headers()["x-switchyard-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(common::ledger_row(&ledger, &id)
        .await
        .tags
        .contains(&"vip".to_owned()));
    let eu = create(json!({"name": "eu-only", "region": "eu"})).await;
    let r = post(format!("{a}/v1/chat/completions"), chat("chat"), Some(&eu))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "no_eligible_candidate"
    );

    // The admin endpoints: the token as bearer or as a browser's Basic password; a replica
    // without a token keeps them closed once keys exist.
    assert_eq!(
        http.get(format!("{a}/admin/health"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        http.get(format!("{a}/metrics"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        http.get(format!("{a}/admin/health"))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = http
        .get(format!("{a}/dashboard"))
        .basic_auth("any", Some(ADMIN))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    eventually("replica b closes its admin endpoints", async || {
        http.get(format!("{b}/admin/health"))
            .send()
            .await
            .unwrap()
            .status()
            == 403
    })
    .await;
    let listed: Value = http
        .get(format!("{a}/admin/keys"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["keys"].as_array().unwrap().len(), 4);
    assert!(
        !listed.to_string().contains(&key),
        "a listing never shows a key"
    );

    // Revoked through replica a: replica b refuses it within seconds.
    let r = http
        .delete(format!("{a}/admin/keys/{key_id}"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    eventually("replica b refuses the revoked key", async || {
        post(format!("{b}/v1/chat/completions"), chat("chat"), Some(&key))
            .await
            .unwrap()
            .status()
            == 401
    })
    .await;

    // The key's text is nowhere in the database (only its hash).
    tokio::time::sleep(Duration::from_millis(100)).await;
    for f in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(f.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&key) && !text.contains(narrow_key) && !text.contains(&vip));
    }
}
