# Build: the whole platform is one static Go binary.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/jobhall ./cmd/jobhall

# Run: PostgreSQL comes from DATABASE_URL (docker-compose.yml provides one).
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tzdata && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/jobhall --create-home jobhall \
    && mkdir -p /var/lib/jobhall/recordings && chown jobhall:jobhall /var/lib/jobhall/recordings
COPY --from=build /out/jobhall /usr/local/bin/jobhall
USER jobhall
WORKDIR /var/lib/jobhall
ENV JOBHALL_LISTEN=:8080 JOBHALL_DATA_DIR=/var/lib/jobhall JOBHALL_RECORDINGS_DIR=/var/lib/jobhall/recordings \
    JOBHALL_WEBRTC_UDP_PORT=50000 JOBHALL_WEBRTC_TCP_PORT=50000 JOBHALL_WEBRTC_LOOPBACK=false
EXPOSE 8080/tcp 50000/udp 50000/tcp 3478/udp 3478/tcp
HEALTHCHECK --interval=10s --timeout=3s CMD ["/bin/sh", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080"]
ENTRYPOINT ["jobhall"]
CMD ["serve"]
