#!/usr/bin/env bash
# The gateway's overhead against the floor, in one run (issue 16; results in docs/benchmarks.md).
#
#   scripts/loadbench.sh                 # fixed rate 2,000 req/s for 15 s, then closed loop 10 s
#   RATE=2000 FIXED=15s CLOSED=10s CONNS=64 PIN=1 scripts/loadbench.sh
#
# Targets, measured back to back with the same load generator (oha, 64 connections, latency
# correction on the fixed-rate run):
#   direct   the upstream itself: nginx returning a fixed chat completion (or SSE stream)
#   nginx    nginx as a plain reverse proxy in front of that upstream (keep-alive upstream)
#   gateway  switchyard (release build) with a SQLite ledger, metrics on, and a `cheapest` route
#            of two models on that upstream
# each non-streaming and streaming. Printed: p50, p99, p99.9, throughput, RSS (idle and after
# load), and CPU µs per request of the target's processes (utime + stime from /proc).
#
# Needs oha (installed with `cargo install oha --locked` when missing) and nginx (when it is
# not installed, the upstream is the simulator in its fastest mode and the nginx row is left out:
# `apt-get install nginx-light`). PIN=1 pins the target to core 1 and oha to core 0 (taskset).
# Only 127.0.0.1 is used; every run is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=${RATE:-2000}
FIXED=${FIXED:-15s}
CLOSED=${CLOSED:-10s}
CONNS=${CONNS:-64}
PIN=${PIN:-0}
MODES=${MODES:-"plain stream"}
P_UP=${P_UP:-18181}
P_UPS=${P_UPS:-18182}
P_NGX=${P_NGX:-18183}
P_NGXS=${P_NGXS:-18184}
P_GW=${P_GW:-18185}

command -v oha >/dev/null || cargo install oha --locked
command -v jq >/dev/null || { echo "jq is required (apt-get install jq)" >&2; exit 1; }
NGINX=$(command -v nginx || true)
[ -z "$NGINX" ] && [ -x /usr/sbin/nginx ] && NGINX=/usr/sbin/nginx
cargo build --release -q -p switchyard
BIN=target/release/switchyard

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$WORK/up/nginx.pid" ] && kill "$(cat "$WORK/up/nginx.pid")" 2>/dev/null || true
  [ -f "$WORK/px/nginx.pid" ] && kill "$(cat "$WORK/px/nginx.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

pin_target() { if [ "$PIN" = 1 ]; then echo "taskset -c 1"; fi; }
pin_client() { if [ "$PIN" = 1 ]; then echo "taskset -c 0"; fi; }

ANSWER='{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench-a","choices":[{"index":0,"message":{"role":"assistant","content":"The quick brown fox jumps over the lazy dog, and then it rests in the shade of the old oak tree while the farmer watches."},"finish_reason":"stop"}],"usage":{"prompt_tokens":24,"completion_tokens":28,"total_tokens":52}}'
CHUNK='{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench-a","choices":[{"index":0,"delta":{"content":"The quick brown fox jumps over the lazy dog."},"finish_reason":null}]}'
LAST='{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench-a","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":24,"completion_tokens":28,"total_tokens":52}}'
SSE="data: $CHUNK\n\ndata: $CHUNK\n\ndata: $CHUNK\n\ndata: $LAST\n\ndata: [DONE]\n\n"

# Upstream, and nginx as a reverse proxy: two nginx instances, so each one's CPU is its own.
ngx_conf() { # dir body
  mkdir -p "$1"
  cat >"$1/nginx.conf" <<EOF
worker_processes 1;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $1/body; proxy_temp_path $1/proxy; fastcgi_temp_path $1/fcgi;
  uwsgi_temp_path $1/uwsgi; scgi_temp_path $1/scgi;
  $2
}
EOF
}
if [ -n "$NGINX" ]; then
  ngx_conf "$WORK/up" "
  server { listen 127.0.0.1:$P_UP;
    location / { default_type application/json; return 200 '$ANSWER'; } }
  server { listen 127.0.0.1:$P_UPS;
    location / { default_type text/event-stream; return 200 '$SSE'; } }"
  ngx_conf "$WORK/px" "
  upstream up { server 127.0.0.1:$P_UP; keepalive 128; }
  upstream ups { server 127.0.0.1:$P_UPS; keepalive 128; }
  server { listen 127.0.0.1:$P_NGX;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }
  server { listen 127.0.0.1:$P_NGXS;
    location / { proxy_pass http://ups; proxy_http_version 1.1; proxy_set_header Connection \"\";
                 proxy_buffering off; } }"
  $NGINX -c "$WORK/up/nginx.conf"
  $(pin_target) "$NGINX" -c "$WORK/px/nginx.conf"
  UPSTREAM="nginx (static answer)"
else
  cat >"$WORK/sim.toml" <<EOF
listen = "127.0.0.1:$P_UP"
[defaults]
answer_tokens = 28
EOF
  "$BIN" sim --config "$WORK/sim.toml" >"$WORK/sim.log" 2>&1 &
  PIDS+=($!)
  P_UPS=$P_UP
  UPSTREAM="switchyard sim (no delay)"
fi

cat >"$WORK/gateway.toml" <<EOF
[server]
listen = "127.0.0.1:$P_GW"
metrics_public = true
[ledger]
url = "sqlite://$WORK/ledger.db"
[[providers]]
name = "up"
kind = "openai-compatible"
base_url = "http://127.0.0.1:$P_UP/v1"
[[providers]]
name = "ups"
kind = "openai-compatible"
base_url = "http://127.0.0.1:$P_UPS/v1"
[[models]]
name = "bench-a"
provider = "up"
price = { input = 0.15, output = 0.6 }
[[models]]
name = "bench-b"
provider = "up"
price = { input = 0.25, output = 1.0 }
[[models]]
name = "bench-sa"
provider = "ups"
upstream = "bench-a"
price = { input = 0.15, output = 0.6 }
[[models]]
name = "bench-sb"
provider = "ups"
upstream = "bench-b"
price = { input = 0.25, output = 1.0 }
[routing]
default = "auto"
baseline = "bench-b"
[[routes]]
name = "auto"
strategy = "cheapest"
candidates = ["bench-b", "bench-a"]
[[routes]]
name = "auto-stream"
strategy = "cheapest"
candidates = ["bench-sb", "bench-sa"]
EOF
$(pin_target) "$BIN" serve --config "$WORK/gateway.toml" >"$WORK/gateway.log" 2>&1 &
GW=$!
PIDS+=($GW)
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$P_GW/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

# CPU ticks (utime + stime) of a process tree's main processes, and RSS in MB.
ticks() { # pids...
  local t=0
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$t"
}
rss_mb() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

HZ=$(getconf CLK_TCK)
RESULTS="$WORK/results.tsv"
: >"$RESULTS"
GW_IDLE=$(rss_mb "$GW")

body() { # model stream
  if [ "$2" = true ]; then
    echo "{\"model\":\"$1\",\"stream\":true,\"stream_options\":{\"include_usage\":true},\"max_tokens\":64,\"messages\":[{\"role\":\"user\",\"content\":\"Summarise the quarterly report in one paragraph.\"}]}"
  else
    echo "{\"model\":\"$1\",\"max_tokens\":64,\"messages\":[{\"role\":\"user\",\"content\":\"Summarise the quarterly report in one paragraph.\"}]}"
  fi
}

run() { # name url body load pids...
  local name=$1 url=$2 data=$3 load=$4
  shift 4
  local args=(-c "$CONNS" --no-tui --output-format json -m POST -H "content-type: application/json" -d "$data")
  if [ "$load" = fixed ]; then
    args+=(-z "$FIXED" -q "$RATE" --latency-correction)
  else
    args+=(-z "$CLOSED")
  fi
  # Warm up connections and pools.
  $(pin_client) oha -n 2000 -c "$CONNS" --no-tui -m POST -H "content-type: application/json" -d "$data" "$url" >/dev/null 2>&1 || true
  local t0 t1
  t0=$(ticks "$@")
  $(pin_client) oha "${args[@]}" "$url" >"$WORK/out.json" 2>/dev/null || true
  t1=$(ticks "$@")
  jq -r --arg name "$name" --arg load "$load" --argjson cpu "$((t1 - t0))" --argjson hz "$HZ" '
    (.statusCodeDistribution // {}) as $codes
    | ([$codes | to_entries[] | select(.key | startswith("2")) | .value] | add // 0) as $ok
    | ([$codes | to_entries[] | .value] | add // 0) as $all
    | [$name, $load,
       ((.latencyPercentiles.p50 // 0) * 1e6 | floor),
       ((.latencyPercentiles.p99 // 0) * 1e6 | floor),
       ((.latencyPercentiles["p99.9"] // 0) * 1e6 | floor),
       (.summary.requestsPerSec // 0 | floor),
       $ok, ($all - $ok),
       (if $ok > 0 then ($cpu / $hz * 1e6 / $ok | floor) else 0 end)]
    | @tsv' "$WORK/out.json" >>"$RESULTS"
}

for mode in $MODES; do
  if [ "$mode" = stream ]; then s=true up=$P_UPS px=$P_NGXS route=auto-stream; else s=false up=$P_UP px=$P_NGX route=auto; fi
  for load in fixed closed; do
    if [ -n "$NGINX" ]; then
      UPP=$(pgrep -P "$(cat "$WORK/up/nginx.pid")" | tr '\n' ' ')
      PXP=$(pgrep -P "$(cat "$WORK/px/nginx.pid")" | tr '\n' ' ')
      # shellcheck disable=SC2086
      run "direct/$mode" "http://127.0.0.1:$up/v1/chat/completions" "$(body bench-a $s)" "$load" $UPP
      # shellcheck disable=SC2086
      run "nginx/$mode" "http://127.0.0.1:$px/v1/chat/completions" "$(body bench-a $s)" "$load" $PXP
    else
      run "direct/$mode" "http://127.0.0.1:$up/v1/chat/completions" "$(body bench-a $s)" "$load" "${PIDS[0]}"
    fi
    run "gateway/$mode" "http://127.0.0.1:$P_GW/v1/chat/completions" "$(body $route $s)" "$load" "$GW"
  done
done
GW_LOADED=$(rss_mb "$GW")

echo
echo "upstream: $UPSTREAM; rate $RATE req/s for $FIXED (latency-corrected), closed loop $CLOSED; $CONNS connections; pinned: $PIN"
echo "machine: $(nproc) cores, $(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | xargs); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
printf '| target | load | p50 µs | p99 µs | p99.9 µs | req/s | ok | errors | CPU µs/req |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n'
awk -F'\t' '{printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9}' "$RESULTS"
echo
echo "gateway RSS: ${GW_IDLE} MB idle, ${GW_LOADED} MB after the runs"
echo
echo "Added latency of the gateway over nginx-as-proxy (µs) and throughput ratio:"
awk -F'\t' '
  { key = $2 "/" substr($1, index($1, "/") + 1); split($1, t, "/");
    p50[t[1], key] = $3; p99[t[1], key] = $4; rps[t[1], key] = $6; keys[key] = 1 }
  END { for (k in keys) if ((("nginx", k) in p50) && (("gateway", k) in p50))
          printf "  %-14s p50 %+d  p99 %+d  throughput %.2f of nginx'"'"'s\n", k,
            p50["gateway", k] - p50["nginx", k], p99["gateway", k] - p99["nginx", k],
            (rps["nginx", k] > 0 ? rps["gateway", k] / rps["nginx", k] : 0) }' "$RESULTS"
grep -c '"level":"ERROR"\|ERROR' "$WORK/gateway.log" >/dev/null && { echo "gateway log errors:"; grep 'ERROR' "$WORK/gateway.log" | head -5; } || true
