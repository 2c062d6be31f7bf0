# The logpush-parquet container image, which the Kubernetes examples in examples/deploy/ run as
# logpush-parquet:latest:
#
#   docker build -t logpush-parquet .
#   docker run --rm logpush-parquet --version
#
# Two stages: the release build on Debian bookworm, then a slim bookworm runtime holding only the
# binary (/usr/local/bin/logpush-parquet) and the CA certificates that TLS to object stores
# needs, run as the non-root user 65532 (the runAsUser of the Kubernetes examples).

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS build
# The release profile keeps line tables (debug = "line-tables-only" in Cargo.toml): measured on
# one build, 144 MB of a 189 MB binary. The image leaves them out (function names stay in
# backtraces); `--build-arg STRIP=none` keeps them.
ARG STRIP=debuginfo
ENV CARGO_PROFILE_RELEASE_STRIP=${STRIP}
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin logpush-parquet \
    && cp target/release/logpush-parquet /usr/local/bin/logpush-parquet

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 65532 logpush \
    && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin logpush
COPY --from=build /usr/local/bin/logpush-parquet /usr/local/bin/logpush-parquet
USER 65532:65532
ENTRYPOINT ["logpush-parquet"]
