# mlsync agent image. Build:  docker build -t registry.example.invalid/mlsync:0.1.0 .
# Builder: Debian bookworm with Rust; runtime: distroless cc (glibc, libgcc, libssl, CA
# certificates; no shell, no package manager), running as uid/gid 65532 ("nonroot").

FROM docker.io/library/rust:1-bookworm AS build
WORKDIR /src
# Dependencies first so that source edits reuse the cached layer.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && echo 'fn main() {}' > benches/validate_render.rs \
 && cargo fetch --locked
COPY src ./src
COPY schema ./schema
COPY benches ./benches
RUN cargo build --release --locked --bin mlsync \
 && install -D -m 0755 target/release/mlsync /out/mlsync

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/mlsync /usr/local/bin/mlsync
USER 65532:65532
# The admin endpoints (/healthz, /readyz, /metrics, /status, /webhook/*).
EXPOSE 9090
ENV MLSYNC_ADMIN_ADDR=0.0.0.0:9090 \
    MLSYNC_STATE_DIR=/var/lib/mlsync \
    MLSYNC_LOG_FORMAT=json
ENTRYPOINT ["/usr/local/bin/mlsync"]
CMD ["run"]
