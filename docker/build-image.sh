#!/usr/bin/env bash
# Builds the hookroute container image as localhost/hookroute:dev (IMAGE
# overrides) from the one Dockerfile, on whatever this machine has:
#
#   docker/build-image.sh
#
# - A reachable Docker daemon: `docker build` with the Dockerfile's defaults
#   (compile in the Rust image, run on distroless cc :nonroot).
# - Otherwise buildah, as root, with vfs storage and chroot isolation (no
#   daemon, no kernel overlay or user namespaces needed). The binary is built
#   on the host by docker/build-native.sh (BUILD_FROM=native), since the
#   Rust builder image is usually what cannot be pulled there. When the
#   runtime base cannot be pulled either, a stand-in for distroless cc
#   :nonroot is made once from Debian bookworm (see make_standin) and kept.
#
# Environment:
#   IMAGE                 tag to build (default localhost/hookroute:dev)
#   RUNTIME_BASE          runtime base image; unset: distroless cc :nonroot,
#                         or the stand-in when that cannot be pulled
#   BUILD_FROM            source | native (buildah default: native)
#   BUILD_PROFILE         release (default) | dev, for native builds
#                         (docker/build-native.sh; CI uses dev to reuse its
#                         test build)
#   HOOKROUTE_BASE_CACHE  where the debootstrap tree is kept between runs
#                         (default /var/cache/hookroute-base: outside the
#                         checkout, so a fresh clone on the same machine
#                         reuses it)
set -euo pipefail
cd "$(dirname "$0")/.."

image=${IMAGE:-localhost/hookroute:dev}
default_base=gcr.io/distroless/cc-debian12:nonroot
standin=localhost/hookroute-base:bookworm-nonroot
base_cache=${HOOKROUTE_BASE_CACHE:-/var/cache/hookroute-base}
started=$SECONDS

say() { echo "build-image: $*"; }
die() { echo "build-image: $*" >&2; exit 1; }

# buildah as the Debian package runs it without a daemon: vfs storage works
# on any filesystem, chroot isolation needs no user namespaces.
bh() { buildah --storage-driver vfs "$@"; }

# The stand-in runtime base: what distroless cc-debian12 :nonroot promises,
# taken from a Debian bookworm tree and nothing more. Only the files of the
# packages the binary links against (libc6: glibc and the loader, libm;
# libgcc-s1: libgcc_s, for unwinding), the CA bundle (rustls reads the
# platform's roots), passwd/group entries for root and nonroot (65532), and
# /tmp. No shell, no coreutils, no dpkg or apt: the container test checks it.
make_standin() {
  local rootfs=$base_cache/bookworm
  if [ ! -f "$rootfs/.complete" ]; then
    command -v debootstrap >/dev/null 2>&1 ||
      die "cannot pull $default_base and debootstrap is missing to make a stand-in (Debian package: debootstrap)"
    say "making the Debian bookworm tree for the stand-in base in $rootfs (once; about 2 minutes)"
    mkdir -p "$base_cache"
    rm -rf "$rootfs.tmp"
    debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs.tmp" http://deb.debian.org/debian \
      >"$base_cache/debootstrap.log" 2>&1 ||
      die "debootstrap failed; its log is $base_cache/debootstrap.log"
    rm -rf "$rootfs"
    mv "$rootfs.tmp" "$rootfs"
    touch "$rootfs/.complete"
  else
    say "reusing the Debian bookworm tree in $rootfs"
  fi

  local tree
  tree=$(mktemp -d)
  # bookworm is merged-/usr: /lib and /lib64 are links into /usr, while
  # dpkg's file lists still name /lib/...; copy to the /usr path.
  mkdir -p "$tree/usr/lib" "$tree/usr/lib64" "$tree/etc/ssl/certs" "$tree/tmp" "$tree/home/nonroot" "$tree/root"
  ln -s usr/lib "$tree/lib"
  ln -s usr/lib64 "$tree/lib64"
  local pkg list path
  for pkg in libc6 libgcc-s1; do
    list=
    for path in "$rootfs/var/lib/dpkg/info/$pkg".list "$rootfs/var/lib/dpkg/info/$pkg":*.list; do
      [ -f "$path" ] && list=$path
    done
    [ -n "$list" ] || die "$rootfs has no dpkg file list for $pkg"
    while IFS= read -r path; do
      case "$path" in /usr/share/doc*|/usr/share/lintian*|/.) continue ;; esac
      path=$(sed -E 's#^/(lib|lib64)/#/usr/\1/#' <<<"$path")
      if [ -L "$rootfs$path" ] || [ -f "$rootfs$path" ]; then
        (cd "$rootfs" && cp -a --parents ".$path" "$tree/")
      fi
    done <"$list"
  done
  cp "$rootfs/etc/ssl/certs/ca-certificates.crt" "$tree/etc/ssl/certs/"
  cp -a "$rootfs/usr/lib/os-release" "$tree/usr/lib/"
  ln -s ../usr/lib/os-release "$tree/etc/os-release"
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$tree/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' >"$tree/etc/group"
  printf '%s\n' 'passwd: files' 'group: files' 'hosts: files dns' >"$tree/etc/nsswitch.conf"
  chmod 1777 "$tree/tmp"
  chmod 0700 "$tree/root" "$tree/home/nonroot"
  chown 65532:65532 "$tree/home/nonroot"

  local ctr mnt
  ctr=$(bh from scratch)
  mnt=$(bh mount "$ctr")
  cp -a "$tree/." "$mnt/"
  bh umount "$ctr" >/dev/null
  rm -rf "$tree"
  bh config --user 65532:65532 --workingdir /home/nonroot \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    --label org.opencontainers.image.description="hookroute's local stand-in for $default_base" "$ctr"
  bh commit --quiet --rm "$ctr" "$standin" >/dev/null
  say "made the stand-in base $standin"
}

if docker info >/dev/null 2>&1; then
  build_from=${BUILD_FROM:-source}
  args=(--build-arg "BUILD_FROM=$build_from")
  [ -z "${RUNTIME_BASE:-}" ] || args+=(--build-arg "RUNTIME_BASE=$RUNTIME_BASE")
  if [ "$build_from" = native ]; then
    rm -rf docker/native-out
    docker/build-native.sh "$PWD/docker/native-out"
  fi
  say "docker build -t $image ${args[*]} ."
  docker build -t "$image" "${args[@]}" .
  size=$(docker image inspect --format '{{.Size}}' "$image")
  say "built $image with Docker (BUILD_FROM=$build_from) in $((SECONDS - started)) s; size $((size / 1000000)) MB"
  exit 0
fi

command -v buildah >/dev/null 2>&1 ||
  die "found neither a running Docker daemon nor buildah; install one (Debian package: buildah)"
[ "$(id -u)" = 0 ] || die "the buildah path runs as root (vfs storage, chroot isolation); run it with sudo"

if [ -n "${RUNTIME_BASE:-}" ]; then
  base=$RUNTIME_BASE
  say "runtime base: $base (RUNTIME_BASE)"
elif bh inspect --type image "$default_base" >/dev/null 2>&1 || bh pull --quiet "$default_base" >/dev/null 2>&1; then
  base=$default_base
  say "runtime base: $base"
else
  base=$standin
  if bh inspect --type image "$standin" >/dev/null 2>&1; then
    say "cannot pull $default_base; reusing the stand-in base $standin"
  else
    say "cannot pull $default_base; making a stand-in base from Debian bookworm"
    make_standin
  fi
fi

build_from=${BUILD_FROM:-native}
profile=${BUILD_PROFILE:-release}
if [ "$build_from" = native ]; then
  say "building the binary on this machine: docker/build-native.sh docker/native-out (BUILD_PROFILE=$profile)"
  rm -rf docker/native-out
  BUILD_PROFILE=$profile docker/build-native.sh "$PWD/docker/native-out"
fi

old=$(bh images --quiet --no-trunc "$image" 2>/dev/null || true)
dangling_before=$(bh images --quiet --no-trunc --filter dangling=true)
# --format docker keeps the HEALTHCHECK, which the OCI image format has no
# field for.
say "buildah bud --format docker --build-arg BUILD_FROM=$build_from --build-arg RUNTIME_BASE=$base -t $image ."
bh bud --quiet --isolation chroot --format docker \
  --build-arg "BUILD_FROM=$build_from" --build-arg "RUNTIME_BASE=$base" -t "$image" . >/dev/null
new=$(bh images --quiet --no-trunc "$image")
# vfs keeps a full copy of every layer: drop the image this tag replaced
# and the build stage's image this build left untagged (with the working
# container buildah 1.28 leaves on it).
if [ -n "$old" ] && [ "$old" != "$new" ]; then
  bh rmi "$old" >/dev/null 2>&1 || true
fi
for id in $(bh images --quiet --no-trunc --filter dangling=true); do
  grep -qx "$id" <<<"$dangling_before" || bh rmi --force "$id" >/dev/null 2>&1 || true
done
rm -rf docker/native-out
size=$(bh images --format '{{.Size}}' "$image" | head -n1)
say "built $image with buildah (BUILD_FROM=$build_from, profile $profile, base $base) in $((SECONDS - started)) s; image size $size"
