#!/usr/bin/env bash
# Side-by-side performance harness for hookroute (issue 7): one command that
# builds release binaries, starts every server on loopback, drives each with
# the same load generator and settings, stops everything it started and
# writes bench/RESULTS.md with one table per scenario and ratios against the
# reference measured in the same run.
#
# Why one script: the claim "hookroute routes webhooks as fast as nginx merely
# proxies them" is only worth something if anyone can reproduce it on their
# machine with one command, and if every ratio compares figures taken minutes
# apart under the same conditions rather than numbers from different days.
#
# Needs (Debian packages): nginx webhook wrk curl procps, plus cargo.
#   sudo apt-get install -y nginx webhook wrk curl procps (and nats-server for scenario 8)
#
# Not part of `cargo test` or CI: it takes minutes and its figures depend on
# the machine. Settings (environment):
#   DURATION=10s WARMUP=2s CONNECTIONS=64 WRK_THREADS=1   load per run
#   SCENARIOS="1 2 2b 3 4 5 6 7 8 9 10"                  which scenarios (8 and 9 need nats-server)
#   PROFILE=release             cargo profile of the binaries (bench-fast: no LTO,
#                               minutes instead of 10-20; say so when quoting)
#   S3_MODES="default memory"   delivery variants of scenario 3: `default` is
#                               the route as written; any other word is written
#                               as the route's `delivery:` key, and is skipped
#                               (and said so) while the build rejects it
#   S5_ROUTES="10 1000 10000"   S6_SIZES="1024 65536 1048576"
#   NGINX_WORKERS=auto          PORT_BASE=18080 (uses PORT_BASE..PORT_BASE+62)
#   OUT=bench/RESULTS.md        KEEP_WORK=1 keeps the logs in the work dir
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNECTIONS=${CONNECTIONS:-64}
WRK_THREADS=${WRK_THREADS:-1}
SCENARIOS=${SCENARIOS:-"1 2 2b 3 4 5 6 7 8 9 10"}
PROFILE=${PROFILE:-release}
S3_MODES=${S3_MODES:-"default memory"}
S5_ROUTES=${S5_ROUTES:-"10 1000 10000"}
S6_SIZES=${S6_SIZES:-"1024 65536 1048576"}
NGINX_WORKERS=${NGINX_WORKERS:-auto}
PORT_BASE=${PORT_BASE:-18080}
OUT=${OUT:-$BENCH_DIR/RESULTS.md}

HR_PORT=$PORT_BASE
HR_ADMIN_PORT=$((PORT_BASE + 10))
SINK_PORT=$((PORT_BASE + 1))
NGINX_PORT=$((PORT_BASE + 2))
WEBHOOK_PORT=$((PORT_BASE + 3))
SINK_URL="http://127.0.0.1:$SINK_PORT"
PUSH_BODY="$BENCH_DIR/fixtures/github-push.json"
# Scenario 2b: the same push's routing fields in 80 bytes, where parsing
# costs next to nothing and what is left is the fixed cost of a request.
SMALL_BODY="$BENCH_DIR/fixtures/push-80.json"
LUA="$BENCH_DIR/wrk-post.lua"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# --- what must be installed ------------------------------------------------
NGINX_BIN=$(command -v nginx || true)
[[ -z $NGINX_BIN && -x /usr/sbin/nginx ]] && NGINX_BIN=/usr/sbin/nginx
missing=()
for tool in wrk webhook curl ps; do command -v "$tool" >/dev/null || missing+=("$tool"); done
[[ -n $NGINX_BIN ]] || missing+=(nginx)
command -v cargo >/dev/null || die "cargo not found; install Rust (https://rustup.rs) first"
if ((${#missing[@]})); then
  pkgs=$(printf '%s\n' "${missing[@]}" | sed 's/^ps$/procps/' | tr '\n' ' ')
  log "missing: ${missing[*]}"
  log "install the Debian packages with:  sudo apt-get install -y $pkgs"
  exit 2
fi
for port in $HR_PORT $HR_ADMIN_PORT $SINK_PORT $NGINX_PORT $WEBHOOK_PORT; do
  if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; then
    die "port $port is already in use; set PORT_BASE to a free range"
  fi
done

# --- bookkeeping: everything started is stopped on any exit ---------------
WORK=$(mktemp -d /tmp/hookroute-bench.XXXXXX)
# nginx workers run as an unprivileged user when started as root.
chmod 755 "$WORK"
STARTED=()
stop_pid() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local pid
  for pid in "${STARTED[@]}"; do stop_pid "$pid"; done
  if [[ -n ${KEEP_WORK:-} ]]; then log "logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME CMD... : runs CMD in the background, logs to $WORK/NAME.log,
# sets LAST_PID.
start() {
  local name=$1
  shift
  "$@" >"$WORK/$name.log" 2>&1 &
  LAST_PID=$!
  STARTED+=("$LAST_PID")
}
stop() {
  local pid=$1 kept=() p
  stop_pid "$pid"
  for p in "${STARTED[@]}"; do [[ $p == "$pid" ]] || kept+=("$p"); done
  STARTED=("${kept[@]}")
}
# wait_http URL PID: until anything answers HTTP at URL (30 s), or PID dies.
wait_http() {
  local url=$1 pid=$2
  for _ in $(seq 300); do
    curl -s -o /dev/null --max-time 1 "$url" && return 0
    kill -0 "$pid" 2>/dev/null || die "process $pid exited before answering $url (see its log in $WORK)"
    sleep 0.1
  done
  die "nothing answered $url within 30 s"
}
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }

# Memory of a process and its children (nginx forks workers), in KiB:
# VmHWM is the peak resident set since start, VmRSS the current one. Shared
# pages of nginx's master and workers are counted in each.
mem_kib() {
  local pid=$1 field=$2 total=0 p v
  for p in $pid $(ps -o pid= --ppid "$pid" 2>/dev/null); do
    v=$(awk -v f="$field:" '$1 == f { print $2 }' "/proc/$p/status" 2>/dev/null || true)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}
mib() { calc "%.1f" "$1 / 1024"; }
# CPU time (user + system) of a process and its children, in clock ticks.
# On a shared machine wall-clock throughput moves with the neighbours' load;
# CPU time per request does much less, so the tables report both.
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() {
  local pid=$1 total=0 p v
  for p in $pid $(ps -o pid= --ppid "$pid" 2>/dev/null); do
    # Fields after the ")" that closes the command name: utime is the 12th.
    v=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }' || true)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

sink_count() { curl -s --max-time 2 "$SINK_URL/count" | sed -E 's/.*"requests":([0-9]+).*/\1/'; }
sink_conns() { curl -s --max-time 2 "$SINK_URL/count" | sed -E 's/.*"connections":([0-9]+).*/\1/'; }

# load NAME URL BODY PID: a warm-up run, then the measured run; leaves W_*
# set (requests, duration_us, p50_us, p99_us, p999_us, errors, rps, and
# cpu_us: CPU time of PID and its children per request).
load() {
  local name=$1 url=$2 body=$3 pid=$4
  wrk -t "$WRK_THREADS" -c "$CONNECTIONS" -d "$WARMUP" -s "$LUA" "$url" -- "$body" >"$WORK/wrk-$name-warmup.log" 2>&1 || true
  measure "$name" "$url" "$body" "$pid"
}
measure() {
  local name=$1 url=$2 body=$3 pid=$4 kv ticks
  ticks=$(cpu_ticks "$pid")
  wrk -t "$WRK_THREADS" -c "$CONNECTIONS" -d "$DURATION" -s "$LUA" "$url" -- "$body" >"$WORK/wrk-$name.log" 2>&1 ||
    die "wrk failed for $name: $(tail -3 "$WORK/wrk-$name.log")"
  local line
  line=$(grep '^RESULT ' "$WORK/wrk-$name.log") || die "no RESULT line from wrk for $name"
  for kv in ${line#RESULT }; do printf -v "W_${kv%%=*}" '%s' "${kv#*=}"; done
  W_errors=$((W_status_errors + W_connect + W_read + W_write + W_timeout))
  W_rps=$(calc "%.0f" "$W_requests / ($W_duration_us / 1000000)")
  W_cpu_us=$(calc "%.0f" "($(cpu_ticks "$pid") - $ticks) * 1000000 / $CLK_TCK / ($W_requests > 0 ? $W_requests : 1)")
  log "$name: $W_rps req/s, $W_cpu_us µs CPU/req, p99 $(calc "%.2f" "$W_p99_us / 1000") ms, $W_errors errors"
}

# --- the servers ------------------------------------------------------------
start_sink() {
  start sink "$WORK/bin/sink" --listen "127.0.0.1:$SINK_PORT" --threads 1
  SINK_PID=$LAST_PID
  wait_http "$SINK_URL/count" "$SINK_PID"
}
# start_hookroute CONFIG: sets HR_PID and HR_STARTUP_MS (spawn to first answer).
start_hookroute() {
  local t0
  t0=$(now)
  # Each run's delivery store in the work dir, never in the checkout.
  start "hookroute-$(basename "$1" .yaml)" "$HOOKROUTE" serve -c "$1" \
    --listen "127.0.0.1:$HR_PORT" --admin-listen "127.0.0.1:$HR_ADMIN_PORT" \
    --data-dir "$WORK/data-$(basename "$1" .yaml)-$RANDOM"
  HR_PID=$LAST_PID
  wait_http "http://127.0.0.1:$HR_ADMIN_PORT/-/healthz" "$HR_PID"
  HR_STARTUP_MS=$(calc "%.0f" "($(now) - $t0) * 1000")
}
start_nginx() {
  mkdir -p "$WORK/nginx-tmp"
  sed -e "s#@WORK@#$WORK#g" -e "s#@PORT@#$NGINX_PORT#g" -e "s#@SINK_PORT@#$SINK_PORT#g" \
    -e "s#@WORKERS@#$NGINX_WORKERS#g" "$BENCH_DIR/templates/nginx.conf" >"$WORK/nginx.conf"
  start nginx "$NGINX_BIN" -p "$WORK" -e "$WORK/nginx-error.log" -c "$WORK/nginx.conf" -g 'daemon off;'
  NGINX_PID=$LAST_PID
  wait_http "http://127.0.0.1:$NGINX_PORT/" "$NGINX_PID"
}
start_webhook() {
  start webhook webhook -hooks "$BENCH_DIR/templates/webhook-hooks.json" -ip 127.0.0.1 -port "$WEBHOOK_PORT"
  WEBHOOK_PID=$LAST_PID
  wait_http "http://127.0.0.1:$WEBHOOK_PORT/" "$WEBHOOK_PID"
}
config() { # config NAME KIND ROUTES [DELIVERY] -> path
  local path="$WORK/$1.yaml"
  "$BENCH_DIR/gen-config.sh" "$2" "$3" "$SINK_URL/in" "${4:-}" >"$path"
  echo "$path"
}

# --- the report ---------------------------------------------------------------
REPORT="$WORK/report.md"
: >"$REPORT"
md() { printf '%s\n' "$@" >>"$REPORT"; }
table_head() {
  md "" "| $1 | req/s | p50 ms | p99 ms | p99.9 ms | errors | peak RSS MiB | CPU µs/req | req/s vs ref | p99 vs ref | CPU/req vs ref |" \
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
}
# row LABEL RSS_KIB [ref]: a table row from W_*; `ref` makes it the
# reference the following rows are divided by.
row() {
  local label=$1 rss=$2
  if [[ ${3:-} == ref ]]; then
    REF_RPS=$W_rps REF_P99=$W_p99_us REF_CPU=$W_cpu_us
    label="$label (ref)"
  fi
  md "| $label | $W_rps | $(calc "%.2f" "$W_p50_us / 1000") | $(calc "%.2f" "$W_p99_us / 1000") | $(calc "%.2f" "$W_p999_us / 1000") | $W_errors | $(mib "$rss") | $W_cpu_us | $(calc "%.2f×" "$W_rps / $REF_RPS") | $(calc "%.2f×" "$W_p99_us / ($REF_P99 > 0 ? $REF_P99 : 1)") | $(calc "%.2f×" "$W_cpu_us / ($REF_CPU > 0 ? $REF_CPU : 1)") |"
}
TARGETS=()
# target TEXT MEASURED MET(0/1)
target() { TARGETS+=("| $1 | $2 | $([[ $3 == 1 ]] && echo met || echo "**missed**") |"); }
ge() { awk "BEGIN { exit !($1 >= $2) }" && echo 1 || echo 0; }

want() { [[ " $SCENARIOS " == *" $1 "* ]]; }

# --- build -------------------------------------------------------------------
log "building $PROFILE binaries (hookroute, examples/sink)"
(cd "$ROOT" && cargo build --profile "$PROFILE" --quiet --bin hookroute --example sink) || die "cargo build failed"
# Run copies: a rebuild in the same tree during the run must not swap the
# binary between scenarios.
mkdir -p "$WORK/bin"
cp "$ROOT/target/$PROFILE/hookroute" "$ROOT/target/$PROFILE/examples/sink" "$WORK/bin/"
HOOKROUTE="$WORK/bin/hookroute"
log "work dir $WORK; $DURATION per run after $WARMUP warm-up, $CONNECTIONS connections, $WRK_THREADS wrk thread(s)"

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
start_sink

# --- 1. bare upstream -----------------------------------------------------------
if want 1; then
  log "scenario 1: wrk -> sink"
  md "## 1. Bare upstream" "" "wrk straight at the sink, 7.5 KiB GitHub push: the ceiling for any forwarder on this machine."
  table_head "target"
  load s1-sink "$SINK_URL/in" "$PUSH_BODY" "$SINK_PID"
  BARE_RPS=$W_rps
  row "sink" "$(mem_kib "$SINK_PID" VmHWM)" ref
fi

# --- 2 and 7. forward, sync; memory ---------------------------------------------
if want 2 || want 7; then
  log "scenario 2: forward sync, nginx vs hookroute"
  md "" "## 2. Forward, sync" "" \
    "\`respond: {from: forward}\` route with two JSONPath conditions (\`\$.ref\` matches, \`\$.repository.full_name\` equals) → sink; reference: nginx \`proxy_pass\` with upstream keep-alive → the same sink. 7.5 KiB GitHub push."
  table_head "target"
  start_nginx
  NGINX_IDLE_KIB=$(mem_kib "$NGINX_PID" VmRSS)
  conns=$(sink_conns)
  load s2-nginx "http://127.0.0.1:$NGINX_PORT/hooks/github" "$PUSH_BODY" "$NGINX_PID"
  NGINX_PEAK_KIB=$(mem_kib "$NGINX_PID" VmHWM)
  row "nginx" "$NGINX_PEAK_KIB" ref
  S2_NGINX_RPS=$W_rps S2_NGINX_P99=$W_p99_us
  nginx_conns=$(($(sink_conns) - conns - 1))
  stop "$NGINX_PID"

  start_hookroute "$(config s2-sync sync 1)"
  sleep 1
  HR_IDLE_KIB=$(mem_kib "$HR_PID" VmRSS)
  before=$(sink_count) conns=$(sink_conns)
  load s2-hookroute "http://127.0.0.1:$HR_PORT/hooks/github" "$PUSH_BODY" "$HR_PID"
  reached=$(($(sink_count) - before))
  hr_conns=$(($(sink_conns) - conns - 2))
  HR_PEAK_KIB=$(mem_kib "$HR_PID" VmHWM)
  HR_AFTER_KIB=$(mem_kib "$HR_PID" VmRSS)
  row "hookroute" "$HR_PEAK_KIB"
  S2_HR_RPS=$W_rps S2_HR_P99=$W_p99_us S2_HR_REQUESTS=$W_requests
  stop "$HR_PID"
  # nginx runs with `access_log off`; hookroute's access log is on by
  # default and is what the targets are measured with. This row shows what
  # the log costs.
  RUST_LOG="info,hookroute::access=off" start_hookroute "$(config s2-sync-nolog sync 1)"
  load s2-hookroute-nolog "http://127.0.0.1:$HR_PORT/hooks/github" "$PUSH_BODY" "$HR_PID"
  row "hookroute, access log off" "$(mem_kib "$HR_PID" VmHWM)"
  stop "$HR_PID"
  md "" "The sink received $reached forwards during hookroute's warm-up and measured runs (wrk completed $S2_HR_REQUESTS in the measured run); upstream connections opened over both runs: hookroute $hr_conns, nginx $nginx_conns (keep-alive works when this stays near the $CONNECTIONS client connections)."
  [[ -n ${BARE_RPS:-} ]] && md "hookroute reaches $(calc "%.2f" "$S2_HR_RPS / $BARE_RPS")× of the bare upstream's req/s, nginx $(calc "%.2f" "$S2_NGINX_RPS / $BARE_RPS")×."
  target "Scenario 2: req/s ≥ 1.0× nginx" "$(calc "%.2f×" "$S2_HR_RPS / $S2_NGINX_RPS")" "$(ge "$S2_HR_RPS / $S2_NGINX_RPS" 1.0)"
  target "Scenario 2: p99 ≤ 1.2× nginx" "$(calc "%.2f×" "$S2_HR_P99 / $S2_NGINX_P99")" "$(ge 1.2 "$S2_HR_P99 / $S2_NGINX_P99")"
  target "Scenario 2 (issue 18): req/s ≥ 0.8× nginx" "$(calc "%.2f×" "$S2_HR_RPS / $S2_NGINX_RPS")" "$(ge "$S2_HR_RPS / $S2_NGINX_RPS" 0.8)"
fi

# --- 2b. forward, sync, 80-byte body: the fixed cost of a request ---------------
if want 2b; then
  log "scenario 2b: forward sync, 80-byte body, nginx vs hookroute"
  md "" "## 2b. Forward, sync, 80-byte body" "" \
    "Scenario 2's route with an 80-byte body (\`fixtures/push-80.json\`: the push's \`ref\` and \`repository.full_name\`), where parsing costs next to nothing: what is left is the fixed cost of a request (issue 18). With the two JSONPath conditions, and the same route without conditions; reference: nginx \`proxy_pass\` → the same sink, same body."
  table_head "target"
  start_nginx
  load s2b-nginx "http://127.0.0.1:$NGINX_PORT/hooks/github" "$SMALL_BODY" "$NGINX_PID"
  row "nginx" "$(mem_kib "$NGINX_PID" VmHWM)" ref
  S2B_NGINX_RPS=$W_rps S2B_NGINX_CPU=$W_cpu_us
  stop "$NGINX_PID"
  for variant in sync sync-bare; do
    start_hookroute "$(config "s2b-$variant" "$variant" 1)"
    load "s2b-$variant" "http://127.0.0.1:$HR_PORT/hooks/github" "$SMALL_BODY" "$HR_PID"
    row "hookroute, $([[ $variant == sync ]] && echo "2 conditions" || echo "no conditions")" "$(mem_kib "$HR_PID" VmHWM)"
    stop "$HR_PID"
    if [[ $variant == sync ]]; then S2B_HR_RPS=$W_rps S2B_HR_CPU=$W_cpu_us; fi
  done
  target "Scenario 2b (issue 18): CPU/req ≤ 1.3× nginx" "$(calc "%.2f×" "$S2B_HR_CPU / ($S2B_NGINX_CPU > 0 ? $S2B_NGINX_CPU : 1)")" "$(ge "1.3 * $S2B_NGINX_CPU" "$S2B_HR_CPU")"
  target "Scenario 2b (issue 18): req/s ≥ 0.8× nginx" "$(calc "%.2f×" "$S2B_HR_RPS / $S2B_NGINX_RPS")" "$(ge "$S2B_HR_RPS / $S2B_NGINX_RPS" 0.8)"
fi

# --- 3. forward, async ------------------------------------------------------------
if want 3; then
  log "scenario 3: forward async"
  md "" "## 3. Forward, async" "" \
    "The normal 202 route (same conditions, \`forward\` → sink, answered before delivery). *Accepted* is wrk's 2xx rate; *delivered* is what the sink counted from the start of the measured run until its counter stopped moving (2 s quiet, 120 s cap), divided by that time." \
    "" "| delivery | accepted/s | p50 ms | p99 ms | p99.9 ms | errors | accepted | delivered | delivered/s | peak RSS MiB | CPU µs/req | accepted/s vs first |" \
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  S3_FIRST=""
  declare -A S3_ACC=()
  for mode in $S3_MODES; do
    delivery=""
    [[ $mode == default ]] || delivery=$mode
    cfg=$(config "s3-$mode" async 1 "$delivery")
    if ! "$HOOKROUTE" check -c "$cfg" >"$WORK/s3-$mode-check.log" 2>&1; then
      log "scenario 3: delivery '$mode' is not accepted by this build; skipped"
      md "| $mode | skipped: this build rejects \`delivery: $mode\` ($(tail -1 "$WORK/s3-$mode-check.log" | sed 's/.*: //' | tr '|' '/')) ||||||||||"
      continue
    fi
    start_hookroute "$cfg"
    wrk -t "$WRK_THREADS" -c "$CONNECTIONS" -d "$WARMUP" -s "$LUA" "http://127.0.0.1:$HR_PORT/hooks/github" -- "$PUSH_BODY" >/dev/null 2>&1 || true
    # Let the warm-up's deliveries finish before the baseline.
    prev=-1
    for _ in $(seq 100); do
      c=$(sink_count)
      [[ $c == "$prev" ]] && break
      prev=$c
      sleep 0.5
    done
    base=$(sink_count) t0=$(now)
    measure "s3-$mode" "http://127.0.0.1:$HR_PORT/hooks/github" "$PUSH_BODY" "$HR_PID"
    accepted=$((W_requests - W_status_errors))
    last=$(sink_count) t_last=$(now) quiet_since=$(now)
    while :; do
      sleep 0.2
      c=$(sink_count)
      if [[ $c != "$last" ]]; then
        last=$c t_last=$(now) quiet_since=$t_last
      fi
      (((last - base) >= accepted)) && break
      awk "BEGIN { exit !($(now) - $quiet_since >= 2 || $(now) - $t0 >= 120) }" && break
    done
    delivered=$((last - base))
    peak=$(mem_kib "$HR_PID" VmHWM)
    warns=$(grep -c '"level":"WARN"' "$WORK/hookroute-s3-$mode.log" || true)
    stop "$HR_PID"
    # Only 2xx answers are accepted events: a bounded queue answers 503.
    acc_rps=$(calc "%.0f" "$accepted / ($W_duration_us / 1000000)")
    [[ -z $S3_FIRST ]] && S3_FIRST=$acc_rps
    S3_ACC[$mode]=$acc_rps
    md "| $mode | $acc_rps | $(calc "%.2f" "$W_p50_us / 1000") | $(calc "%.2f" "$W_p99_us / 1000") | $(calc "%.2f" "$W_p999_us / 1000") | $W_errors | $accepted | $delivered | $(calc "%.0f" "$delivered / ($t_last - $t0)") | $(mib "$peak") | $W_cpu_us | $(calc "%.2f×" "$acc_rps / $S3_FIRST") |"
    ((warns > 0)) && md "" "($mode: hookroute logged $warns warnings, e.g. failed forwards; see the run's log.)"
    ((W_errors > 0)) && md "" "($mode: $W_errors answers were not 2xx — with \`delivery: memory\`, the 503 + Retry-After of a full in-memory queue (\`memory_queue_limit\`, default 10,000 jobs) while acceptance outruns delivery; they are not counted as accepted.)"
  done
  md "" "\`default\` is the route as written: durable (202 only after the event and its delivery job are committed and synced to disk); \`memory\` is the opt-out. CPU µs/req divides by all answers, 503s included. Variants are \`S3_MODES\`."
  if [[ -n ${S3_ACC[default]:-} && -n ${S3_ACC[memory]:-} ]]; then
    target "Scenario 3: durable accepted/s ≥ 50% of memory" "$(calc "%.2f×" "${S3_ACC[default]} / ${S3_ACC[memory]}")" \
      "$(ge "${S3_ACC[default]} / ${S3_ACC[memory]}" 0.5)"
  fi
fi

# --- 4. match and answer ------------------------------------------------------
if want 4; then
  log "scenario 4: match and answer, webhook vs hookroute"
  md "" "## 4. Match and answer" "" \
    "Conditions on a header (\`X-GitHub-Event\`) and a payload value (\`ref\`), no forward. Reference: adnanh/webhook with the equivalent \`and\` trigger rule on its mismatch path (header holds, \`ref\` does not; it answers 200 \"Hook rules were not satisfied.\" and runs nothing). hookroute *match*: both conditions hold, a debug-level \`log\` (filtered out at the default info level) and a static \`200 ok\`. hookroute *mismatch*: the \`ref\` condition fails, no route is taken, 202 with the event id."
  table_head "target"
  start_webhook
  load s4-webhook "http://127.0.0.1:$WEBHOOK_PORT/hooks/github" "$PUSH_BODY" "$WEBHOOK_PID"
  row "webhook $(webhook -version 2>&1 | awk '{print $NF}')" "$(mem_kib "$WEBHOOK_PID" VmHWM)" ref
  S4_WH_RPS=$W_rps S4_WH_P99=$W_p99_us
  stop "$WEBHOOK_PID"
  for variant in answer answer-miss; do
    start_hookroute "$(config "s4-$variant" "$variant" 1)"
    load "s4-$variant" "http://127.0.0.1:$HR_PORT/hooks/github" "$PUSH_BODY" "$HR_PID"
    row "hookroute $([[ $variant == answer ]] && echo match || echo mismatch)" "$(mem_kib "$HR_PID" VmHWM)"
    stop "$HR_PID"
    if [[ $variant == answer ]]; then S4_HR_RPS=$W_rps S4_HR_P99=$W_p99_us; fi
  done
  target "Scenario 4: req/s ≥ 5× webhook" "$(calc "%.2f×" "$S4_HR_RPS / $S4_WH_RPS")" "$(ge "$S4_HR_RPS / $S4_WH_RPS" 5)"
  target "Scenario 4 (issue 18): req/s ≥ 10× webhook" "$(calc "%.2f×" "$S4_HR_RPS / $S4_WH_RPS")" "$(ge "$S4_HR_RPS / $S4_WH_RPS" 10)"
  target "Scenario 4: p99 below webhook's" "$(calc "%.2f×" "$S4_HR_P99 / $S4_WH_P99")" "$(ge "$S4_WH_P99" "$S4_HR_P99 + 1")"
fi

# --- 5. scale of the config -----------------------------------------------------
if want 5; then
  log "scenario 5: config scale"
  md "" "## 5. Scale of the config" "" \
    "Scenario 2 with more routes in the file: filler routes of the same shape on their own paths come first, the benchmarked route is last. Reference: the smallest file."
  table_head "routes"
  first=""
  notes=()
  for n in $S5_ROUTES; do
    start_hookroute "$(config "s5-$n" sync "$n")"
    sleep 1
    idle=$(mem_kib "$HR_PID" VmRSS)
    load "s5-$n" "http://127.0.0.1:$HR_PORT/hooks/github" "$PUSH_BODY" "$HR_PID"
    if [[ -z $first ]]; then
      row "$n" "$(mem_kib "$HR_PID" VmHWM)" ref
      first=$n S5_FIRST_RPS=$W_rps
    else
      row "$n" "$(mem_kib "$HR_PID" VmHWM)"
    fi
    S5_LAST=$n S5_LAST_RPS=$W_rps
    notes+=("$n routes: startup (spawn to first answer) $HR_STARTUP_MS ms, idle RSS $(mib "$idle") MiB.")
    stop "$HR_PID"
  done
  md ""
  for note in "${notes[@]}"; do md "- $note"; done
  target "Scenario 5: $S5_LAST routes within 10% of $first" "$(calc "%.2f×" "$S5_LAST_RPS / $S5_FIRST_RPS")" "$(ge "$S5_LAST_RPS / $S5_FIRST_RPS" 0.9)"
fi

# --- 6. payload size ----------------------------------------------------------
if want 6; then
  log "scenario 6: payload size"
  md "" "## 6. Payload size" "" "Scenario 2 with synthetic push-shaped JSON bodies (\`bench/gen-payload.sh\`); each size's reference is nginx at that size."
  table_head "target"
  cfg=$(config s6-sync sync 1)
  for size in $S6_SIZES; do
    "$BENCH_DIR/gen-payload.sh" "$size" >"$WORK/body-$size.json"
    label=$(awk -v s="$size" 'BEGIN { if (s >= 1048576) printf "%g MiB", s / 1048576; else if (s >= 1024) printf "%g KiB", s / 1024; else printf "%d B", s }')
    start_nginx
    load "s6-nginx-$size" "http://127.0.0.1:$NGINX_PORT/hooks/github" "$WORK/body-$size.json" "$NGINX_PID"
    row "nginx, $label" "$(mem_kib "$NGINX_PID" VmHWM)" ref
    stop "$NGINX_PID"
    start_hookroute "$cfg"
    load "s6-hookroute-$size" "http://127.0.0.1:$HR_PORT/hooks/github" "$WORK/body-$size.json" "$HR_PID"
    row "hookroute, $label" "$(mem_kib "$HR_PID" VmHWM)"
    stop "$HR_PID"
  done
fi

# --- 7. memory ----------------------------------------------------------------
if want 7; then
  md "" "## 7. Idle and loaded memory" "" "Resident memory of the server under test in scenario 2 (1 route): idle is VmRSS 1 s after it first answered, peak is VmHWM after the measured run, after is VmRSS then. nginx figures add up its master and workers." \
    "" "| server | idle RSS MiB | peak RSS MiB | RSS after load MiB |" "|---|---:|---:|---:|" \
    "| nginx | $(mib "$NGINX_IDLE_KIB") | $(mib "$NGINX_PEAK_KIB") | – |" \
    "| hookroute | $(mib "$HR_IDLE_KIB") | $(mib "$HR_PEAK_KIB") | $(mib "$HR_AFTER_KIB") |"
  target "Idle RSS ≤ 15 MiB" "$(mib "$HR_IDLE_KIB") MiB" "$(ge 15360 "$HR_IDLE_KIB")"
  target "Peak RSS in scenario 2 ≤ 64 MiB" "$(mib "$HR_PEAK_KIB") MiB" "$(ge 65536 "$HR_PEAK_KIB")"
fi

# --- 8. several replicas on NATS JetStream -------------------------------------
# s8_wait_port PORT PID: until PORT accepts TCP (30 s), or PID dies.
s8_wait_port() {
  for _ in $(seq 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || die "process $2 exited before listening on $1 (see its log in $WORK)"
    sleep 0.1
  done
  die "nothing listened on $1 within 30 s"
}
# s8_nats LABEL NODES: starts a single JetStream node (1) or a three-node
# cluster (3) on loopback; sets S8_NATS_PIDS and S8_NATS_URLS.
s8_nats() {
  local label=$1 nodes=$2 i routes=""
  S8_NATS_PIDS=() S8_NATS_URLS=()
  for i in $(seq 0 $((nodes - 1))); do routes+="${routes:+,}nats://127.0.0.1:$((PORT_BASE + 50 + i))"; done
  for i in $(seq 0 $((nodes - 1))); do
    local args=(-js -sd "$WORK/nats-$label-$i" -a 127.0.0.1 -p $((PORT_BASE + 40 + i)) -m $((PORT_BASE + 60 + i)))
    ((nodes > 1)) && args+=(-n "n$i" --cluster_name bench --cluster "nats://127.0.0.1:$((PORT_BASE + 50 + i))" --routes "$routes")
    start "nats-$label-$i" "$NATS_BIN" "${args[@]}"
    S8_NATS_PIDS+=("$LAST_PID")
    S8_NATS_URLS+=("nats://127.0.0.1:$((PORT_BASE + 40 + i))")
  done
  for i in $(seq 0 $((nodes - 1))); do s8_wait_port $((PORT_BASE + 40 + i)) "${S8_NATS_PIDS[$i]}"; done
  ((nodes > 1)) || return 0
  for _ in $(seq 300); do
    curl -s --max-time 1 "http://127.0.0.1:$((PORT_BASE + 60))/jsz" | grep -q '"leader"' && return 0
    sleep 0.1
  done
  die "the NATS cluster ($label) elected no JetStream leader within 30 s"
}
# s8_run LABEL REPLICAS STORE_BLOCK: one row of the table.
s8_run() {
  local label=$1 n=$2 block=$3 cfg i pids=() urls=() ticks=0 nticks=0 p
  cfg=$(config "s8-$label" async 1)
  printf '%s' "$block" >>"$cfg"
  "$HOOKROUTE" check -c "$cfg" >"$WORK/s8-$label-check.log" 2>&1 || die "s8 $label: config rejected: $(tail -1 "$WORK/s8-$label-check.log")"
  for i in $(seq 0 $((n - 1))); do
    start "hookroute-s8-$label-$i" "$HOOKROUTE" serve -c "$cfg" --listen "127.0.0.1:$((PORT_BASE + 20 + i))" \
      --admin-listen "127.0.0.1:$((PORT_BASE + 30 + i))" --data-dir "$WORK/data-s8-$label-$i"
    pids+=("$LAST_PID")
    urls+=("http://127.0.0.1:$((PORT_BASE + 20 + i))/hooks/github")
    wait_http "http://127.0.0.1:$((PORT_BASE + 30 + i))/-/healthz" "$LAST_PID"
  done
  local per=$((CONNECTIONS / n))
  ((per > 0)) || per=1
  local wrks=()
  for i in "${!urls[@]}"; do
    wrk -t "$WRK_THREADS" -c "$per" -d "$WARMUP" -s "$LUA" "${urls[$i]}" -- "$PUSH_BODY" >/dev/null 2>&1 &
    wrks+=("$!")
  done
  wait "${wrks[@]}" || true
  local prev=-1 c
  for _ in $(seq 100); do
    c=$(sink_count)
    [[ $c == "$prev" ]] && break
    prev=$c
    sleep 0.5
  done
  for p in "${pids[@]}"; do ticks=$((ticks + $(cpu_ticks "$p"))); done
  for p in "${S8_NATS_PIDS[@]}"; do nticks=$((nticks + $(cpu_ticks "$p"))); done
  local base t0
  base=$(sink_count) t0=$(now)
  wrks=()
  for i in "${!urls[@]}"; do
    wrk -t "$WRK_THREADS" -c "$per" -d "$DURATION" -s "$LUA" "${urls[$i]}" -- "$PUSH_BODY" >"$WORK/wrk-s8-$label-$i.log" 2>&1 &
    wrks+=("$!")
  done
  wait "${wrks[@]}" || true
  local requests=0 accepted=0 errors=0 rate=0 p50=0 p99=0 kv line
  for i in "${!urls[@]}"; do
    line=$(grep '^RESULT ' "$WORK/wrk-s8-$label-$i.log") || die "no RESULT line from wrk for s8 $label"
    for kv in ${line#RESULT }; do printf -v "W_${kv%%=*}" '%s' "${kv#*=}"; done
    requests=$((requests + W_requests))
    accepted=$((accepted + W_requests - W_status_errors))
    errors=$((errors + W_status_errors + W_connect + W_read + W_write + W_timeout))
    rate=$(calc "%.2f" "$rate + ($W_requests - $W_status_errors) / ($W_duration_us / 1000000)")
    ((W_p50_us > p50)) && p50=$W_p50_us
    ((W_p99_us > p99)) && p99=$W_p99_us
  done
  local after=0 nafter=0
  for p in "${pids[@]}"; do after=$((after + $(cpu_ticks "$p"))); done
  for p in "${S8_NATS_PIDS[@]}"; do nafter=$((nafter + $(cpu_ticks "$p"))); done
  local last t_last quiet_since
  last=$(sink_count) t_last=$(now) quiet_since=$(now)
  while :; do
    sleep 0.2
    c=$(sink_count)
    if [[ $c != "$last" ]]; then
      last=$c t_last=$(now) quiet_since=$t_last
    fi
    (((last - base) >= accepted)) && break
    awk "BEGIN { exit !($(now) - $quiet_since >= 3 || $(now) - $t0 >= 180) }" && break
  done
  local delivered=$((last - base)) div=$((requests > 0 ? requests : 1))
  for p in "${pids[@]}"; do stop "$p"; done
  local acc_rps
  acc_rps=$(calc "%.0f" "$rate")
  [[ $label == embedded ]] && S8_EMBEDDED=$acc_rps
  S8_ACC[$label]=$acc_rps
  log "s8 $label: $acc_rps accepted/s, $delivered of $accepted delivered"
  md "| $label | $n | $acc_rps | $(calc "%.2f" "$p50 / 1000") | $(calc "%.2f" "$p99 / 1000") | $errors | $accepted | $delivered | $(calc "%.0f" "$delivered / ($t_last - $t0)") | $(calc "%.0f" "($after - $ticks) * 1000000 / $CLK_TCK / $div") | $(calc "%.0f" "($nafter - $nticks) * 1000000 / $CLK_TCK / $div") | $(calc "%.2f×" "$acc_rps / ${S8_EMBEDDED:-$acc_rps}") |"
}

if want 8; then
  NATS_BIN=$(command -v nats-server || true)
  [[ -z $NATS_BIN && -x /usr/sbin/nats-server ]] && NATS_BIN=/usr/sbin/nats-server
  md "" "## 8. Several replicas on NATS JetStream" ""
  if [[ -z $NATS_BIN ]]; then
    log "scenario 8: nats-server not found (apt-get install nats-server); skipped"
    md "Skipped: nats-server is not installed (\`apt-get install nats-server\`)."
  else
    log "scenario 8: embedded store vs JetStream R1 and R3 with 3 replicas"
    md "Scenario 3's durable route. *embedded*: one hookroute on its redb file (the embedded store has one writer). *jetstream-R1*: three hookroute replicas on one JetStream node (\`store: jetstream\`, \`replicas: 1\`); *jetstream-R3*: the same on a three-node cluster on loopback (\`replicas: 3\`: a 202 waits for a quorum). The load is split over the replicas ($CONNECTIONS connections in all, one wrk per replica); p50/p99 are the worst replica's. CPU µs/req: all hookroute processes, and all NATS servers, over the measured run, per request. Everything, NATS included, shares the machine's $(nproc) cores." \
      "" "| store | replicas | accepted/s | p50 ms | p99 ms | errors | accepted | delivered | delivered/s | hookroute CPU µs/req | NATS CPU µs/req | accepted/s vs embedded |" \
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    declare -A S8_ACC=()
    S8_NATS_PIDS=()
    s8_run embedded 1 ""
    s8_nats r1 1
    s8_run jetstream-R1 3 "$(printf 'store:\n  jetstream:\n    servers: [%s]\n    stream: benchr1\n    replicas: 1\n' "${S8_NATS_URLS[0]}")"
    for p in "${S8_NATS_PIDS[@]}"; do stop "$p"; done
    s8_nats r3 3
    s8_run jetstream-R3 3 "$(printf 'store:\n  jetstream:\n    servers: [%s]\n    stream: benchr3\n    replicas: 3\n' "$(IFS=,; echo "${S8_NATS_URLS[*]}")")"
    for p in "${S8_NATS_PIDS[@]}"; do stop "$p"; done
    S8_NATS_PIDS=()
    target "Scenario 8: JetStream R1 (3 replicas) accepted/s ≥ 0.5× embedded" \
      "$(calc "%.2f×" "${S8_ACC[jetstream-R1]} / ${S8_ACC[embedded]}")" "$(ge "${S8_ACC[jetstream-R1]} / ${S8_ACC[embedded]}" 0.5)"
  fi
fi

# --- 9. publishing to brokers ---------------------------------------------------
# One row per way out, in the same run: the durable forward to the sink (the
# reference), then each broker's durable publish. A broker adds a line: start
# its server, write its `brokers:` entry and `publish:` keys, and give s9_row
# a function that prints how many messages the broker holds.
# s9_row LABEL CONFIG COUNTER: accepted/s (wrk's 2xx) and delivered/s (what
# COUNTER counts from the start of the measured run until it stops moving).
s9_row() {
  local label=$1 cfg=$2 counter=$3 base t0 accepted last t_last quiet_since c
  "$HOOKROUTE" check -c "$cfg" >"$WORK/s9-$label-check.log" 2>&1 || die "s9 $label: config rejected: $(tail -1 "$WORK/s9-$label-check.log")"
  start_hookroute "$cfg"
  wrk -t "$WRK_THREADS" -c "$CONNECTIONS" -d "$WARMUP" -s "$LUA" "http://127.0.0.1:$HR_PORT/hooks/github" -- "$PUSH_BODY" >/dev/null 2>&1 || true
  local prev=-1
  for _ in $(seq 100); do
    c=$($counter)
    [[ $c == "$prev" ]] && break
    prev=$c
    sleep 0.5
  done
  base=$($counter) t0=$(now)
  measure "s9-$label" "http://127.0.0.1:$HR_PORT/hooks/github" "$PUSH_BODY" "$HR_PID"
  accepted=$((W_requests - W_status_errors))
  last=$($counter) t_last=$(now) quiet_since=$(now)
  while :; do
    sleep 0.2
    c=$($counter)
    if [[ $c != "$last" ]]; then
      last=$c t_last=$(now) quiet_since=$t_last
    fi
    (((last - base) >= accepted)) && break
    awk "BEGIN { exit !($(now) - $quiet_since >= 3 || $(now) - $t0 >= 180) }" && break
  done
  local delivered=$((last - base)) peak
  peak=$(mem_kib "$HR_PID" VmHWM)
  stop "$HR_PID"
  local acc_rps del_rps
  acc_rps=$(calc "%.0f" "$accepted / ($W_duration_us / 1000000)")
  del_rps=$(calc "%.0f" "$delivered / ($t_last - $t0)")
  [[ -z ${S9_REF:-} ]] && S9_REF=$del_rps
  log "s9 $label: $acc_rps accepted/s, $delivered of $accepted delivered, $del_rps delivered/s"
  md "| $label | $acc_rps | $(calc "%.2f" "$W_p50_us / 1000") | $(calc "%.2f" "$W_p99_us / 1000") | $W_errors | $accepted | $delivered | $del_rps | $(mib "$peak") | $W_cpu_us | $(calc "%.2f×" "$del_rps / ($S9_REF > 0 ? $S9_REF : 1)") |"
}
# s9_publish_config NAME BROKERS_ENTRY PUBLISH_KEYS -> path: scenario 3's
# durable route, with its forward replaced by `publish: {to: bus, KEYS}`.
s9_publish_config() {
  local cfg
  cfg=$(config "s9-$1" async 1)
  sed -i -E "s#- forward: \{ url: \"[^\"]*\", timeout: 30s \}#- publish: { to: bus, $3, timeout: 30s }#" "$cfg"
  printf 'brokers:\n  bus: %s\n' "$2" >>"$cfg"
  echo "$cfg"
}
# NATS: a JetStream stream BENCH on bench.>, created over the client
# protocol (no `nats` CLI needed); the count is the server's stored messages.
s9_nats_stream() {
  local port=$1 json='{"name":"BENCH","subjects":["bench.>"],"storage":"file"}' answer
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  read -r _ <&3
  printf 'CONNECT {"verbose":false}\r\nSUB _INBOX.s9 1\r\nPUB $JS.API.STREAM.CREATE.BENCH _INBOX.s9 %d\r\n%s\r\n' "${#json}" "$json" >&3
  answer=$(timeout 5 head -c 200 <&3 || true)
  exec 3>&-
  [[ $answer == *stream_create_response* ]] || die "s9: cannot create the JetStream stream: $answer"
}
s9_nats_count() { curl -s --max-time 2 "http://127.0.0.1:$((PORT_BASE + 61))/jsz" | sed -nE 's/^  "messages": ([0-9]+),?$/\1/p' | head -1; }

# Successful publish attempts to the connection `bus` (/-/metrics).
s9_published() {
  curl -s --max-time 2 "http://127.0.0.1:$HR_ADMIN_PORT/-/metrics" |
    sed -nE 's/^hookroute_forward_attempts_total\{destination="broker:bus",outcome="success"\} ([0-9]+).*$/\1/p' | head -1 | grep . || echo 0
}

if want 9; then
  NATS_BIN=$(command -v nats-server || true)
  [[ -z $NATS_BIN && -x /usr/sbin/nats-server ]] && NATS_BIN=/usr/sbin/nats-server
  log "scenario 9: publishing to brokers vs forward"
  md "" "## 9. Publishing to brokers" "" \
    "Scenario 3's durable route (202 once the job is on disk), its action changed: \`forward\` to the sink (the reference), or \`publish\` to a broker, each acknowledged in its durable way. *Delivered/s* counts what arrived (the sink's requests, the broker's stored messages) from the start of the measured run until the count stopped moving (3 s quiet, 180 s cap). Brokers run on the same cores as everything else." \
    "" "| way out | accepted/s | p50 ms | p99 ms | errors | accepted | delivered | delivered/s | peak RSS MiB | CPU µs/req | delivered/s vs forward |" \
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  S9_REF=""
  s9_row forward "$(config s9-forward async 1)" sink_count
  if [[ -z $NATS_BIN ]]; then
    md "| nats-jetstream | skipped: nats-server is not installed (\`apt-get install nats-server\`) ||||||||||"
  else
    start nats-s9 "$NATS_BIN" -js -sd "$WORK/nats-s9" -a 127.0.0.1 -p $((PORT_BASE + 41)) -m $((PORT_BASE + 61))
    S9_NATS_PID=$LAST_PID
    s8_wait_port $((PORT_BASE + 41)) "$S9_NATS_PID"
    s9_nats_stream $((PORT_BASE + 41))
    s9_row nats-jetstream "$(s9_publish_config nats "{ nats: { servers: [nats://127.0.0.1:$((PORT_BASE + 41))] } }" "subject: bench.push, jetstream: true")" s9_nats_count
    stop "$S9_NATS_PID"
  fi
  # Redis Streams and MQTT (QoS 1): delivered = the publish jobs that
  # succeeded (each one an XADD reply or a PUBACK), read from /-/metrics.
  REDIS_BIN=$(command -v redis-server || true)
  if [[ -z $REDIS_BIN ]]; then
    md "| redis-streams | skipped: redis-server is not installed (\`apt-get install redis-server\`) ||||||||||"
  else
    mkdir -p "$WORK/redis-s9"
    start redis-s9 "$REDIS_BIN" --port $((PORT_BASE + 42)) --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK/redis-s9"
    S9_REDIS_PID=$LAST_PID
    s8_wait_port $((PORT_BASE + 42)) "$S9_REDIS_PID"
    s9_row redis-streams "$(s9_publish_config redis "{ redis: { url: redis://127.0.0.1:$((PORT_BASE + 42))/0 } }" "stream: bench")" s9_published
    stop "$S9_REDIS_PID"
  fi
  MOSQUITTO_BIN=$(command -v mosquitto || true)
  [[ -z $MOSQUITTO_BIN && -x /usr/sbin/mosquitto ]] && MOSQUITTO_BIN=/usr/sbin/mosquitto
  if [[ -z $MOSQUITTO_BIN ]]; then
    md "| mqtt-qos1 | skipped: mosquitto is not installed (\`apt-get install mosquitto\`) ||||||||||"
  else
    printf 'listener %d 127.0.0.1\nallow_anonymous true\nuser root\n' $((PORT_BASE + 43)) >"$WORK/mosquitto-s9.conf"
    start mosquitto-s9 "$MOSQUITTO_BIN" -c "$WORK/mosquitto-s9.conf"
    S9_MQTT_PID=$LAST_PID
    s8_wait_port $((PORT_BASE + 43)) "$S9_MQTT_PID"
    s9_row mqtt-qos1 "$(s9_publish_config mqtt "{ mqtt: { url: mqtt://127.0.0.1:$((PORT_BASE + 43)) } }" "topic: bench/push, qos: 1")" s9_published
    stop "$S9_MQTT_PID"
  fi
  # Other brokers: one `s9_row` line each, here.
fi

# --- 10. running commands -------------------------------------------------------
# Scenario 3's durable route with its forward replaced by an `exec` of
# /bin/true: accepted/s and runs/s (successful attempts of exec:/bin/true in
# /-/metrics), with the default max_concurrent (1: runs never overlap) and
# with 8 at once. The forward row of scenario 9 is the reference when it ran.
s10_runs() {
  curl -s --max-time 2 "http://127.0.0.1:$HR_ADMIN_PORT/-/metrics" |
    sed -nE 's/^hookroute_forward_attempts_total\{destination="exec:\/bin\/true",outcome="success"\} ([0-9]+).*$/\1/p' | head -1 | grep . || echo 0
}
s10_config() { # s10_config NAME MAX_CONCURRENT -> path
  local cfg
  cfg=$(config "s10-$1" async 1)
  sed -i -E "s#- forward: \{ url: \"[^\"]*\", timeout: 30s \}#- exec: { command: [/bin/true], max_concurrent: $2, timeout: 30s }#" "$cfg"
  echo "$cfg"
}
if want 10; then
  log "scenario 10: running commands"
  md "" "## 10. Running commands" "" \
    "Scenario 3's durable route, its action an \`exec\` of \`/bin/true\` (no shell; a process group, pipes read, reaped), queued like a forward. *Delivered* counts successful runs (\`hookroute_forward_attempts_total{destination=\"exec:/bin/true\",outcome=\"success\"}\`); the last column compares with the durable forward of scenario 9 when it ran in this run." \
    "" "| way out | accepted/s | p50 ms | p99 ms | errors | accepted | delivered | delivered/s | peak RSS MiB | CPU µs/req | delivered/s vs forward |" \
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  S9_REF=${S9_REF:-}
  [[ -z $S9_REF ]] && s9_row forward "$(config s10-forward async 1)" sink_count
  s9_row exec-true-concurrent-1 "$(s10_config one 1)" s10_runs
  s9_row exec-true-concurrent-8 "$(s10_config eight 8)" s10_runs
fi

# --- write RESULTS.md ---------------------------------------------------------------
commit=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(cd "$ROOT" && git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " (with uncommitted changes)" || true)
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
{
  echo "# hookroute benchmark results"
  echo
  echo "Written by \`bench/run.sh\` (see \`bench/README.md\`); every ratio compares figures measured in this one run."
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- Machine: $(nproc) CPUs ($cpu), $mem RAM, Linux $(uname -r)"
  echo "- hookroute: commit $commit$dirty, \`$PROFILE\` profile; $(rustc --version 2>/dev/null)"
  echo "- References: $("$NGINX_BIN" -v 2>&1 | sed 's/.*: //'), webhook $(webhook -version 2>&1 | awk '{print $NF}'), sink = \`examples/sink.rs\` (hyper 1, 1 thread)"
  echo "- Load: $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}'), $WRK_THREADS thread(s), $CONNECTIONS connections, $DURATION measured after $WARMUP warm-up, closed loop; all on loopback on the same cores as the servers"
  echo "- Errors are non-2xx/3xx answers plus socket errors. Latencies are wrk's percentiles; RSS from /proc/PID/status; CPU µs/req is the server's user+system CPU time (all its processes) over the measured run divided by its requests."
  echo
  echo "- Load average (1/5/15 min) when the measurements started: $LOAD_START; when they ended: $(cut -d' ' -f1-3 /proc/loadavg) (on $(nproc) CPUs)"
  echo
  echo "This machine may be shared and noisy: compare ratios within one run, not absolute figures across runs; CPU µs/req moves less with the neighbours' load than req/s and latencies."
  echo
  if ((${#TARGETS[@]})); then
    echo "## Targets (issues 7 and 18)"
    echo
    echo "| target | measured | |"
    echo "|---|---:|---|"
    printf '%s\n' "${TARGETS[@]}"
    echo
  fi
  cat "$REPORT"
} >"$OUT"
log "wrote $OUT"
