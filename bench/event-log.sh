#!/usr/bin/env bash
# The event log's cost (issue #15): the same load with `event_log` enabled
# and disabled, compared on what a sender notices (p50/p99 latency, errors)
# and on the server's memory over the run (RSS sampled every 5 s, and the
# peak), with the rate actually achieved.
#
#   bench/event-log.sh            # writes the table to stdout; see bench/RESULTS.md
#
# Settings (environment): DURATION (60s), CONNECTIONS (20), DELAY_MS (2: with
# 20 connections about 10,000 requests/s are offered), PROFILE (bench-fast:
# release without fat LTO, see Cargo.toml), PORT_BASE (18180).
# The route is bench/gen-config.sh's `answer` (header + JSON condition, a
# debug-level log line, static 200), so each request is recorded with its
# decision and nothing else waits on I/O.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-60s}
CONNECTIONS=${CONNECTIONS:-20}
DELAY_MS=${DELAY_MS:-2}
PROFILE=${PROFILE:-bench-fast}
PORT_BASE=${PORT_BASE:-18180}
command -v wrk >/dev/null || { echo "event-log.sh: needs wrk (apt-get install wrk)" >&2; exit 1; }
cargo build --quiet --profile "$PROFILE" --bin hookroute
BIN=target/$PROFILE/hookroute
WORK=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
cat bench/wrk-post.lua bench/wrk-rate.lua >"$WORK/rate.lua"

rss_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

run() { # NAME ENABLED
  local name=$1 enabled=$2 port=$PORT_BASE admin=$((PORT_BASE + 10))
  rm -rf "$WORK/data"
  {
    echo "event_log: { enabled: $enabled }"
    bench/gen-config.sh answer 1 "http://127.0.0.1:1/"
  } >"$WORK/routes.yaml"
  "$BIN" serve -c "$WORK/routes.yaml" --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" \
    --data-dir "$WORK/data" --no-watch --log-level warn >"$WORK/$name.log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$admin/-/readyz" >/dev/null && break; sleep 0.1; done
  local samples=() peak
  wrk -t 1 -c "$CONNECTIONS" -d "$DURATION" -s "$WORK/rate.lua" "http://127.0.0.1:$port/hooks/github" \
    -- bench/fixtures/github-push.json "$DELAY_MS" >"$WORK/wrk-$name.log" 2>&1 &
  local wrk_pid=$!
  while kill -0 "$wrk_pid" 2>/dev/null; do
    sleep 5
    samples+=("$(( $(rss_kib "$PID" VmRSS) / 1024 ))")
  done
  wait "$wrk_pid"
  peak=$(( $(rss_kib "$PID" VmHWM) / 1024 ))
  local line; line=$(grep '^RESULT ' "$WORK/wrk-$name.log")
  local requests duration p50 p99 p999 errors
  requests=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$line")
  duration=$(sed -E 's/.*duration_us=([0-9]+).*/\1/' <<<"$line")
  p50=$(sed -E 's/.*p50_us=([0-9]+).*/\1/' <<<"$line")
  p99=$(sed -E 's/.*p99_us=([0-9]+).*/\1/' <<<"$line")
  p999=$(sed -E 's/.*p999_us=([0-9]+).*/\1/' <<<"$line")
  errors=$(sed -E 's/.*status_errors=([0-9]+).*/\1/' <<<"$line")
  local stored=""
  if [ "$enabled" = true ]; then
    stored=$(curl -s "http://127.0.0.1:$admin/-/metrics" | awk '/^hookroute_event_log_(written|dropped)_total/ { printf "%s=%s ", $1, $2 }')
  fi
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
  local disk; disk=$(du -sm "$WORK/data" 2>/dev/null | cut -f1)
  printf '| %s | %d | %.2f | %.2f | %.2f | %s | %s | %s | %s MiB | %s|\n' "$name" "$((requests * 1000000 / duration))" \
    "$(bc -l <<<"$p50/1000")" "$(bc -l <<<"$p99/1000")" "$(bc -l <<<"$p999/1000")" "$errors" \
    "${samples[*]}" "$peak" "${disk:-0}" "$stored"
}

echo "| event_log | req/s | p50 ms | p99 ms | p99.9 ms | errors | RSS MiB every 5 s | peak RSS MiB | data_dir | log counters |"
echo "|---|---|---|---|---|---|---|---|---|---|"
run disabled false
run enabled true
