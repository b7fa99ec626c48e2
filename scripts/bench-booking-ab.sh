#!/usr/bin/env bash
# Interleaved A/B of sustained booking (docs/BENCHMARKS.md, "Booking", third
# round). On a shared machine the CPU each operation costs swings with
# everyone else's load, so two builds are compared in short alternating
# bursts against two servers running side by side, each on its own copy of
# the seeded template database:
#
#   scripts/bench-booking-ab.sh A_BINARY B_BINARY LOADGEN_BINARY TEMPLATE_DB CLIENTS ROUNDS [BURST]
#
# Each round runs `loadgen booking-throughput -duration BURST` (default 3s)
# against A, then against B, and prints per burst: bookings/s, p99, and the
# CPU milliseconds per booking of that database's PostgreSQL backends and of
# that jobhall (from /proc, read while loadgen times).
# Environment: PG (base URL, default postgres://postgres@127.0.0.1:5432),
# DB_PREFIX (default bk_ab), PORT (A's HTTP port, B's is PORT+1; default 18480).
# LG_ARGS: more loadgen flags for every burst (e.g. -idempotency-keys).
set -euo pipefail
A=$1 B=$2 LOADGEN=$3 TPL=$4 CONC=$5 ROUNDS=$6 BURST=${7:-3s}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
PFX=${DB_PREFIX:-bk_ab}
PORT=${PORT:-18480}
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT

cpu() { local t=0 p f; for p in "$@"; do f=$(cut -d')' -f2 "/proc/$p/stat" 2>/dev/null) || continue; set -- $f; t=$((t + ${12} + ${13})); done; echo $t; }
backends() { for p in $(psql "$PG/postgres" -AtqX -c "SELECT pid FROM pg_stat_activity WHERE datname = '$1'"); do echo "$p $(cpu "$p")"; done; }

declare -A JH URL DB
for side in a b; do
	bin=$A port=$PORT
	[ "$side" = b ] && bin=$B port=$((PORT + 1))
	db=${PFX}_$side
	psql "$PG/postgres" -qX -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db TEMPLATE $TPL" >/dev/null 2>&1
	# Log level info only for the index line: jobhall logs nothing per request there.
	DATABASE_URL="$PG/$db?sslmode=disable" JOBHALL_DEMO=on JOBHALL_LOG_LEVEL=info JOBHALL_LISTEN=127.0.0.1:$port JOBHALL_DEBUG_LISTEN= \
		JOBHALL_WEBRTC_UDP_PORT=0 JOBHALL_WEBRTC_TCP_PORT=0 JOBHALL_TURN=false JOBHALL_DATA_DIR="$work/data-$side" \
		"$bin" serve >"$work/jh-$side.log" 2>&1 &
	pids+=($!)
	JH[$side]=$! URL[$side]=http://127.0.0.1:$port DB[$side]=$db
done
for side in a b; do
	for _ in $(seq 600); do
		grep -q "matching index built" "$work/jh-$side.log" && break
		kill -0 "${JH[$side]}" 2>/dev/null || { cat "$work/jh-$side.log" >&2; exit 1; }
		sleep 0.5
	done
	grep -q "matching index built" "$work/jh-$side.log" || { echo "$side: no matching index after 5 min" >&2; exit 1; }
done
sleep 2
for r in $(seq "$ROUNDS"); do
	for side in a b; do
		"$LOADGEN" booking-throughput -url "${URL[$side]}" -database-url "$PG/${DB[$side]}?sslmode=disable" -max 5000 -duration "$BURST" \
			-concurrency "$CONC" ${LG_ARGS:-} >"$work/out.json" 2>"$work/lg.err" &
		lg=$!
		until grep -q "^booking for" "$work/lg.err"; do kill -0 "$lg" 2>/dev/null || { cat "$work/lg.err" >&2; exit 1; }; sleep 0.05; done
		b0=$(backends "${DB[$side]}") j0=$(cpu "${JH[$side]}")
		until [ -s "$work/out.json" ]; do kill -0 "$lg" 2>/dev/null || break; sleep 0.05; done
		b1=$(backends "${DB[$side]}") j1=$(cpu "${JH[$side]}")
		wait "$lg"
		bd=$(join -a2 -e0 -o 0,1.2,2.2 <(echo "$b0" | sort) <(echo "$b1" | sort) | awk '{d += $3 - $2} END {print d}')
		python3 - "$work/out.json" "$side" "$r" "$bd" "$((j1 - j0))" "$(cut -d' ' -f1 /proc/loadavg)" <<'EOF'
import json, sys
o = json.load(open(sys.argv[1]))
side, r, b, j, load = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
n = max(o["ok"], 1)
other = {k: v for k, v in o["statuses"].items() if k != "201"}
print(f"round {r} {side}: ok/s={o['ok_per_second']:.0f} p99={o.get('p99_ms', 0):.1f} pg_ms={10.0 * b / n:.3f} jobhall_ms={10.0 * j / n:.3f} n={o['ok']} other={other} load={load}", flush=True)
EOF
	done
done
