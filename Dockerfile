# pulsekey: the server with its web app embedded, in two stages.
# Build: docker build -t pulsekey .   Run: see docker-compose.yml and the README.

FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm libpq-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The web app first: the server embeds frontend/dist when it is compiled.
RUN scripts/build-frontend \
 && cargo build --release --locked -p pulsekey-server --bin pulsekey \
 && cp target/release/pulsekey /usr/local/bin/pulsekey

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /var/lib/pulsekey --create-home pulsekey
COPY --from=build /usr/local/bin/pulsekey /usr/local/bin/pulsekey
USER pulsekey
ENV PULSEKEY_DATA_DIR=/var/lib/pulsekey \
    PULSEKEY_BIND=0.0.0.0:8080 \
    PULSEKEY_LOG_FORMAT=json
VOLUME /var/lib/pulsekey
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
# SIGTERM (docker stop) drains requests and writes pending heartbeats before exiting.
STOPSIGNAL SIGTERM
ENTRYPOINT ["pulsekey"]
CMD ["serve"]
