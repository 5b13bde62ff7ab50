//! Model-level tests: determinism across save/load, learning a planted signal, file validation,
//! and a latency measurement (printed, never asserted).

use std::path::PathBuf;

use crate::{
    train, train_pair, Example, FeatureConfig, Model, PairExample, RouterError, TrainOptions,
};

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("switchyard-router-{}-{name}", std::process::id()))
}

/// A synthetic set: prompts mentioning "integral" or "proof" need premium, others do not;
/// task "math" has a higher base rate. Words are drawn from a fixed vocabulary with splitmix64.
fn synthetic(n: usize, seed: u64) -> Vec<Example> {
    let filler = [
        "the",
        "a",
        "what",
        "is",
        "capital",
        "of",
        "france",
        "please",
        "explain",
        "list",
        "why",
        "how",
        "many",
        "apples",
        "weather",
        "today",
        "summarise",
        "this",
        "email",
        "poem",
    ];
    let mut rng = crate::hash::SplitMix64::new(seed);
    (0..n)
        .map(|i| {
            let hard = i % 3 == 0;
            let mut words: Vec<&str> = (0..8).map(|_| filler[rng.below(filler.len())]).collect();
            if hard {
                let pos = rng.below(words.len());
                words.insert(
                    pos,
                    if rng.below(2) == 0 {
                        "integral"
                    } else {
                        "proof"
                    },
                );
            }
            let task = if i % 2 == 0 { "math" } else { "chat" };
            Example {
                prompt: words.join(" "),
                task: Some(task.to_string()),
                premium_needed: f64::from(u8::from(hard)),
            }
        })
        .collect()
}

#[test]
fn learns_a_planted_word_signal() {
    let data = synthetic(600, 1);
    let opts = TrainOptions {
        features: FeatureConfig {
            text_scale: 1.0,
            ..FeatureConfig::default()
        },
        learning_rate: 0.1,
        epochs: 5,
        premium_share: 1.0 / 3.0,
        ..TrainOptions::default()
    };
    let model = train(&data, &opts);
    let test = synthetic(300, 2);
    let correct = test
        .iter()
        .filter(|e| model.premium(&e.prompt, e.task.as_deref()) == (e.premium_needed > 0.5))
        .count();
    assert!(correct >= 290, "only {correct}/300 decisions right");
    let hard = model.score(
        "please explain this integral of the weather today",
        Some("chat"),
    );
    let easy = model.score(
        "please explain this poem of the weather today",
        Some("chat"),
    );
    let t = model.threshold();
    assert!(
        hard >= t && easy < t && hard > easy + 0.3,
        "hard {hard} easy {easy} threshold {t}"
    );
}

#[test]
fn save_load_gives_bitwise_identical_scores() {
    let data = synthetic(300, 3);
    let pairs: Vec<PairExample> = data
        .iter()
        .map(|e| PairExample {
            prompt: e.prompt.clone(),
            task: e.task.clone(),
            weak_correct: 1.0 - e.premium_needed,
            strong_correct: 1.0,
        })
        .collect();
    let model = train_pair(&pairs, &TrainOptions::default());
    let path = temp_path("roundtrip.json");
    model.save(&path).unwrap();
    let loaded = Model::load(&path).unwrap();
    let again = Model::load(&path).unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(model.version(), loaded.version());
    assert_eq!(model.threshold().to_bits(), loaded.threshold().to_bits());
    let prompts = [
        "what is the integral of x^2?",
        "Ünïcödé prompt — with dashes, digits 12345 and = signs",
        "",
        "A. one\nB. two\nC. 3\nD. 4\nAnswer:",
    ];
    for p in prompts {
        for task in [None, Some("math"), Some("unseen")] {
            let a = model.score(p, task);
            assert_eq!(
                a.to_bits(),
                loaded.score(p, task).to_bits(),
                "{p:?} {task:?}"
            );
            assert_eq!(a.to_bits(), again.score(p, task).to_bits());
            assert_eq!(model.premium(p, task), loaded.premium(p, task));
        }
    }
}

#[test]
fn training_is_deterministic() {
    let data = synthetic(200, 4);
    let a = train(&data, &TrainOptions::default());
    let b = train(&data, &TrainOptions::default());
    assert_eq!(a.file(), b.file());
    assert_eq!(a.version(), b.version());
}

#[test]
fn calibration_hits_the_share() {
    let data = synthetic(300, 5);
    let mut model = train(&data, &TrainOptions::default());
    let scores: Vec<f64> = (0..100).map(|i| f64::from(i) / 100.0).collect();
    model.calibrate_for_premium_share(&scores, 0.25);
    let share = scores.iter().filter(|&&s| s >= model.threshold()).count();
    assert_eq!(share, 25);
    model.calibrate_for_premium_share(&scores, 0.0);
    assert!(scores.iter().all(|&s| s < model.threshold()));
    model.calibrate_for_premium_share(&scores, 1.0);
    assert!(scores.iter().all(|&s| s >= model.threshold()));
}

#[test]
fn load_rejects_wrong_format_and_version() {
    let model = train(&synthetic(50, 6), &TrainOptions::default());
    let mut file = model.file().clone();
    file.format = "something-else".to_string();
    assert!(matches!(
        Model::from_file(file),
        Err(RouterError::Format(_))
    ));
    let mut file = model.file().clone();
    file.version = 2;
    assert!(matches!(
        Model::from_file(file),
        Err(RouterError::Format(_))
    ));
    let mut file = model.file().clone();
    file.heads[0].weights.push((u32::MAX, 1.0));
    assert!(matches!(
        Model::from_file(file),
        Err(RouterError::Format(_))
    ));
    let path = temp_path("garbage.json");
    std::fs::write(&path, "{not json").unwrap();
    assert!(matches!(Model::load(&path), Err(RouterError::Json(_))));
    std::fs::remove_file(&path).ok();
    assert!(matches!(
        Model::load(&temp_path("missing.json")),
        Err(RouterError::Io { .. })
    ));
}

/// Decision latency for a ~1.5 KB prompt. Prints the mean; never asserts a time (debug builds
/// and shared CI machines vary). Release numbers are in docs/benchmarks.md.
#[test]
fn decision_latency_is_printed() {
    let data = synthetic(300, 7);
    let model = train(&data, &TrainOptions::default());
    let paragraph = "The following is a multiple choice question about college physics. \
        A uniform rod of length 2.0 m and mass 3.5 kg pivots about one end; what is its moment \
        of inertia, and how does the angular acceleration change when a 1.2 kg point mass is \
        attached at the free end? Show the steps (I = mL^2/3) before answering. ";
    let prompt = paragraph.repeat(6);
    assert!(
        prompt.len() > 1500 && prompt.len() <= 2048,
        "{}",
        prompt.len()
    );
    let n = 2000;
    let start = std::time::Instant::now();
    let mut acc = 0.0;
    for _ in 0..n {
        acc += model.score(std::hint::black_box(&prompt), Some("college_physics"));
    }
    let per = start.elapsed() / n;
    println!(
        "score() on a {}-byte prompt: {per:?} per decision (checksum {acc:.3})",
        prompt.len()
    );
}
