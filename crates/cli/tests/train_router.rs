//! `switchyard train-router --examples FILE`: a user's own labelled data makes a model file the
//! gateway can load; bad lines are refused with their line number.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::process::Command;

#[test]
fn trains_on_labelled_json_lines_and_refuses_bad_ones() {
    let dir = std::env::temp_dir().join(format!("sy-train-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut lines = String::new();
    for i in 0..120 {
        let hard = i % 3 == 0;
        let prompt = if hard {
            format!("Prove theorem {i} rigorously")
        } else {
            format!("Say hello to {i}")
        };
        lines.push_str(&format!(
            "{{\"prompt\": \"{prompt}\", \"cheap_ok\": {}, \"premium_ok\": 1}}\n",
            u8::from(!hard)
        ));
    }
    let examples = dir.join("ex.jsonl");
    std::fs::write(&examples, lines).unwrap();
    let out = dir.join("router.json");
    let run = |file: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(["train-router", "--examples"])
            .arg(file)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap()
    };
    let ok = run(&examples);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let model: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(model["format"], "switchyard-router");
    assert!(model["trained_on"]
        .as_str()
        .unwrap()
        .contains("120 labelled examples"));

    let bad = dir.join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"prompt\": \"x\", \"cheap_ok\": 2, \"premium_ok\": 1}\n",
    )
    .unwrap();
    let refused = run(&bad);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("bad.jsonl:1"));
    std::fs::remove_dir_all(&dir).unwrap();
}
