#!/usr/bin/env bash
# Runs jobhall with demo data. PostgreSQL comes from DATABASE_URL, or a
# private cluster is started from the local PostgreSQL install (installed
# here with apt-get when missing). Single node, no Redis needed.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v go >/dev/null || { echo "Go 1.26+ is required: https://go.dev/dl/" >&2; exit 1; }
if [ -z "${DATABASE_URL:-}" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then
  need_apt+=(postgresql)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing: ${need_apt[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "please install: ${need_apt[*]} (or set DATABASE_URL)" >&2; exit 1
  fi
fi
go build -o ./jobhall ./cmd/jobhall
exec ./jobhall serve "$@"
