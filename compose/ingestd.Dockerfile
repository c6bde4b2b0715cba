# ingestd built from this repository, for compose/docker-compose.yml (Debian 12, the same
# packages scripts/setup.sh installs; the runtime image holds only ingestd and its libraries).
#   docker-compose -f compose/docker-compose.yml build ingestd
FROM debian:bookworm AS build
RUN apt-get update && apt-get install -y -q --no-install-recommends \
      build-essential cmake pkg-config git ca-certificates \
      libnats-dev librdkafka-dev libsqlite3-dev nlohmann-json3-dev libsimdjson-dev \
      libcpp-httplib-dev libyaml-cpp-dev libre2-dev zlib1g-dev catch2 libbenchmark-dev \
      libcli11-dev libssl-dev libpq-dev \
    && rm -rf /var/lib/apt/lists/*
COPY . /src
RUN cmake -S /src -B /build -DCMAKE_BUILD_TYPE=Release \
    && cmake --build /build -j"$(nproc)" --target ingestd

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y -q --no-install-recommends \
      libnats3.4 librdkafka1 libsqlite3-0 libpq5 libsimdjson14 libcpp-httplib0.11 libre2-9 libssl3 \
      zlib1g \
      curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data ingestd \
    && mkdir -p /data && chown ingestd /data
COPY --from=build /build/system/ingestd /usr/local/bin/ingestd
USER ingestd
WORKDIR /data
EXPOSE 8080
ENTRYPOINT ["ingestd"]
