# roster-directory: build from the repository root with
#   docker build -f deploy/directory.Dockerfile -t roster-directory .
FROM rust:1.88-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p roster-directory

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/roster --create-home roster
COPY --from=build /src/target/release/roster-directory /usr/local/bin/roster-directory
USER roster
WORKDIR /var/lib/roster
ENV ROSTER_DIRECTORY__LISTEN_ADDRESS=0.0.0.0:50051 \
    ROSTER_DIRECTORY__DATA_DIR=/var/lib/roster/data
EXPOSE 50051
ENTRYPOINT ["/usr/local/bin/roster-directory"]
