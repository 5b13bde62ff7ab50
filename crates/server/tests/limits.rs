//! Per-key limits and budgets against the real Redis (`SWITCHYARD_TEST_REDIS_URL`; under
//! `CI=true` a missing URL fails): three replicas share one requests-per-minute limit (the
//! total admitted is the limit, not three times it); a budget hit concurrently through two
//! replicas is never overspent; the spend survives a new replica; and with Redis unreachable
//! the configured policy is followed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use serde_json::{json, Value};
use switchyard_server::keys;
use switchyard_sim::{Sim, SimConfig};
use switchyard_store::LedgerReader;

fn redis_url() -> Option<String> {
    match std::env::var("SWITCHYARD_TEST_REDIS_URL") {
        Ok(u) => Some(u),
        Err(_) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "SWITCHYARD_TEST_REDIS_URL is not set but CI=true: the Redis suite must run"
            );
            eprintln!("SWITCHYARD_TEST_REDIS_URL not set: skipping the Redis limits test");
            None
        }
    }
}

async fn replica(sim: &str, ledger: &str, state: &str) -> String {
    let text = format!(
        r#"
        [state]
        {state}
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
        price = {{ input = 1.00, output = 2.00 }}
        "#
    );
    common::serve(&text).await
}

async fn key(ledger: &str, name: &str, spec: keys::KeySpec) -> (String, String) {
    // Creates the database if need be, as `switchyard keys create` does.
    let spill = std::env::temp_dir().join(format!("sy-limits-{}.jsonl", uuid::Uuid::now_v7()));
    let l = switchyard_store::Ledger::open(switchyard_store::LedgerConfig::new(ledger, spill))
        .await
        .unwrap();
    l.shutdown().await.unwrap();
    let reader = LedgerReader::connect(ledger).await.unwrap();
    let (row, key) = keys::create(&reader, name, &spec).await.unwrap();
    (row.id, key)
}

async fn ask(http: &reqwest::Client, url: &str, key: &str) -> reqwest::Response {
    http.post(format!("{url}/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": "cheap", "max_tokens": 20,
            "messages": [{"role": "user", "content": "Say hello to the team."}]}))
        .send()
        .await
        .unwrap()
}

/// Wait out the end of a minute, so a per-minute count is not split across two windows.
async fn fresh_minute() {
    let into = switchyard_store::now_ms().rem_euclid(60_000);
    if into > 45_000 {
        tokio::time::sleep(std::time::Duration::from_millis(60_000 - into as u64 + 200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_and_budgets_hold_across_replicas_through_redis() {
    let Some(redis) = redis_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let sim = Sim::start(SimConfig::instant()).await.unwrap();
    // The keys exist before the replicas start (so they load them at once).
    let (_, rpm_key) = key(
        &ledger,
        "burst",
        keys::KeySpec {
            rpm: Some(10),
            ..Default::default()
        },
    )
    .await;
    let budget = rust_decimal::Decimal::new(2, 4); // $0.0002 = 200,000 nano-dollars
    let (budget_id, budget_key) = key(
        &ledger,
        "frugal",
        keys::KeySpec {
            daily_usd: Some(budget),
            ..Default::default()
        },
    )
    .await;
    let state = format!("url = \"{redis}\"");
    let replicas = [
        replica(&sim.base_url(), &ledger, &state).await,
        replica(&sim.base_url(), &ledger, &state).await,
        replica(&sim.base_url(), &ledger, &state).await,
    ];
    let http = reqwest::Client::new();

    // 30 requests at once over three replicas; 10 per minute for this key, in total.
    fresh_minute().await;
    let sent = (0..30).map(|i| {
        let (http, url, key) = (http.clone(), replicas[i % 3].clone(), rpm_key.clone());
        tokio::spawn(async move { ask(&http, &url, &key).await })
    });
    let mut ok = 0;
    let mut limited = 0;
    for r in futures::future::join_all(sent).await {
        let r = r.unwrap();
        match r.status().as_u16() {
            200 => ok += 1,
            429 => {
                assert!(r.headers().contains_key("retry-after"));
                let e: Value = r.json().await.unwrap();
                assert_eq!(e["error"]["code"], "key_limit_exceeded");
                assert!(e["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("10 requests per minute"));
                limited += 1;
            }
            s => panic!("unexpected status {s}"),
        }
    }
    assert_eq!(
        (ok, limited),
        (10, 20),
        "the limit is global, not per replica"
    );

    // A budget hit by 24 concurrent requests through two replicas, then more in sequence:
    // what the ledger says was spent never exceeds it.
    let sent = (0..24).map(|i| {
        let (http, url, key) = (http.clone(), replicas[i % 2].clone(), budget_key.clone());
        tokio::spawn(async move { ask(&http, &url, &key).await.status().as_u16() })
    });
    let mut statuses: Vec<u16> = futures::future::join_all(sent)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    for i in 0..6 {
        statuses.push(
            ask(&http, &replicas[i % 3], &budget_key)
                .await
                .status()
                .as_u16(),
        );
    }
    let admitted = statuses.iter().filter(|&&s| s == 200).count();
    assert!(admitted >= 1 && statuses.contains(&429), "{statuses:?}");
    let reader = LedgerReader::connect(&ledger).await.unwrap();
    let mut spent = rust_decimal::Decimal::ZERO;
    for _ in 0..100 {
        let rows: Vec<_> = reader
            .rows(None, None)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.key_id.as_deref() == Some(budget_id.as_str()) && r.status == "ok")
            .collect();
        if rows.len() == admitted {
            spent = rows.iter().filter_map(|r| r.cost()).sum();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        spent > rust_decimal::Decimal::ZERO && spent <= budget,
        "spent {spent} of {budget}"
    );

    // The spend is Redis's, not a replica's: a replica started now refuses the key as well.
    let late = replica(&sim.base_url(), &ledger, &state).await;
    let r = ask(&http, &late, &budget_key).await;
    assert_eq!(r.status(), 429);
    assert!(r.json::<Value>().await.unwrap()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("daily budget"));
}

#[tokio::test]
async fn an_unreachable_redis_follows_the_configured_policy() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let sim = Sim::start(SimConfig::instant()).await.unwrap();
    let (_, k) = key(
        &ledger,
        "solo",
        keys::KeySpec {
            rpm: Some(1),
            ..Default::default()
        },
    )
    .await;
    let http = reqwest::Client::new();
    // Nothing listens on port 1.
    let closed = replica(
        &sim.base_url(),
        &ledger,
        "url = \"redis://127.0.0.1:1\"\non_unavailable = \"closed\"",
    )
    .await;
    let r = ask(&http, &closed, &k).await;
    assert_eq!(r.status(), 503);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "state_unavailable"
    );
    // Open: this replica's own counters still hold the key to its limit.
    let open = replica(&sim.base_url(), &ledger, "url = \"redis://127.0.0.1:1\"").await;
    fresh_minute().await;
    assert_eq!(ask(&http, &open, &k).await.status(), 200);
    assert_eq!(ask(&http, &open, &k).await.status(), 429);
}

/// Without Redis, a replica starts its budgets from the ledger's spend of the day and month:
/// a restart does not reset them.
#[tokio::test]
async fn without_redis_a_restart_keeps_the_budget_spent() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let sim = Sim::start(SimConfig::instant()).await.unwrap();
    let budget = rust_decimal::Decimal::new(1, 4); // $0.0001
    let (id, k) = key(
        &ledger,
        "thrifty",
        keys::KeySpec {
            daily_usd: Some(budget),
            ..Default::default()
        },
    )
    .await;
    let first = replica(&sim.base_url(), &ledger, "").await;
    let http = reqwest::Client::new();
    let mut admitted = 0;
    for _ in 0..10 {
        match ask(&http, &first, &k).await.status().as_u16() {
            200 => admitted += 1,
            429 => break,
            s => panic!("unexpected {s}"),
        }
    }
    assert!(admitted >= 1, "the budget admits something");
    // Wait for the ledger to hold every admitted request.
    let reader = LedgerReader::connect(&ledger).await.unwrap();
    for _ in 0..100 {
        let n = reader
            .rows(None, None)
            .await
            .unwrap()
            .iter()
            .filter(|r| r.key_id.as_deref() == Some(id.as_str()))
            .count();
        if n == admitted {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let restarted = replica(&sim.base_url(), &ledger, "").await;
    let r = ask(&http, &restarted, &k).await;
    assert_eq!(
        r.status(),
        429,
        "the restarted replica knows what was spent"
    );
}

/// A team's budget bounds all its keys together, across replicas sharing Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teams_budget_bounds_its_keys_together() {
    let Some(redis) = redis_url() else { return };
    team_budget(&format!("url = \"{redis}\""), 2).await;
}

/// The same in process, on one replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teams_budget_bounds_its_keys_together_in_process() {
    team_budget("", 1).await;
}

async fn team_budget(state: &str, n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let sim = Sim::start(SimConfig::instant()).await.unwrap();
    let team = format!("eng-{}", uuid::Uuid::now_v7().simple());
    let spec = || keys::KeySpec {
        team: Some(team.clone()),
        ..Default::default()
    };
    let (a_id, a) = key(&ledger, "alice", spec()).await;
    let (b_id, b) = key(&ledger, "bob", spec()).await;
    let budget = rust_decimal::Decimal::new(2, 4); // $0.0002 for the whole team
    let state = format!("{state}\n[[teams]]\nname = \"{team}\"\ndaily_usd = {budget}");
    let mut replicas = Vec::new();
    for _ in 0..n {
        replicas.push(replica(&sim.base_url(), &ledger, &state).await);
    }
    let http = reqwest::Client::new();
    let sent = (0..24).map(|i| {
        let (http, url) = (http.clone(), replicas[i % n].clone());
        let key = if i % 4 < 2 { a.clone() } else { b.clone() };
        tokio::spawn(async move {
            let r = ask(&http, &url, &key).await;
            let status = r.status().as_u16();
            (status, r.text().await.unwrap())
        })
    });
    let results: Vec<(u16, String)> = futures::future::join_all(sent)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let admitted = results.iter().filter(|(s, _)| *s == 200).count();
    assert!(admitted >= 1, "{results:?}");
    assert!(
        results
            .iter()
            .any(|(s, body)| *s == 429 && body.contains("team's daily budget")),
        "{results:?}"
    );
    let reader = LedgerReader::connect(&ledger).await.unwrap();
    let mut spent = rust_decimal::Decimal::ZERO;
    for _ in 0..100 {
        let rows: Vec<_> = reader
            .rows(None, None)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| matches!(r.key_id.as_deref(), Some(k) if k == a_id || k == b_id))
            .filter(|r| r.status == "ok")
            .collect();
        if rows.len() == admitted {
            spent = rows.iter().filter_map(|r| r.cost()).sum();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        spent > rust_decimal::Decimal::ZERO && spent <= budget,
        "the team spent {spent} of {budget}"
    );
}

/// A private `redis-server` on `port` (the machine's binary), nothing persisted.
fn redis_server(port: u16) -> std::process::Child {
    let mut child = std::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server runs");
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return child;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("redis-server did not start on port {port}");
}

#[tokio::test]
async fn redis_stopped_and_restarted_mid_run_refuses_then_recovers() {
    if std::process::Command::new("redis-server")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "redis-server is not installed but CI=true: the Redis restart test must run"
        );
        eprintln!("redis-server not installed: skipping the Redis restart test");
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut redis = redis_server(port);
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let sim = Sim::start(SimConfig::instant()).await.unwrap();
    let (_, k) = key(
        &ledger,
        "steady",
        keys::KeySpec {
            rpm: Some(1000),
            ..Default::default()
        },
    )
    .await;
    let state = format!("url = \"redis://127.0.0.1:{port}\"\non_unavailable = \"closed\"");
    let url = replica(&sim.base_url(), &ledger, &state).await;
    let http = reqwest::Client::new();
    assert_eq!(ask(&http, &url, &k).await.status(), 200);

    // Redis goes away mid-run: the policy is `closed`, so keyed requests are refused, clearly.
    redis.kill().unwrap();
    redis.wait().unwrap();
    let r = ask(&http, &url, &k).await;
    assert_eq!(r.status(), 503);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "state_unavailable"
    );

    // Redis comes back (empty, as after a failover): the replica reconnects by itself and the
    // counters live there again.
    let mut redis = redis_server(port);
    let mut status = 0;
    for _ in 0..100 {
        status = ask(&http, &url, &k).await.status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        status, 200,
        "the replica never recovered when Redis came back"
    );
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("sy:rpm:*")
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(!keys.is_empty(), "the counts are in the restarted Redis");
    redis.kill().unwrap();
    redis.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_providers_limits_are_counted_across_replicas() {
    let Some(redis) = redis_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let sim = Sim::start(SimConfig::instant()).await.unwrap();
    // A provider name of its own: its counts live in the shared Redis for the minute.
    let provider = format!("limited-{}", uuid::Uuid::now_v7().simple());
    let text = format!(
        r#"
        [state]
        url = "{redis}"
        [ledger]
        url = "{ledger}"
        flush_interval = "5ms"
        [[providers]]
        name = "{provider}"
        kind = "sim"
        base_url = "{sim}"
        limits = {{ rpm = 20 }}
        [[providers]]
        name = "backup"
        kind = "sim"
        base_url = "{sim}"
        [[models]]
        name = "first"
        provider = "{provider}"
        upstream = "sim-cheap"
        [[models]]
        name = "second"
        provider = "backup"
        upstream = "sim-cheap"
        [[routes]]
        name = "auto"
        candidates = ["first", "second"]
        "#,
        sim = sim.base_url()
    );
    let a = common::serve(&text).await;
    let b = common::serve(&text).await;
    let http = reqwest::Client::new();
    let model = |url: String| {
        let http = http.clone();
        async move {
            let r = http
                .post(format!("{url}/v1/chat/completions"))
                .json(&json!({"model": "auto", "max_tokens": 5,
                    "messages": [{"role": "user", "content": "hi"}]}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.headers()["x-switchyard-model"]
                .to_str()
                .unwrap()
                .to_owned()
        }
    };
    fresh_minute().await;
    // Replica a takes the account to 95% of its 20 requests a minute.
    for _ in 0..19 {
        assert_eq!(model(a.clone()).await, "first");
    }
    assert_eq!(model(a.clone()).await, "second");
    // Once the counts are shared, replica b spills too, at its first request (counting alone,
    // it would have sent 19 more to the provider in the same minute).
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(model(b.clone()).await, "second");
}
