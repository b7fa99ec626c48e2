#!/usr/bin/env bash
# Runs every test. Installs what a fresh machine lacks (Chromium, Firefox ESR,
# WebKitGTK's WebDriver with Xvfb, and ffmpeg from Debian), checks that
# PostgreSQL and Redis answer (starting the local ones if they are
# installed but down), then runs go test. A missing service
# or browser fails the run; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v chromium >/dev/null || need_apt+=(chromium)
command -v ffmpeg >/dev/null || need_apt+=(ffmpeg)
command -v ffprobe >/dev/null || need_apt+=(ffmpeg)
# Firefox (ESR, Debian's) for the cross-browser tests, driven over WebDriver BiDi.
command -v firefox-esr >/dev/null || command -v firefox >/dev/null || need_apt+=(firefox-esr)
# WebKit (Safari's engine): Debian's WebKitGTK WebDriver, under a virtual X display.
command -v WebKitWebDriver >/dev/null || need_apt+=(webkit2gtk-driver)
command -v xvfb-run >/dev/null || need_apt+=(xvfb xauth)
# A CJK font, so Chinese pages render (screenshots) instead of boxes.
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need_apt+=(fonts-wqy-microhei)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${need_apt[@]}" | sort -u) >/dev/null
fi

export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}"
export TEST_REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379/0}"

pg_up() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
redis_up() { (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; }
if [[ "$TEST_DATABASE_URL" == *127.0.0.1:5432* ]] && ! pg_up && command -v pg_ctlcluster >/dev/null; then
  echo "starting the local PostgreSQL" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
fi
if [[ "$TEST_REDIS_URL" == *127.0.0.1:6379* ]] && ! redis_up && command -v redis-server >/dev/null; then
  echo "starting the local Redis" >&2
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
fi

go vet ./...
# One package at a time (-p 1): the media tests measure real-time behaviour
# (retransmissions within a second, queues draining) and must not compete
# for the 2 cores with another package's browsers and peers.
exec go test -race -count=1 -p 1 -timeout 30m "$@" ./...
