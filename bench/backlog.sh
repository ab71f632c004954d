#!/usr/bin/env bash
# Issue 17, part 1: a long outage's backlog, bounded in memory.
#
#   1. The upstream is down; wrk posts ~300-byte events into one durable
#      forward until EVENTS are pending. Peak RSS (VmHWM) of the server.
#   2. Restart with that backlog: time from exec to /-/readyz answering 200,
#      and peak RSS of the new process.
#   3. The upstream comes back: time to deliver the first DRAIN jobs,
#      against the same measured on a fresh store with only DRAIN pending.
#
# Needs wrk and curl; builds with the `bench-fast` profile (release without
# fat LTO). Figures go to stdout; copy them to bench/RESULTS.md.
#
#   bench/backlog.sh [EVENTS] [DRAIN]
set -euo pipefail

EVENTS=${1:-1000000}
DRAIN=${2:-50000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/hookroute-backlog.XXXXXX)
PORT=${PORT:-18480}
ADMIN=${ADMIN:-18490}
SINK_PORT=${SINK_PORT:-18481}
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }

# PROFILE=dev: the debug build, for a quick look on a busy machine (its
# throughput figures are not comparable with an optimized build's).
case "${PROFILE:-bench-fast}" in
  dev) (cd "$ROOT" && cargo build --quiet --bin hookroute --example sink); BIN=$ROOT/target/debug ;;
  *) (cd "$ROOT" && cargo build --profile bench-fast --quiet --bin hookroute --example sink); BIN=$ROOT/target/bench-fast ;;
esac

# ~300 bytes of JSON, the size the issue measured with.
printf '{"id":"evt_%s","type":"invoice.paid","data":{"customer":"cus_4f9a8b7c6d5e","amount":12900,"currency":"eur","lines":[{"sku":"plan-pro","qty":1},{"sku":"seat","qty":4}],"note":"%s"}}' \
  "1234567890" "$(head -c 120 /dev/zero | tr '\0' 'x')" >"$WORK/body.json"
cat >"$WORK/routes.yaml" <<YAML
destinations:
  circuit_breaker: { failures: 5, open_for: 1s, max_open_for: 2s }
routes:
  - name: outage
    path: /hooks/outage
    actions:
      - forward:
          url: http://127.0.0.1:$SINK_PORT/in
          retry: { max_attempts: 1000, initial_backoff: 1s, max_backoff: 2s, max_age: 24h }
YAML
cat >"$WORK/post.lua" <<'LUA'
local f = assert(io.open(os.getenv("BODY"), "rb"))
wrk.body = f:read("*a"); f:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
LUA

metric() { curl -s "http://127.0.0.1:$ADMIN/-/metrics" | awk -v m="$1" '$1 == m && !done { print $2; done = 1 }'; }
serve() { # serve DATA_DIR: starts the server, sets HR
  "$BIN/hookroute" serve -c "$WORK/routes.yaml" --listen "127.0.0.1:$PORT" --admin-listen "127.0.0.1:$ADMIN" \
    --data-dir "$1" --no-watch --log-format json >>"$WORK/hookroute.log" 2>&1 &
  HR=$!
  PIDS+=("$HR")
}
ready() { # waits for /-/readyz; prints seconds since $1
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN/-/readyz")" = 200 ]; do sleep 0.02; done
  calc "%.2f" "$(now) - $1"
}
hwm_mib() { awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
stop() { kill -TERM "$1"; wait "$1" 2>/dev/null || true; }
# fill N: posts until N jobs are pending (the upstream is down).
fill() {
  local pending=0
  while [ "${pending%.*}" -lt "$1" ]; do
    BODY=$WORK/body.json wrk -t 1 -c 32 -d 20s -s "$WORK/post.lua" "http://127.0.0.1:$PORT/hooks/outage" >>"$WORK/wrk.log" 2>&1
    pending=$(metric hookroute_queue_depth); pending=${pending:-0}
    log "pending: $pending, RSS peak $(hwm_mib "$HR") MiB"
  done
}
# drain N: starts the sink, prints seconds until it received N requests.
drain() {
  local t0 got=0
  "$BIN/examples/sink" --listen "127.0.0.1:$SINK_PORT" --threads 1 >>"$WORK/sink.log" 2>&1 &
  SINK=$!
  PIDS+=("$SINK")
  t0=$(now)
  while [ "$got" -lt "$1" ]; do
    sleep 0.2
    got=$(curl -s "http://127.0.0.1:$SINK_PORT/count" || true); got=$(echo "$got" | sed -E 's/.*"requests":([0-9]+).*/\1/')
    got=${got:-0}
  done
  calc "%.2f" "$(now) - $t0"
  kill "$SINK"; wait "$SINK" 2>/dev/null || true
}

log "1. accept $EVENTS events with the upstream down"
t0=$(now); serve "$WORK/data-big"; ready "$t0" >/dev/null
t0=$(now); fill "$EVENTS"; fill_s=$(calc "%.0f" "$(now) - $t0")
pending=$(metric hookroute_queue_depth)
rss_fill=$(hwm_mib "$HR")
disk=$(du -sm "$WORK/data-big" | cut -f1)
stop "$HR"

log "2. restart with the backlog"
t0=$(now); serve "$WORK/data-big"; ready_s=$(ready "$t0")
sleep 5
rss_restart=$(hwm_mib "$HR")
log "3. upstream back: first $DRAIN deliveries"
big_s=$(drain "$DRAIN")
rss_drain=$(hwm_mib "$HR")
stop "$HR"

log "3b. the same on a fresh store with $DRAIN pending"
t0=$(now); serve "$WORK/data-small"; ready "$t0" >/dev/null
fill "$DRAIN"
small_pending=$(metric hookroute_queue_depth)
stop "$HR"
t0=$(now); serve "$WORK/data-small"; small_ready=$(ready "$t0")
sleep 5
small_s=$(drain "$DRAIN")
stop "$HR"

cat <<OUT
| measure | figure |
|---|---:|
| events accepted with the upstream down (pending) | $pending (in ${fill_s} s) |
| store on disk | $disk MiB |
| peak RSS while accepting them (VmHWM) | $rss_fill MiB |
| restart with that backlog: exec → /-/readyz 200 | $ready_s s |
| peak RSS after the restart, 5 s in | $rss_restart MiB |
| peak RSS after delivering the first $DRAIN | $rss_drain MiB |
| first $DRAIN delivered, backlog of $pending | $big_s s ($(calc "%.0f" "$DRAIN / $big_s") /s) |
| first $DRAIN delivered, fresh store with $small_pending pending (restart ready in $small_ready s) | $small_s s ($(calc "%.0f" "$DRAIN / $small_s") /s) |
OUT
