//! Two real `switchyard serve` processes sharing one PostgreSQL ledger and one Redis, as a
//! deployment with replicas runs them (`SWITCHYARD_TEST_POSTGRES_URL` and
//! `SWITCHYARD_TEST_REDIS_URL`; under `CI=true` a missing one fails):
//!
//! * keys made with `switchyard keys create` work on both; one key's requests-per-minute
//!   limit holds for the two together; a revoked key stops on both within seconds;
//! * a circuit one replica opens, and a provider key it finds out of quota, are out on the
//!   other within seconds (which never sent that deployment a request);
//! * feedback given through one replica is in the other's quality model;
//! * both replicas' requests are in the one ledger, and `switchyard report` reads them;
//! * the key's text is in no table, no Redis key or value, no log line.
//!
//! The test's PostgreSQL schema is its own (`sy_test_<uuid>`), and its deployment and
//! provider names carry a unique suffix, so its Redis keys are its own too.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

fn service(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(u) => Some(u),
        Err(_) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{var} is not set but CI=true: the replica suite must run"
            );
            eprintln!("{var} not set: skipping the replica test");
            None
        }
    }
}

fn cli(config: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(&args[..2])
        .arg("--config")
        .arg(config)
        .args(&args[2..])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const ADMIN: &str = "replica-admin-token";

async fn health(http: &reqwest::Client, base: &str) -> Value {
    http.get(format!("{base}/admin/health"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn deployment<'a>(health: &'a Value, name: &str) -> &'a Value {
    health["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["model"] == name)
        .unwrap()
}

/// Poll `check` every 100 ms for up to `secs` seconds.
async fn within<F, Fut>(secs: u64, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..secs * 10 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_one_postgres_ledger_and_one_redis() {
    let (Some(pg), Some(redis_url)) = (
        service("SWITCHYARD_TEST_POSTGRES_URL"),
        service("SWITCHYARD_TEST_REDIS_URL"),
    ) else {
        return;
    };
    let admin = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(5))
        .connect(&pg)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {pg} is unreachable: {e}"));
    let id = uuid::Uuid::now_v7().simple().to_string();
    let schema = format!("sy_test_{id}");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    let sep = if pg.contains('?') { '&' } else { '?' };
    let ledger = format!("{pg}{sep}options=-c%20search_path%3D{schema}");
    let result = tokio::spawn(scenario(
        ledger.clone(),
        redis_url,
        id[id.len() - 8..].to_owned(),
    ))
    .await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn scenario(ledger: String, redis_url: String, uniq: String) {
    let mut sim_config = switchyard_sim::SimConfig::instant();
    sim_config.record = true;
    let sim = switchyard_sim::Sim::start(sim_config).await.unwrap();
    let (cheap, broken, spent) = (
        format!("cheap-{uniq}"),
        format!("broken-{uniq}"),
        format!("spent-{uniq}"),
    );
    let config = format!(
        r#"
[server]
admin_token_env = "SY_ADMIN"
[state]
url = "{redis_url}"
[ledger]
url = "{ledger}"
flush_interval = "5ms"
[[providers]]
name = "sim-{uniq}"
kind = "sim"
base_url = "{sim}"
[[models]]
name = "{cheap}"
provider = "sim-{uniq}"
upstream = "sim-cheap"
price = {{ input = 1.00, output = 2.00, batch_input = 0.50, batch_output = 1.00 }}
[[models]]
name = "{broken}"
provider = "sim-{uniq}"
upstream = "sim-503"
price = {{ input = 1.00, output = 2.00 }}
[[providers]]
name = "quota-{uniq}"
kind = "sim"
base_url = "{sim}"
[[models]]
name = "{spent}"
provider = "quota-{uniq}"
upstream = "sim-quota"
price = {{ input = 1.00, output = 2.00 }}
"#,
        sim = sim.base_url()
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("switchyard.toml");
    std::fs::write(&cfg, &config).unwrap();

    // Keys first, with the CLI, in the shared database.
    let burst = cli(&cfg, &["keys", "create", "--name", "burst", "--rpm", "6"])
        .trim()
        .to_owned();
    let doomed = cli(&cfg, &["keys", "create", "--name", "doomed"])
        .trim()
        .to_owned();
    let free = cli(&cfg, &["keys", "create", "--name", "free"])
        .trim()
        .to_owned();
    let batcher = cli(&cfg, &["keys", "create", "--name", "batcher"])
        .trim()
        .to_owned();
    assert!(burst.starts_with("sy-") && doomed.starts_with("sy-") && free.starts_with("sy-"));
    let env = [("SY_ADMIN", ADMIN), ("SWITCHYARD_LOG", "debug")];
    let mut a = common::serve("replica-a", &config, &env).await;
    let mut b = common::serve("replica-b", &config, &env).await;
    let http = reqwest::Client::new();
    let ask = |base: String, key: String, model: String| {
        let http = http.clone();
        async move {
            http.post(format!("{base}/v1/chat/completions"))
                .bearer_auth(key)
                .json(&json!({"model": model, "max_tokens": 16,
                    "messages": [{"role": "user", "content": "Say hello to the team."}]}))
                .send()
                .await
                .unwrap()
        }
    };

    // One requests-per-minute limit for the two replicas together (not 2 × 6). The minute's
    // window must not turn during the burst.
    let into = switchyard_store::now_ms().rem_euclid(60_000);
    if into > 50_000 {
        tokio::time::sleep(Duration::from_millis(60_000 - into as u64 + 200)).await;
    }
    let burst_sent = (0..12).map(|i| {
        let base = if i % 2 == 0 { &a.base } else { &b.base };
        ask(base.clone(), burst.clone(), cheap.clone())
    });
    let codes: Vec<u16> = futures::future::join_all(burst_sent)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    let admitted = codes.iter().filter(|&&c| c == 200).count();
    assert_eq!(admitted, 6, "one limit across both replicas: {codes:?}");
    assert_eq!(codes.iter().filter(|&&c| c == 429).count(), 6, "{codes:?}");

    // Revoked through the CLI: refused by both replicas within seconds.
    for base in [&a.base, &b.base] {
        assert_eq!(
            ask(base.clone(), doomed.clone(), cheap.clone())
                .await
                .status(),
            200
        );
    }
    let listed = cli(&cfg, &["keys", "list"]);
    let doomed_id = listed
        .lines()
        .find(|l| l.contains("doomed"))
        .and_then(|l| l.split_whitespace().find(|w| w.starts_with("key_")))
        .unwrap()
        .to_owned();
    cli(&cfg, &["keys", "revoke", &doomed_id]);
    for base in [&a.base, &b.base] {
        let stopped = within(10, || async {
            ask(base.clone(), doomed.clone(), cheap.clone())
                .await
                .status()
                == 401
        })
        .await;
        assert!(stopped, "{base} still accepted the revoked key after 10 s");
    }

    // A circuit opened on A is open on B, which never sent that deployment a request. A
    // keeps failing meanwhile (an open circuit rests 1–3 s, then probes).
    let b_health = deployment(&health(&http, &b.base).await, &broken).clone();
    assert_eq!(b_health["circuit"], "closed", "{b_health}");
    let opened_on_b = within(10, || async {
        let _ = ask(a.base.clone(), free.clone(), broken.clone()).await;
        deployment(&health(&http, &b.base).await, &broken)["circuit"] == "open"
    })
    .await;
    assert!(opened_on_b, "B never saw the circuit A opened");

    // A provider key out of quota on A is paused on B too (each of its deployments: the
    // spent one is alone on its provider here).
    let r = ask(a.base.clone(), free.clone(), spent.clone()).await;
    assert!(r.status().is_client_error() || r.status().is_server_error());
    let paused_on_b = within(10, || async {
        deployment(&health(&http, &b.base).await, &spent)["quota_exhausted"] == true
    })
    .await;
    assert!(paused_on_b, "B never saw the quota pause A found");

    // Feedback through A is in B's quality model (on one of the burst key's answers).
    let pool = sqlx::postgres::PgPoolOptions::new()
        .connect(&ledger)
        .await
        .unwrap();
    let request_id: String = sqlx::query_scalar(
        "SELECT id FROM ledger WHERE tenant = 'burst' AND status = 'ok' LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let fed = http
        .post(format!("{}/v1/feedback", a.base))
        .bearer_auth(&burst)
        .json(&json!({"request_id": request_id, "pass": true}))
        .send()
        .await
        .unwrap();
    assert!(fed.status().is_success(), "{}", fed.text().await.unwrap());
    let learned_on_b = within(10, || async {
        health(&http, &b.base).await["quality"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["model"] == cheap.as_str() && q["observations"].as_f64() >= Some(1.0))
    })
    .await;
    assert!(learned_on_b, "B's quality model never saw A's feedback");
    let state = &health(&http, &b.base).await["state"];
    assert_eq!(state["shared"], "redis");
    assert_eq!(state["reachable"], true);

    // A batch made through A, read through B, worked by whichever replica claims it: every
    // line answered once (one provider batch, one ledger row per line).
    let jsonl: Vec<String> = (0..12)
        .map(|i| {
            json!({"custom_id": format!("t{i}"), "method": "POST", "url": "/v1/chat/completions",
                   "body": {"model": cheap, "max_tokens": 16,
                            "messages": [{"role": "user", "content": format!("Summarise ticket {i}.")}]}})
            .to_string()
        })
        .collect();
    let form = format!(
        "--XyZ\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n--XyZ\r\n\
         Content-Disposition: form-data; name=\"file\"; filename=\"in.jsonl\"\r\n\
         Content-Type: application/jsonl\r\n\r\n{}\r\n--XyZ--\r\n",
        jsonl.join("\n")
    );
    let file: Value = http
        .post(format!("{}/v1/files", a.base))
        .bearer_auth(&batcher)
        .header("content-type", "multipart/form-data; boundary=XyZ")
        .body(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let batch: Value = http
        .post(format!("{}/v1/batches", a.base))
        .bearer_auth(&batcher)
        .json(
            &json!({"input_file_id": file["id"], "endpoint": "/v1/chat/completions",
                      "completion_window": "24h"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(batch["id"].is_string(), "{file} {batch}");
    let batch_url = format!("{}/v1/batches/{}", b.base, batch["id"].as_str().unwrap());
    let mut done = Value::Null;
    let mut completed = false;
    for _ in 0..300 {
        done = http
            .get(&batch_url)
            .bearer_auth(&batcher)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        completed = done["status"] == "completed";
        if completed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(completed, "{done}");
    assert_eq!(done["request_counts"]["completed"], 12, "{done}");
    let out = http
        .get(format!(
            "{}/v1/files/{}/content",
            b.base,
            done["output_file_id"].as_str().unwrap()
        ))
        .bearer_auth(&batcher)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut ids: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["custom_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 12, "{out}");
    let provider_batches = sim
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/batches"))
        .count();
    assert_eq!(provider_batches, 1, "one replica submitted the batch");

    // Both replicas' requests are in the one ledger, and `report` reads them.
    for s in [&mut a, &mut b] {
        Command::new("kill")
            .args(["-TERM", &s.child.id().to_string()])
            .status()
            .unwrap();
        s.child.wait().unwrap();
    }
    let by_tenant: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT tenant, status, count(*) FROM ledger GROUP BY tenant, status ORDER BY 1, 2",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let rows = |tenant: &str, status: &str| {
        by_tenant
            .iter()
            .find(|(t, s, _)| t == tenant && s == status)
            .map_or(0, |r| r.2)
    };
    // The burst went half to each replica: its six answers are all in the one ledger.
    assert_eq!(rows("burst", "ok"), 6, "{by_tenant:?}");
    // The revoked key: answered until each replica's key list refreshed.
    assert!(rows("doomed", "ok") >= 2, "{by_tenant:?}");
    assert_eq!(rows("batcher", "ok"), 12, "{by_tenant:?}");
    let report = cli(
        &cfg,
        &["report", "--by=model", "--format", "json", "--since", "1h"],
    );
    assert!(report.contains(&cheap), "{report}");

    // The key's text: in no table of the ledger's schema, no Redis key or value, no log.
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(tables.iter().any(|t| t == "ledger"), "{tables:?}");
    for t in &tables {
        let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT t::text FROM \"{t}\" t"))
            .fetch_all(&pool)
            .await
            .unwrap();
        for key in [&burst, &doomed, &free, &batcher] {
            assert!(
                !rows.iter().any(|r| r.contains(key.as_str())),
                "key text in table {t}"
            );
        }
    }
    pool.close().await;
    let client = redis::Client::open(redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let names: Vec<String> = redis::cmd("KEYS")
        .arg("sy:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    for name in &names {
        for key in [&burst, &doomed, &free, &batcher] {
            assert!(!name.contains(key.as_str()), "key text in a Redis key name");
        }
        let kind: String = redis::cmd("TYPE")
            .arg(name)
            .query_async(&mut conn)
            .await
            .unwrap();
        let read = match kind.as_str() {
            "string" => redis::cmd("GET"),
            "hash" => redis::cmd("HGETALL"),
            "set" => redis::cmd("SMEMBERS"),
            "list" => {
                let mut c = redis::cmd("LRANGE");
                c.arg(name).arg(0).arg(-1);
                c
            }
            "zset" => {
                let mut c = redis::cmd("ZRANGE");
                c.arg(name).arg(0).arg(-1);
                c
            }
            _ => continue,
        };
        let mut read = read;
        if matches!(kind.as_str(), "string" | "hash" | "set") {
            read.arg(name);
        }
        let values: redis::Value = read.query_async(&mut conn).await.unwrap();
        let mut text = String::new();
        flatten(&values, &mut text);
        for key in [&burst, &doomed, &free, &batcher] {
            assert!(
                !text.contains(key.as_str()),
                "key text in Redis value of {name}"
            );
        }
    }
    for s in [&a, &b] {
        let log = std::fs::read_to_string(&s.log).unwrap();
        assert!(log.contains("request"), "the log was written");
        for key in [&burst, &doomed, &free, &batcher] {
            assert!(
                !log.contains(key.as_str()),
                "key text in {}",
                s.log.display()
            );
        }
    }
}

/// Every string in a Redis reply, concatenated.
fn flatten(v: &redis::Value, out: &mut String) {
    match v {
        redis::Value::BulkString(b) => out.push_str(&String::from_utf8_lossy(b)),
        redis::Value::SimpleString(t) => out.push_str(t),
        redis::Value::Array(items) | redis::Value::Set(items) => {
            for i in items {
                flatten(i, out);
            }
        }
        redis::Value::Map(pairs) => {
            for (k, v) in pairs {
                flatten(k, out);
                flatten(v, out);
            }
        }
        _ => {}
    }
}
