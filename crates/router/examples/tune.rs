//! Development helper: runs the benchmark for several seeds and prints the key numbers.
//! `cargo run --release -p switchyard-router --example tune -- mmlu 42 1 2 3`
//! Environment overrides of the training options: EPOCHS, LR, L2, PRIOR_M, BITS, TS, AVG,
//! MINDF, CHAR_MIN, CHAR_MAX, NO_WORDS, NO_BIGRAMS, NO_CHARS, NO_SHAPE, NO_TASK, NO_PRIOR,
//! NO_TW, NO_ST; VERBOSE prints the full tables.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use switchyard_router::bench::{load, render_text, run_on, BenchOptions, Task};

fn env<T: std::str::FromStr>(k: &str) -> Option<T> {
    std::env::var(k).ok().and_then(|v| v.parse().ok())
}

fn set(k: &str) -> bool {
    std::env::var(k).is_ok()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let task: Task = args[0].parse().unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/routing/routellm");
    let dir = dir.as_path();
    let data = load(dir, task).unwrap();
    let mut sums = std::collections::BTreeMap::<String, (f64, f64)>::new();
    for s in &args[1..] {
        let seed: u64 = s.parse().unwrap();
        let mut opts = BenchOptions::new(task, seed);
        let t = &mut opts.train;
        let f = &mut t.features;
        t.epochs = env("EPOCHS").unwrap_or(t.epochs);
        t.learning_rate = env("LR").unwrap_or(t.learning_rate);
        t.l2 = env("L2").unwrap_or(t.l2);
        t.prior_strength = env("PRIOR_M").unwrap_or(t.prior_strength);
        t.averaged_fits = env("AVG").unwrap_or(t.averaged_fits);
        t.min_df = env("MINDF").unwrap_or(t.min_df);
        f.hash_bits = env("BITS").unwrap_or(f.hash_bits);
        f.text_scale = env("TS").unwrap_or(f.text_scale);
        f.char_ngram_min = env("CHAR_MIN").unwrap_or(f.char_ngram_min);
        f.char_ngram_max = env("CHAR_MAX").unwrap_or(f.char_ngram_max);
        f.word_unigrams &= !set("NO_WORDS");
        f.word_bigrams &= !set("NO_BIGRAMS");
        if set("NO_CHARS") {
            f.char_ngram_min = 0;
        }
        f.shape &= !set("NO_SHAPE");
        f.task_onehot &= !set("NO_TASK");
        f.task_words &= !set("NO_TW");
        f.structure &= !set("NO_ST");
        t.use_prior &= !set("NO_PRIOR");
        let r = run_on(&data, &opts).unwrap();
        if set("VERBOSE") {
            print!("{}", render_text(&r));
        }
        for (name, m) in &r.policies {
            let e = sums.entry(name.clone()).or_default();
            e.0 += m.apgr;
            e.1 += m.premium_share_at_95;
        }
        let l = &r.policies["learned"];
        let c = r
            .policies
            .get("cascade")
            .map_or((0.0, 0.0), |c| (c.apgr, c.premium_share_at_95));
        println!(
            "seed {seed}: learned {:.3}/{:.3} qf {:.3} cascade {:.3}/{:.3}",
            l.apgr, l.premium_share_at_95, r.policies["quality-floor"].apgr, c.0, c.1
        );
    }
    let n = (args.len() - 1) as f64;
    for (name, (a, s)) in sums {
        println!("mean {name}: apgr {:.4} share95 {:.4}", a / n, s / n);
    }
}
