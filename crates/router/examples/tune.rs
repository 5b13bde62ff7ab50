//! Development helper: runs the benchmark for several seeds and prints the key numbers.
//! `cargo run --release -p switchyard-router --example tune -- mmlu 42 1 2 3`
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use switchyard_router::bench::{run_on, load, render_text, BenchOptions, Task};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let task: Task = args[0].parse().unwrap();
    let dir = std::path::Path::new("/work/shared/data/routing/routellm");
    let data = load(dir, task).unwrap();
    for s in &args[1..] {
        let seed: u64 = s.parse().unwrap();
        let opts = BenchOptions::new(task, seed);
        let t = std::time::Instant::now();
        let r = run_on(&data, &opts).unwrap();
        print!("{}", render_text(&r));
        println!("({:.2}s)", t.elapsed().as_secs_f64());
    }
}
