//! `switchyard keys` against the database a config's ledger uses: a key is printed once,
//! listed without its text, and revoked by id; the running gateway on that database then
//! requires it, and refuses it once revoked.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::process::{Command, Stdio};
use std::time::Duration;

fn keys(config: &std::path::Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("keys")
        .arg(args[0])
        .arg("--config")
        .arg(config)
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn keys_are_created_listed_and_revoked_for_the_running_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchyard.toml");
    std::fs::write(
        &config,
        "[server]\nadmin_token_env = \"SY_ADMIN\"\n[[providers]]\nname = \"sim\"\nkind = \"sim\"\n[[models]]\nname = \"sim-cheap\"\nprovider = \"sim\"\n",
    )
    .unwrap();
    let created = keys(
        &config,
        &[
            "create",
            "--name",
            "acme",
            "--team",
            "eng",
            "--routes",
            "sim-cheap",
        ],
    );
    let key = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    assert!(key.starts_with("sy-") && key.len() == 43, "{key}");
    let listed = String::from_utf8(keys(&config, &["list"]).stdout).unwrap();
    assert!(listed.contains("acme") && listed.contains("active") && !listed.contains(&key));
    let id = listed
        .split_whitespace()
        .find(|w| w.starts_with("key_"))
        .unwrap()
        .to_owned();

    // The gateway on the same config (and so the same database) requires the key.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::fs::File::create(dir.path().join("gateway.log")).unwrap();
    let mut gw = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["serve", "--config"])
        .arg(&config)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("SWITCHYARD_LOG", "debug")
        .env("SY_ADMIN", "admin-secret")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let status = |key: Option<&str>| {
        let body = r#"{"model":"sim-cheap","messages":[{"role":"user","content":"Hi"}]}"#;
        let mut args = vec![
            "-s".to_owned(),
            "-o".into(),
            "/dev/null".into(),
            "-w".into(),
            "%{http_code}".into(),
            "-H".into(),
            "content-type: application/json".into(),
            "-d".into(),
            body.into(),
            format!("http://127.0.0.1:{port}/v1/chat/completions"),
        ];
        if let Some(k) = key {
            args.extend(["-H".into(), format!("authorization: Bearer {k}")]);
        }
        let out = Command::new("curl").args(&args).output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let mut ready = false;
    for _ in 0..100 {
        if status(None) == "401" {
            ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(ready, "the gateway did not come up requiring keys");
    assert_eq!(status(Some(&key)), "200");
    let revoked = String::from_utf8(keys(&config, &["revoke", &id]).stdout).unwrap();
    assert!(revoked.contains(&id));
    let mut refused = false;
    for _ in 0..60 {
        if status(Some(&key)) == "401" {
            refused = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let metrics = Command::new("curl")
        .args(["-s", "-H", "authorization: Bearer admin-secret"])
        .arg(format!("http://127.0.0.1:{port}/metrics"))
        .output()
        .unwrap();
    gw.kill().unwrap();
    gw.wait().unwrap();
    assert!(
        refused,
        "the running gateway still accepted the revoked key"
    );
    // The key's text is in no log line (debug level) and no metric.
    let log = std::fs::read_to_string(dir.path().join("gateway.log")).unwrap();
    assert!(log.contains("request"), "the log was written");
    assert!(!log.contains(&key), "the key leaked into the log");
    let metrics = String::from_utf8_lossy(&metrics.stdout).into_owned();
    assert!(metrics.contains("switchyard_"), "metrics were read");
    assert!(!metrics.contains(&key));
}
