#!/usr/bin/env bash
# Run every cargo-fuzz target for a bounded time (not part of CI).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET ...]     (default: 60 s, every target)
#
# Needs the nightly toolchain (`rustup toolchain list`) and cargo-fuzz (installed from crates.io
# on first use). Each target starts from the seeds committed in fuzz/seeds/<target> plus what
# earlier runs found (fuzz/corpus/<target>, not committed). A crash leaves its input in
# fuzz/artifacts/<target>/: turn it into a regression test, then fix. The summary lists the
# executions and the result per target; docs/benchmarks.md records the last run.
set -euo pipefail

cd "$(dirname "$0")/../fuzz"
secs="${1:-60}"
shift || true
if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^switchyard-fuzz$')
fi

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo +nightly install cargo-fuzz --locked
fi

cargo +nightly fuzz build --release

summary=()
status=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  log="$(mktemp)"
  seeds=()
  [[ -d "seeds/$t" ]] && seeds=("seeds/$t")
  if cargo +nightly fuzz run --release "$t" "corpus/$t" "${seeds[@]}" -- \
      -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      >"$log" 2>&1; then
    result="clean"
  else
    result="CRASH (see fuzz/artifacts/$t/)"
    status=1
    tail -n 40 "$log"
  fi
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)"
  cov="$(grep -o 'cov: [0-9]*' "$log" | tail -n1 | cut -d' ' -f2)"
  summary+=("$(printf '%-20s %12s execs  cov %6s  %s' "$t" "${runs:-?}" "${cov:-?}" "$result")")
  rm -f "$log"
done

printf '\n%s s per target\n' "$secs"
printf '%s\n' "${summary[@]}"
exit "$status"
