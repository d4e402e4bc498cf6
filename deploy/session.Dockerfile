# roster-session (the session broker): build from the repository root with
#   docker build -f deploy/session.Dockerfile -t roster-session .
FROM rust:1.88-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p roster-session

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/roster --create-home roster
COPY --from=build /src/target/release/roster-session /usr/local/bin/roster-session
USER roster
WORKDIR /var/lib/roster
ENV ROSTER_SESSION__LISTEN_ADDRESS=0.0.0.0:50052 \
    ROSTER_SESSION__DATA_DIR=/var/lib/roster/data
EXPOSE 50052
ENTRYPOINT ["/usr/local/bin/roster-session"]
