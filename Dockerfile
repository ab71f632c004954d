# syntax=docker/dockerfile:1
#
# hookroute container image. docker/build-image.sh builds it as
# localhost/hookroute:dev with Docker, or with buildah where there is no
# Docker daemon; by hand:
#
#   docker build -t hookroute .
#   docker run -p 8080:8080 -v "$PWD/config:/etc/hookroute:ro" -v hookroute-data:/var/lib/hookroute hookroute
#
# Mount the config *directory* at /etc/hookroute (not the file) so hot reload
# sees edits; docs/operating.md explains why. The build and install steps are
# docker/build-native.sh, which CI also runs natively, so what this file
# depends on is tested on every run.
#
# Build arguments (defaults are what a machine with registry access uses):
#   BUILDER_IMAGE  the Rust toolchain image the `source` build runs in
#   RUNTIME_BASE   the image the binary runs on; anything with glibc, libgcc
#                  and CA certificates that runs as uid 65532 (distroless
#                  cc :nonroot, or the stand-in docker/build-image.sh makes)
#   BUILD_FROM     `source` (default): compile inside BUILDER_IMAGE.
#                  `native`: take the tree `docker/build-native.sh
#                  docker/native-out` installed in the build context, for
#                  machines where the Rust builder image cannot be pulled.
#                  Both feed the same runtime stage below.

ARG RUST_VERSION=1.95
ARG BUILDER_IMAGE=rust:${RUST_VERSION}-slim-bookworm
ARG RUNTIME_BASE=gcr.io/distroless/cc-debian12:nonroot
ARG BUILD_FROM=source

FROM ${BUILDER_IMAGE} AS build-source
WORKDIR /src
COPY . .
# The cache mounts keep the registry and target directory between builds;
# the script copies the binary out of target/, so nothing is lost with them.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    docker/build-native.sh /out

# The same layout as build-source's /out, built on the host by
# `docker/build-native.sh docker/native-out` (docker/build-image.sh does it).
FROM scratch AS build-native
COPY docker/native-out/ /out/

# Only the stage BUILD_FROM names is built (BuildKit and buildah both skip
# stages the target does not use). A stage name, not an image: no tag.
# hadolint ignore=DL3006
FROM build-${BUILD_FROM} AS build

# glibc and libgcc, CA certificates, no shell: the binary needs nothing more
# (TLS is rustls). The :nonroot variant runs as uid/gid 65532.
FROM ${RUNTIME_BASE}
# The binary and config stay root-owned (the process cannot alter them);
# only the data directory belongs to the runtime user.
COPY --from=build /out/usr/local/bin/hookroute /usr/local/bin/hookroute
COPY --from=build /out/etc/hookroute/ /etc/hookroute/
COPY --from=build --chown=65532:65532 /out/var/lib/hookroute/ /var/lib/hookroute/
ENV HOOKROUTE_CONFIG=/etc/hookroute/routes.yaml \
    HOOKROUTE_DATA_DIR=/var/lib/hookroute \
    HOOKROUTE_LISTEN=0.0.0.0:8080
USER 65532:65532
# Relative `file:` paths in the config land on the data volume.
WORKDIR /var/lib/hookroute
VOLUME ["/var/lib/hookroute"]
# 8080: webhooks. 9090: admin API (loopback unless admin_listen says
# otherwise, which needs an admin_token).
EXPOSE 8080 9090
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["hookroute", "health"]
ENTRYPOINT ["hookroute"]
CMD ["serve"]
