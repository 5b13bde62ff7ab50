#!/usr/bin/env bash
# Instructions the gateway executes per request, counted by valgrind's callgrind: repeatable for
# the same binary and inputs whatever else the machine is doing, unlike timings on a shared
# 2-core machine. Use it to compare two binaries (A/B) or to find where the CPU goes.
#
#   scripts/instructions.sh [BIN] [N]      (default: target/release/switchyard, 400 requests)
#
# Starts `BIN sim` (no latency, ~40-token answers) and `BIN serve` under callgrind in front of it
# (one `openai-compatible` provider, one model, the default SQLite ledger) and sends sequential
# keep-alive requests, non-streamed or streamed: one run with WARM requests, one with WARM + N.
# Reports (instructions of the second - instructions of the first) / N per mode, so start-up and
# first-use costs (catalog load, clock calibration, connection set-up) cancel out. The callgrind
# files stay in the printed directory for `callgrind_annotate`. Extra callgrind options come from
# CALLGRIND_ARGS, e.g. CALLGRIND_ARGS="--toggle-collect=switchyard_server::chat::serve::*" to
# count only what runs inside the request handler (the span `x-switchyard-overhead-us` times).
set -euo pipefail

bin="$(realpath "${1:-target/release/switchyard}")"
n="${2:-400}"
warm=20
work="$(mktemp -d /tmp/switchyard-instr.XXXXXX)"
sim_port=$((20000 + RANDOM % 10000))
gw_port=$((sim_port + 1))

cat >"$work/sim.toml" <<EOF
[defaults]
ttft = "0s"
tokens_per_sec = 0
answer_tokens = 40
EOF
cat >"$work/gateway.toml" <<EOF
[server]
listen = "127.0.0.1:$gw_port"

[[providers]]
name = "sim"
kind = "openai-compatible"
base_url = "http://127.0.0.1:$sim_port/v1"

[[models]]
name = "bench"
provider = "sim"
upstream = "bench"
EOF

"$bin" sim --config "$work/sim.toml" --listen "127.0.0.1:$sim_port" >"$work/sim.log" 2>&1 &
sim_pid=$!
trap 'kill $sim_pid 2>/dev/null || true' EXIT

wait_up() { # port
  for _ in $(seq 1 600); do
    if curl -sf "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 \
      || curl -sf "http://127.0.0.1:$1/v1/models" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  echo "nothing answers on port $1" >&2
  return 1
}
wait_up "$sim_port"

# run MODE COUNT: one gateway under callgrind, COUNT requests; prints the instruction total.
run() {
  local mode="$1" count="$2" out="$work/callgrind.$1.$2"
  (cd "$work" && valgrind --tool=callgrind --callgrind-out-file="$out" ${CALLGRIND_ARGS:-} \
    "$bin" serve --config "$work/gateway.toml" >"$work/gateway.$mode.$count.log" 2>&1) &
  local vg=$!
  wait_up "$gw_port"
  python3 - "$gw_port" "$mode" "$count" <<'PY'
import http.client, json, sys
port, mode, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
body = json.dumps({"model": "bench", "stream": mode == "stream",
                   "messages": [{"role": "user", "content": "Say something short."}]})
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
for i in range(count):
    conn.request("POST", "/v1/chat/completions", body, {"content-type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    if r.status != 200 or (mode == "stream" and b"[DONE]" not in data):
        sys.exit(f"request {i}: {r.status} {data[:200]!r}")
PY
  pkill -TERM -f "callgrind-out-file=$out" || true
  wait "$vg" || true
  grep -E '^(summary|totals):' "$out" | tail -n1 | awk '{print $2}'
}

printf 'binary: %s\nrequests per mode: %s (after %s warm-up requests)\n' "$bin" "$n" "$warm"
for mode in plain stream; do
  base="$(run "$mode" "$warm")"
  total="$(run "$mode" $((warm + n)))"
  printf '%-6s %12d instructions per request\n' "$mode" $(((total - base) / n))
done
echo "callgrind files: $work"
