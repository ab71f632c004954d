#!/usr/bin/env bash
# Instructions per request of one server on one scenario, under callgrind.
#
# Why: on a shared 2-core machine wall-clock figures move by ±30% with the
# neighbours' load, so they cannot tell a 10% improvement from noise.
# Instruction counts are repeatable to a fraction of a percent: run this
# before and after a change and compare. (User-space instructions only; the
# kernel's share, TCP on loopback, is the same for every server.)
#
#   bench/callgrind.sh TARGET [N]
#     TARGET  s2        hookroute, forward sync route (scenario 2) -> sink
#             s2b       the same route, 80-byte body (scenario 2b: the fixed
#                       cost of a request, where parsing costs next to nothing)
#             s2b-bare  s2b without conditions
#             s4        hookroute, match and answer (scenario 4)
#             nginx     nginx proxy_pass -> sink (scenario 2's reference)
#             nginx-b   the same, 80-byte body (scenario 2b's reference)
#     N       measured requests (default 2000), after 200 warm-up requests,
#             all POSTs of the 7.5 KiB push (80-byte targets: fixtures/push-80.json)
#             over one keep-alive connection
#   ALLOC=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2 bench/callgrind.sh s2
#             tries another malloc without rebuilding (LD_PRELOAD)
#   HOOKROUTE=/path/to/hookroute SINK=/path/to/sink bench/callgrind.sh s2
#             measures copies of the binaries (a before/after comparison
#             while the next build overwrites target/release)
#
# Prints instructions/request, the most expensive functions (inclusive) and,
# for hookroute, the request broken down by stage (bench/stages.awk: each
# stage is the inclusive cost of named functions; the mapping and its caveats
# are in that file and in bench/PROFILE.md); the callgrind file is kept for
# callgrind_annotate / kcachegrind.
# Needs: valgrind, curl (and nginx for TARGET=nginx); release binaries built
# (cargo build --release --bin hookroute --example sink).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
target=${1:?usage: callgrind.sh s2|s2b|s2b-bare|s4|nginx|nginx-b [N]}
n=${2:-2000}
port=${PORT_BASE:-18180}
sink_port=$((port + 1))
admin_port=$((port + 10))
body="$BENCH_DIR/fixtures/github-push.json"
[[ $target == s2b* || $target == nginx-b ]] && body="$BENCH_DIR/fixtures/push-80.json"
out=${OUT_DIR:-$(mktemp -d /tmp/hookroute-callgrind.XXXXXX)}
mkdir -p "$out"
chmod 755 "$out"
command -v valgrind >/dev/null || {
  echo "needs valgrind: sudo apt-get install -y valgrind" >&2
  exit 2
}

pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

"${SINK:-$ROOT/target/release/examples/sink}" --listen "127.0.0.1:$sink_port" >"$out/sink.log" 2>&1 &
pids+=($!)

case "$target" in
s2 | s2b | s2b-bare | s4)
  case $target in s2 | s2b) kind=sync ;; s2b-bare) kind=sync-bare ;; *) kind=answer ;; esac
  "$BENCH_DIR/gen-config.sh" "$kind" 1 "http://127.0.0.1:$sink_port/in" >"$out/routes.yaml"
  LD_PRELOAD=${ALLOC:-} valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" \
    "${HOOKROUTE:-$ROOT/target/release/hookroute}" serve -c "$out/routes.yaml" \
    --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin_port" >"$out/server.log" 2>&1 &
  ;;
nginx | nginx-b)
  mkdir -p "$out/nginx-tmp"
  sed -e "s#@WORK@#$out#g" -e "s#@PORT@#$port#g" -e "s#@SINK_PORT@#$sink_port#g" -e "s#@WORKERS@#1#g" \
    "$BENCH_DIR/templates/nginx.conf" >"$out/nginx.conf"
  valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" \
    "$(command -v nginx || echo /usr/sbin/nginx)" -p "$out" -e "$out/nginx-error.log" -c "$out/nginx.conf" \
    -g 'daemon off; master_process off;' >"$out/server.log" 2>&1 &
  ;;
*)
  echo "unknown target $target" >&2
  exit 2
  ;;
esac
server=$!
pids+=("$server")

url="http://127.0.0.1:$port/hooks/github"
for _ in $(seq 200); do
  curl -s -o /dev/null --max-time 1 "$url" && break
  sleep 0.3
done
# N requests over one connection: curl reuses it for every URL it is given.
post() {
  local urls=() i
  for ((i = 0; i < $1; i++)); do urls+=("$url"); done
  curl -s -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' \
    -H 'X-GitHub-Delivery: 72d3162e-cc78-11e3-81ab-4c9367dc0958' -H 'User-Agent: GitHub-Hookshot/bench' \
    --data-binary "@$body" "${urls[@]}" >/dev/null
}
post 200
callgrind_control -z "$server" >/dev/null
post "$n"
callgrind_control -d "$server" >/dev/null
sleep 1
dump=$(ls -t "$out"/callgrind.out.* | head -1)
callgrind_annotate --inclusive=yes --threshold=100 "$dump" 2>/dev/null |
  grep -E '^ *[0-9,]+ \(' | sed -E 's/ \[\/.*//' |
  awk -v n="$n" '{ x = $1; gsub(",", "", x); $1 = ""; $2 = ""; sub(/^ +/, ""); printf "%9.0f  %s\n", x / n, $0 }' >"$out/inclusive.txt"
echo "$target: $(awk 'NR == 1 { print $1 }' "$out/inclusive.txt") instructions/request (user space, N=$n)"
[[ $target == nginx* ]] || awk -f "$BENCH_DIR/stages.awk" "$out/inclusive.txt"
echo "top functions, inclusive instructions/request (full list: $out/inclusive.txt; dump: $dump):"
cut -c1-170 "$out/inclusive.txt" | grep -E 'hookroute::|serde_json::de::from_trait|drop_in_place<serde_json::value::Value>|malloc.c:(malloc|free|realloc)$|reqwest::async_impl::client::Client::execute_request|idna::|ngx_' |
  awk '!seen[$2]++' | head -25
