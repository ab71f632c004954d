#!/usr/bin/env bash
# The container image's build and install steps, runnable without a container
# engine. The Dockerfile's build stage runs exactly this script, and CI runs
# it natively, so the commands the image depends on are proven on every run.
#
#   docker/build-native.sh PREFIX     build, install under PREFIX, smoke-test
#
# Installs PREFIX/usr/local/bin/hookroute, the shipped config at
# PREFIX/etc/hookroute/routes.yaml and an empty PREFIX/var/lib/hookroute (the
# image's data volume), then runs the installed binary: --version, and
# `check` on the installed config.
#
# BUILD_PROFILE=release (default) builds with `cargo build --release --locked`
# as the image does; CI sets BUILD_PROFILE=dev to reuse the test build's
# binary (same --locked resolution, same install and smoke steps) instead of
# a second full optimized build.
set -euo pipefail

prefix=${1:?usage: docker/build-native.sh PREFIX}
profile=${BUILD_PROFILE:-release}
cd "$(dirname "$0")/.."

target_dir=${CARGO_TARGET_DIR:-target}
case "$profile" in
  release) cargo build --release --locked --bin hookroute; built=$target_dir/release/hookroute ;;
  dev) cargo build --locked --bin hookroute; built=$target_dir/debug/hookroute ;;
  *) echo "BUILD_PROFILE must be release or dev, not '$profile'" >&2; exit 2 ;;
esac

install -D -m 0755 "$built" "$prefix/usr/local/bin/hookroute"
# The release profile keeps line tables for profiling; the image does not
# need them (about 70 of the binary's 90 MB). Symbols stay, so panics still
# name their functions.
if [ "$profile" = release ]; then
  strip --strip-debug "$prefix/usr/local/bin/hookroute"
fi
install -D -m 0644 routes.yaml "$prefix/etc/hookroute/routes.yaml"
install -d -m 0755 "$prefix/var/lib/hookroute"

# Smoke test what was installed, from a neutral directory so nothing in the
# checkout is picked up by accident.
bin="$prefix/usr/local/bin/hookroute"
(
  cd "$prefix/var/lib/hookroute"
  "$bin" --version
  env -u HOOKROUTE_CONFIG "$bin" check -c "$prefix/etc/hookroute/routes.yaml"
)
echo "installed hookroute ($profile) under $prefix"
