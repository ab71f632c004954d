# syntax=docker/dockerfile:1
#
# hookroute container image.
#
#   docker build -t hookroute .
#   docker run -p 8080:8080 -v "$PWD/config:/etc/hookroute:ro" -v hookroute-data:/var/lib/hookroute hookroute
#
# Mount the config *directory* at /etc/hookroute (not the file) so hot reload
# sees edits; docs/operating.md explains why. The build and install steps are
# docker/build-native.sh, which CI also runs natively (no container engine
# there), so what this file depends on is tested on every run.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
COPY . .
# The cache mounts keep the registry and target directory between builds;
# the script copies the binary out of target/, so nothing is lost with them.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    docker/build-native.sh /out

# glibc and libgcc, CA certificates, no shell: the binary needs nothing more
# (TLS is rustls). The :nonroot variant runs as uid/gid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
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
