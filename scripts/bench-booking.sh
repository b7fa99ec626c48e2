#!/usr/bin/env bash
# One sustained-booking run (docs/BENCHMARKS.md, "Booking", third round):
# copy the seeded template database, start jobhall on the copy, wait for the
# matching index, run `loadgen booking-throughput` and read the CPU that
# jobhall and the copy's PostgreSQL backends spent while loadgen was timing.
#
#   scripts/bench-booking.sh JOBHALL_BINARY LOADGEN_BINARY TEMPLATE_DB CLIENTS [LABEL]
#
# The template comes from `loadgen booking-seed-scale -database-url .../TEMPLATE_DB`.
# Environment: PG (base URL, default postgres://postgres@127.0.0.1:5432),
# RUNDB (the copy, default bk_run), PORT (HTTP, default 18480), LG_ARGS (more
# loadgen flags, e.g. -idempotency-keys).
# Prints one line: label, clients, bookings/s, p99, CPU ms per booking of
# the copy's backends, of all postgres processes and of jobhall, shared-buffer
# accesses per booking (a noise-free proxy of PostgreSQL's work), load average.
set -euo pipefail
BIN=$1 LOADGEN=$2 TPL=$3 CONC=$4 LABEL=${5:-run}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
RUNDB=${RUNDB:-bk_run}
PORT=${PORT:-18480}
DB="$PG/$RUNDB?sslmode=disable"
work=$(mktemp -d)
trap 'kill "$JH" 2>/dev/null || true; wait "$JH" 2>/dev/null || true; rm -rf "$work"' EXIT
JH=

psql "$PG/postgres" -qX -c "DROP DATABASE IF EXISTS $RUNDB" -c "CREATE DATABASE $RUNDB TEMPLATE $3" >/dev/null

# Log level info only for the index line: jobhall logs nothing per request there.
DATABASE_URL=$DB JOBHALL_DEMO=on JOBHALL_LOG_LEVEL=info JOBHALL_LISTEN=127.0.0.1:$PORT JOBHALL_DEBUG_LISTEN= \
	JOBHALL_WEBRTC_UDP_PORT=0 JOBHALL_WEBRTC_TCP_PORT=0 JOBHALL_TURN=false JOBHALL_DATA_DIR="$work/data" \
	"$BIN" serve >"$work/jh.log" 2>&1 &
JH=$!
for _ in $(seq 600); do
	grep -q "matching index built" "$work/jh.log" && break
	kill -0 "$JH" 2>/dev/null || { cat "$work/jh.log" >&2; exit 1; }
	sleep 0.5
done
grep -q "matching index built" "$work/jh.log" || { echo "no matching index after 5 min" >&2; exit 1; }
sleep 2

# cpu PID...: summed utime+stime in clock ticks.
cpu() { local t=0 p f; for p in "$@"; do f=$(cut -d')' -f2 "/proc/$p/stat" 2>/dev/null) || continue; set -- $f; t=$((t + ${12} + ${13})); done; echo $t; }
# backends: "pid ticks" of the copy's backends.
backends() { for p in $(psql "$PG/postgres" -AtqX -c "SELECT pid FROM pg_stat_activity WHERE datname = '$RUNDB'"); do echo "$p $(cpu "$p")"; done; }
allpg() { cpu $(pgrep -u postgres -d ' ' postgres); }
# blocks: shared-buffer accesses of the copy (flushed by backends within 1 s, idle ones within 10 s).
blocks() { psql "$PG/postgres" -AtqX -c "SELECT blks_hit + blks_read FROM pg_stat_database WHERE datname = '$RUNDB'"; }

"$LOADGEN" booking-throughput -url "http://127.0.0.1:$PORT" -database-url "$DB" -max 30000 -duration 10s -concurrency "$CONC" ${LG_ARGS:-} \
	>"$work/out.json" 2>"$work/lg.err" &
LG=$!
until grep -q "^booking for" "$work/lg.err"; do kill -0 "$LG" 2>/dev/null || { cat "$work/lg.err" >&2; exit 1; }; sleep 0.05; done
b0=$(backends) a0=$(allpg) j0=$(cpu "$JH") k0=$(blocks)
until [ -s "$work/out.json" ]; do kill -0 "$LG" 2>/dev/null || break; sleep 0.05; done
b1=$(backends) a1=$(allpg) j1=$(cpu "$JH")
wait "$LG"
sleep 11 # idle backends report their counters after 10 s
k1=$(blocks)
load=$(cut -d' ' -f1-3 /proc/loadavg)
bdelta=$(join -a2 -e0 -o 0,1.2,2.2 <(echo "$b0" | sort) <(echo "$b1" | sort) | awk '{d += $3 - $2} END {print d}')
python3 - "$work/out.json" "$LABEL" "$CONC" "$bdelta" "$((a1 - a0))" "$((j1 - j0))" "$load" "$((k1 - k0))" <<'EOF'
import json, sys
o = json.load(open(sys.argv[1]))
label, conc, b, a, j, load, k = sys.argv[2], sys.argv[3], *map(int, sys.argv[4:7]), sys.argv[7], int(sys.argv[8])
n = o["ok"]
ms = lambda ticks: 10.0 * ticks / max(n, 1)  # 100 ticks/s: 10 ms per tick
other = {k: v for k, v in o["statuses"].items() if k != "201"}
print(f"{label} c={conc} ok/s={o['ok_per_second']:.0f} p50={o.get('p50_ms', 0):.1f} p99={o.get('p99_ms', 0):.1f} "
      f"pg_backends_ms={ms(b):.3f} pg_all_ms={ms(a):.3f} jobhall_ms={ms(j):.3f} blocks={k / max(n, 1):.0f} n={n} other={other} load={load}")
EOF
