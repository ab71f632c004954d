#!/usr/bin/env bash
# The container test: runs the image docker/build-image.sh built
# (localhost/hookroute:dev, IMAGE overrides) the way docs/operating.md's "Docker"
# section tells users to — the config *directory* mounted read-only at
# /etc/hookroute, a data volume at /var/lib/hookroute, the image's own user,
# environment and command — and shows what the container promises:
#
#   1. a webhook's `file` record lands on the volume, owned by uid 65532;
#   2. hot reload through the mount: an edit in place, a write-and-rename,
#      and a Kubernetes ConfigMap `..data` symlink swap each take effect;
#   3. the image's HEALTHCHECK command answers ready inside the container;
#   4. a durable forward accepted while its upstream is down survives a
#      stop and a new container on the same volume, and is delivered once
#      the upstream is up;
#   5. SIGTERM stops the server within shutdown_grace, after the deliveries
#      it had in flight have finished;
#   6. it runs as uid 65532 with no shell and no package manager inside;
#      the image size is printed.
#
# Runs as root with buildah (vfs storage, chroot isolation; the container
# shares the host network, so everything listens on free loopback ports).
# Without buildah it skips with one line, unless HOOKROUTE_REQUIRE_SERVERS=1.
set -euo pipefail
cd "$(dirname "$0")/.."

image=${IMAGE:-localhost/hookroute:dev}
grace=5

if ! command -v buildah >/dev/null 2>&1; then
  if [ "${HOOKROUTE_REQUIRE_SERVERS:-}" = 1 ]; then
    echo "container test: buildah is missing (Debian package: buildah) and HOOKROUTE_REQUIRE_SERVERS=1" >&2
    exit 1
  fi
  echo "container test skipped: buildah is not installed (Debian package: buildah)"
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "container test: buildah with vfs storage needs root" >&2; exit 1; }

bh() { buildah --storage-driver vfs "$@"; }
say() { echo "container test: $*"; }
fail() {
  echo "container test FAILED: $*" >&2
  if [ -s "${work:-}/server.log" ]; then
    echo "the server's last lines:" >&2
    tail -n 15 "$work/server.log" >&2
  fi
  exit 1
}
bh inspect --type image "$image" >/dev/null 2>&1 || fail "no image $image; build it with docker/build-image.sh"

work=$(mktemp -d)
containers=()
pids=()
cleanup() {
  local ctr i
  # Servers first: buildah run does not pass signals on.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null || true; done
  sleep 1
  for ctr in "${containers[@]}"; do bh rm "$ctr" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT
# Drops a pid that has exited, so cleanup cannot signal a recycled one.
forget() {
  local keep=() pid
  for pid in "${pids[@]}"; do [ "$pid" = "$1" ] || keep+=("$pid"); done
  pids=("${keep[@]}")
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
admin=$(free_port)
upstream_port=$(free_port)

# Waits up to $2 seconds (default 30) for the command in $1 to succeed.
wait_for() {
  local what=$1 limit=${2:-30} i
  for ((i = 0; i < limit * 10; i++)); do
    if eval "$what"; then return 0; fi
    sleep 0.1
  done
  return 1
}

# The upstream: records "begin PATH" when a request arrives and "done PATH
# BODY" once it has answered; /slow answers after 2 s.
cat >"$work/upstream.py" <<'EOF'
import sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = open(sys.argv[2], "a", buffering=1)

class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        log.write(f"begin {self.path}\n")
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        if self.path.startswith("/slow"):
            time.sleep(2)
        self.send_response(204)
        self.end_headers()
        log.write(f"done {self.path} {body}\n")

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
EOF
upstream_log=$work/upstream.log
touch "$upstream_log"
start_upstream() {
  python3 "$work/upstream.py" "$upstream_port" "$upstream_log" &
  pids+=($!)
  wait_for "curl -s -o /dev/null -X POST http://127.0.0.1:$upstream_port/ping" || fail "the upstream did not start"
}

# The config directory, readable by the container's user; the data volume
# owned by it, as Docker's named volumes are (they copy the image's
# /var/lib/hookroute, which belongs to 65532).
config=$work/config
data=$work/data
mkdir -p "$config" "$data"
chmod 0755 "$work" "$config"
chown 65532:65532 "$data"
umask 022

# The routes file, with `respond` body $1 on /hooks/version.
routes() {
  cat <<EOF
version: 1
listen: 127.0.0.1:$port
admin_listen: 127.0.0.1:$admin
shutdown_grace: ${grace}s
defaults:
  retry: { max_attempts: 1000, initial_backoff: 200ms, max_backoff: 1s }
destinations:
  circuit_breaker: { failures: 1000, open_for: 1s, max_open_for: 1s }
routes:
  - name: record
    path: /hooks/record
    actions:
      - file: { path: events/record.jsonl }
  - name: durable
    path: /hooks/durable
    actions:
      - forward: { url: "http://127.0.0.1:$upstream_port/durable" }
  - name: slow
    path: /hooks/slow
    actions:
      - forward: { url: "http://127.0.0.1:$upstream_port/slow" }
  - name: version
    path: /hooks/version
    actions: [ { log: { level: debug, message: version } } ]
    respond: { status: 200, body: $1 }
EOF
}
routes v1 >"$config/routes.yaml"

server_pid=
run_pid=
# Runs a command in container $1 with the two mounts; a second command in
# the same container (the health check) sees the same files.
run_in() {
  local ctr=$1
  shift
  bh run --isolation chroot -v "$config:/etc/hookroute:ro" -v "$data:/var/lib/hookroute" "$ctr" -- "$@"
}
# Starts a container from the image with the two mounts and the image's
# command, and waits until it is ready. buildah run does not forward
# signals, so the server's own pid is found among its descendants.
start_container() {
  local ctr
  ctr=$(bh from --quiet --pull=never "$image")
  containers+=("$ctr")
  current=$ctr
  # `buildah run` mounts an anonymous volume for the image's VOLUME over the
  # -v bind mount at the same path (Docker and Kubernetes let the mount
  # win), so drop the declaration from this working container.
  bh config --volume /var/lib/hookroute- "$ctr"
  run_in "$ctr" hookroute serve >>"$work/server.log" 2>&1 &
  run_pid=$!
  pids+=("$run_pid")
  wait_for "server_pid=\$(find_server $run_pid) && [ -n \"\$server_pid\" ]" || fail "no hookroute process started"
  pids+=("$server_pid")
  wait_for "curl -sf -o /dev/null http://127.0.0.1:$admin/-/readyz" || fail "the container did not become ready"
}
find_server() {
  local pid child
  for child in $(pgrep -P "$1" || true); do
    if [ "$(cat "/proc/$child/comm" 2>/dev/null)" = hookroute ]; then
      echo "$child"
      return 0
    fi
    pid=$(find_server "$child") && [ -n "$pid" ] && { echo "$pid"; return 0; }
  done
  return 1
}
# SIGTERM to the server; prints how long it took to exit and fails past
# shutdown_grace plus a margin for a loaded machine.
stop_container() {
  local started=$SECONDS
  kill -TERM "$server_pid"
  wait_for "! kill -0 $server_pid 2>/dev/null" $((grace + 10)) ||
    fail "hookroute still running $((grace + 10)) s after SIGTERM (shutdown_grace ${grace}s)"
  forget "$server_pid"
  local code=0
  wait "$run_pid" || code=$?
  forget "$run_pid"
  [ "$code" = 0 ] || fail "hookroute exited $code after SIGTERM"
  stopped_in=$((SECONDS - started))
}
post() { curl -s -o "$work/answer" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  "http://127.0.0.1:$port$1" -d "$2"; }
version_is() { [ "$(post /hooks/version '{}')" = 200 ] && [ "$(cat "$work/answer")" = "$1" ]; }

say "image $image; config $config mounted read-only at /etc/hookroute; volume $data at /var/lib/hookroute"
start_container

# 6. Non-root, no shell, no package manager; the image size.
user=$(bh inspect --type image --format '{{.Docker.Config.User}}' "$image")
[ "$user" = 65532:65532 ] || fail "the image's USER is '$user', not 65532:65532"
uid=$(awk '/^Uid:/ {print $2}' "/proc/$server_pid/status")
[ "$uid" = 65532 ] || fail "the server runs as uid $uid"
probe=$(bh from --quiet --pull=never "$image")
containers+=("$probe")
root=$(bh mount "$probe")
found=$(find "$root" \( -name sh -o -name bash -o -name dash -o -name ash -o -name busybox -o -name 'apt*' \
  -o -name dpkg -o -name 'dpkg-*' -o -name rpm -o -name apk \) \( -type f -o -type l \) -printf '/%P\n')
[ -z "$found" ] || fail "the image has a shell or package manager: $found"
bh umount "$probe" >/dev/null
if bh run --isolation chroot "$probe" -- /bin/sh -c true >/dev/null 2>&1; then fail "/bin/sh runs in the image"; fi
size=$(bh images --format '{{.Size}}' "$image" | head -n1)
say "6 ok: USER $user, server uid $uid, no shell or package manager in the image; image size $size"

# 1. A file record on the volume, owned by the container's user.
[ "$(post /hooks/record '{"n":1}')" = 202 ] || fail "/hooks/record answered $(cat "$work/answer")"
id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$work/answer")
record=$data/events/record.jsonl
wait_for "grep -q '$id' '$record' 2>/dev/null" || fail "no record of event $id in $record"
owner=$(stat -c %u:%g "$record")
[ "$owner" = 65532:65532 ] || fail "$record is owned by $owner"
say "1 ok: event $id recorded in the volume's events/record.jsonl, owned by $owner"

# 2. Hot reload through the read-only directory mount.
version_is v1 || fail "/hooks/version did not answer v1"
inode=$(stat -c %i "$config/routes.yaml")
routes v2 >"$config/routes.yaml" # in place: same inode, truncated and rewritten
[ "$(stat -c %i "$config/routes.yaml")" = "$inode" ] || fail "the in-place edit changed the inode"
wait_for "version_is v2" || fail "an in-place edit was not reloaded"
routes v3 >"$config/routes.yaml.new" # an editor's save, or git pull
mv "$config/routes.yaml.new" "$config/routes.yaml"
wait_for "version_is v3" || fail "a write-and-rename was not reloaded"
# What the kubelet does to a ConfigMap volume: routes.yaml -> ..data/routes.yaml,
# ..data -> a timestamped directory, replaced by renaming a new link over it.
mkdir "$config/..2026_11_29_21_00_00.1"
routes v4 >"$config/..2026_11_29_21_00_00.1/routes.yaml"
ln -s ..2026_11_29_21_00_00.1 "$config/..data"
ln -s ..data/routes.yaml "$config/routes.yaml.link"
mv -T "$config/routes.yaml.link" "$config/routes.yaml"
wait_for "version_is v4" || fail "replacing routes.yaml with the ConfigMap layout was not reloaded"
mkdir "$config/..2026_11_29_21_01_00.2"
routes v5 >"$config/..2026_11_29_21_01_00.2/routes.yaml"
ln -s ..2026_11_29_21_01_00.2 "$config/..data_tmp"
mv -T "$config/..data_tmp" "$config/..data"
rm -rf "$config/..2026_11_29_21_00_00.1"
wait_for "version_is v5" || fail "a ..data symlink swap was not reloaded"
say "2 ok: in-place edit (v2), write-and-rename (v3), ConfigMap layout (v4) and ..data swap (v5) each reloaded"

# 3. The image's HEALTHCHECK, run inside the container.
check=$(bh inspect --type image --format '{{.Docker.Config.Healthcheck.Test}}' "$image")
[ "$check" = '[CMD hookroute health]' ] || fail "the image's HEALTHCHECK is $check"
answer=$(run_in "$current" hookroute health 2>&1) || fail "hookroute health: $answer"
[[ $answer == ready:* ]] || fail "hookroute health said: $answer"
say "3 ok: HEALTHCHECK $check inside the container: $answer"

# 4. A durable forward outlives its container while the upstream is down.
[ "$(post /hooks/durable '{"marker":"survivor"}')" = 202 ] || fail "/hooks/durable answered $(cat "$work/answer")"
stop_container
bh rm "$current" >/dev/null
start_container
start_upstream
wait_for "grep -q '^done /durable .*survivor' '$upstream_log'" 60 ||
  fail "the event accepted before the restart was not delivered"
say "4 ok: accepted with the upstream down, container stopped and replaced, delivered once the upstream came up"

# 5. SIGTERM with deliveries in flight: they finish, then the server exits.
for n in 1 2 3; do
  [ "$(post /hooks/slow "{\"slow\":$n}")" = 202 ] || fail "/hooks/slow answered $(cat "$work/answer")"
done
wait_for "[ \$(grep -c '^begin /slow' '$upstream_log') -ge 3 ]" || fail "the slow deliveries did not start"
stop_container
done_slow=$(grep -c '^done /slow' "$upstream_log" || true)
[ "$done_slow" = 3 ] || fail "$done_slow of 3 in-flight deliveries finished before the exit"
say "5 ok: SIGTERM with 3 deliveries in flight (2 s each): all 3 answered, exit 0 after ${stopped_in} s (shutdown_grace ${grace}s)"

say "all checks passed"
