//! Pricing one request's usage: plain, with prompt-cache reads and writes, and at a volume tier
//! context — the work settle does per attempt (and twice when the cache was touched, for what
//! caching saved).
//!
//! `cargo bench -p switchyard-pricing --bench cost` (results: docs/benchmarks.md)

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a benchmark's setup may panic"
)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use rust_decimal::Decimal;
use switchyard_pricing::{Cost, CostContext, Price};
use switchyard_types::Usage;

fn bench(c: &mut Criterion) {
    let mut price = Price::new(Decimal::new(15, 2), Decimal::new(60, 2), "bench");
    price.cache_read = Some(Decimal::new(75, 3));
    price.cache_write_5m = Some(Decimal::new(1875, 4));
    let plain = Usage {
        input: 1_200,
        output: 350,
        ..Usage::default()
    };
    let cached = Usage {
        input: 200,
        cache_read: 1_000,
        cache_write_5m: 300,
        output: 350,
        reasoning: 120,
        ..Usage::default()
    };
    let ctx = CostContext::default();
    c.bench_function("cost of a request (plain usage)", |b| {
        b.iter(|| Cost::of(Some(black_box(&price)), black_box(&plain), &ctx))
    });
    c.bench_function("cost of a request (cache reads and writes)", |b| {
        b.iter(|| Cost::of(Some(black_box(&price)), black_box(&cached), &ctx))
    });
    c.bench_function("cost with the amount as a string (ledger, headers)", |b| {
        b.iter(|| {
            Cost::of(Some(black_box(&price)), black_box(&plain), &ctx)
                .amount()
                .map(|d| d.normalize().to_string())
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
