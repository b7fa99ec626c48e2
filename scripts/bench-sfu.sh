#!/usr/bin/env bash
# Measures the SFU with cmd/loadgen (docs/BENCHMARKS.md, SFU section).
#
#   scripts/bench-sfu.sh [-m veth|veth-rps|loopback] [-r runs] [-p] SCENARIO [loadgen flags...]
#   e.g. scripts/bench-sfu.sh -m veth -r 2 broadcast -n 200
#
# loopback: SFU and loadgen on 127.0.0.1. The sender's system call then also
# runs the receiver's network stack (delivery, socket queueing, wake-up), so
# the SFU is charged for loadgen's receive work: about 5 µs per packet that
# a real network would not charge it.
# veth (default, needs root): loadgen runs in its own network namespace
# joined to the SFU's by a veth pair with threaded NAPI: each side's receive
# processing runs in a kernel thread pinned to the receiver's core (like a
# NIC's receive queue), so the SFU's sendmmsg ends at handing packets to the
# device. The NAPI threads' CPU is printed apart.
# veth-rps: the same pair without NAPI, RPS steering receive processing to
# the receiver's core. On this VM each steered packet batch costs an
# inter-processor interrupt (a VM exit) charged to the sender, so it reads
# higher than veth; kept for comparison.
#
# In all modes the SFU is pinned to core 0 and loadgen to core 1. Each run
# starts a fresh jobhall (its own database on the local PostgreSQL, dropped
# afterwards) and prints loadgen's JSON summary line plus the load average.
# -p also saves a 10 s CPU profile, a heap profile and the runtime's
# MemStats per run in $OUT;
# PERF=1 a 10 s perf record of the SFU process.
# NICE=-5 runs both at that nice value (the machine is shared: other
# engineers' builds otherwise preempt them constantly).
# Environment: JOBHALL_ENV="K=V ..." is passed to jobhall (e.g.
# JOBHALL_MEMORY_LIMIT=...), OUT (default /tmp/sfubench) holds binaries, logs
# and profiles.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=veth runs=1 prof=0
while getopts "m:r:p" o; do
	case $o in
	m) mode=$OPTARG ;;
	r) runs=$OPTARG ;;
	p) prof=1 ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { sed -n '2,29p' "$0" >&2; exit 2; }
scenario=$1
shift

# Tools a fresh machine may lack (veth setup, JSON lines).
need=()
for t in ethtool:ethtool jq:jq curl:curl; do command -v "${t%%:*}" >/dev/null || need+=("${t#*:}"); done
if [ ${#need[@]} -gt 0 ]; then
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

OUT=${OUT:-/tmp/sfubench}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
NS=jhsfu-lg HOSTIF=jhsfu0 NSIF=jhsfu1
SFUIP=10.213.77.1 LGIP=10.213.77.2
HTTP=28380 DEBUG=26360
SECRET=loadgen-secret-0123456789
mkdir -p "$OUT"

go build -o "$OUT/jobhall" ./cmd/jobhall
go build -o "$OUT/loadgen" ./cmd/loadgen

cleanup() {
	[ -n "${sfupid:-}" ] && kill "$sfupid" 2>/dev/null && wait "$sfupid" 2>/dev/null || true
	if [ "$mode" != loopback ]; then
		ip link del "$HOSTIF" 2>/dev/null || true
		ip netns del "$NS" 2>/dev/null || true
	fi
	[ -n "${db:-}" ] && psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
}
trap cleanup EXIT

case $mode in
veth | veth-rps)
	[ "$(id -u)" = 0 ] || { echo "veth modes need root" >&2; exit 1; }
	ip netns del "$NS" 2>/dev/null || true
	ip link del "$HOSTIF" 2>/dev/null || true
	ip netns add "$NS"
	ip link add "$HOSTIF" type veth peer name "$NSIF"
	ip link set "$NSIF" netns "$NS"
	ip addr add "$SFUIP/30" dev "$HOSTIF"
	ip link set "$HOSTIF" up
	ip -n "$NS" addr add "$LGIP/30" dev "$NSIF"
	ip -n "$NS" link set "$NSIF" up
	ip -n "$NS" link set lo up
	# A veth has no queue by default: a burst larger than the peer's
	# 256-packet ring is dropped on the spot. A NIC has a queue in front of
	# its ring and stops it when the ring is full (Linux ≥ 6.16 does that for
	# veth too once it has a qdisc); QDISC=noqueue measures without.
	if [ "${QDISC:-pfifo}" != noqueue ]; then
		tc qdisc replace dev "$HOSTIF" root pfifo limit 10000
		ip netns exec "$NS" tc qdisc replace dev "$NSIF" root pfifo limit 10000
	fi
	if [ "$mode" = veth-rps ]; then
		# rps_cpus is a CPU bit mask: 1 = core 0 (SFU), 2 = core 1 (loadgen).
		echo 1 >"/sys/class/net/$HOSTIF/queues/rx-0/rps_cpus"
		ip netns exec "$NS" sh -c "echo 2 > /sys/class/net/$NSIF/queues/rx-0/rps_cpus"
	else
		# GRO on turns on the veth's NAPI; threaded NAPI runs each side's
		# receive in a kernel thread, pinned to the receiver's core.
		# veth takes the NAPI path only for packets from a device without TSO.
		ethtool -K "$HOSTIF" gro on tso off >/dev/null
		echo 1 >"/sys/class/net/$HOSTIF/threaded"
		ip netns exec "$NS" sh -c "ethtool -K $NSIF gro on tso off >/dev/null && echo 1 > /sys/class/net/$NSIF/threaded"
		sleep 0.2
		for t in $(pgrep -x "napi/$HOSTIF-.*"); do taskset -p 1 "$t" >/dev/null; renice -n "${NICE:-0}" -p "$t" >/dev/null; done
		for t in $(pgrep -x "napi/$NSIF-.*"); do taskset -p 2 "$t" >/dev/null; renice -n "${NICE:-0}" -p "$t" >/dev/null; done
	fi
	ip=$SFUIP run=(ip netns exec "$NS")
	;;
loopback)
	ip=127.0.0.1 run=()
	;;
*)
	echo "mode: veth or loopback" >&2
	exit 2
	;;
esac

for i in $(seq 1 "$runs"); do
	db=sfubench_$$_$i
	psql -q "$PG/postgres" -c "CREATE DATABASE $db" >/dev/null
	# shellcheck disable=SC2086
	env ${JOBHALL_ENV:-} DATABASE_URL="$PG/$db" nice -n "${NICE:-0}" taskset -c 0 "$OUT/jobhall" serve -turn=false -demo off -matching=false \
		-listen "$ip:$HTTP" -webrtc-udp-port 0 -webrtc-tcp-port 0 -webrtc-ip "$ip" -webrtc-loopback="$([ "$mode" = loopback ] && echo true || echo false)" \
		-token-secret "$SECRET" -debug-listen "$ip:$DEBUG" >"$OUT/jobhall-$i.log" 2>&1 &
	sfupid=$!
	for _ in $(seq 1 100); do
		curl -sf "http://$ip:$DEBUG/metrics" >/dev/null 2>&1 && break
		sleep 0.2
	done
	load=$(cut -d' ' -f1 /proc/loadavg)
	udperr() { "${run[@]}" awk '/^Udp:/ && $5 ~ /^[0-9]+$/ {print $6}' /proc/net/snmp; }
	rcvbuf0=$(udperr)
	if [ "$prof" = 1 ]; then
		# Profiles inside the measured window (after joins and warm-up).
		(sleep "${PROF_DELAY:-14}"
			curl -sf -o "$OUT/cpu-$scenario-$mode-$i.pprof" "http://$ip:$DEBUG/debug/pprof/profile?seconds=10"
			sleep "${HEAP_DELAY:-2}"
			curl -sf -o "$OUT/heap-$scenario-$mode-$i.pprof" "http://$ip:$DEBUG/debug/pprof/heap"
			curl -sf "http://$ip:$DEBUG/debug/pprof/heap?debug=1" | sed -n '/^# runtime.MemStats/,$p' >"$OUT/memstats-$scenario-$mode-$i.txt") &
	fi
	if [ "${PERF:-0}" = 1 ]; then
		# Kernel and user stacks of the SFU process (perf report -i ...).
		(sleep "${PROF_DELAY:-14}"
			perf record -q -g -p "$sfupid" -o "$OUT/perf-$scenario-$mode-$i.data" -- sleep 10 >/dev/null 2>&1) &
	fi
	summary=$("${run[@]}" nice -n "${NICE:-0}" taskset -c 1 "$OUT/loadgen" "$scenario" -url "http://$ip:$HTTP" -token-secret "$SECRET" \
		-sfu-pid "$sfupid" -metrics-url "http://$ip:$DEBUG/metrics" -warmup 5s -duration 15s "$@" 2>"$OUT/loadgen-$i.log")
	wait_prof=$(jobs -p | grep -vx "$sfupid" || true)
	[ -n "$wait_prof" ] && wait $wait_prof 2>/dev/null || true
	echo "{\"mode\":\"$mode\",\"nice\":${NICE:-0},\"run\":$i,\"load_avg_1m_at_start\":$load,\"load_avg_1m_at_end\":$(cut -d' ' -f1 /proc/loadavg),\"summary\":$summary}" |
		jq -c . | tee -a "$OUT/results.jsonl"
	# Receive drops in loadgen's namespace (its sockets overflowing: loadgen
	# fell behind) and on the veth pair (counters since the pair was made).
	[ "$mode" != loopback ] && echo "  loadgen UDP receive-buffer drops: $(($(udperr) - rcvbuf0))" &&
		ip -s -j link show "$HOSTIF" | jq -r '.[0].stats64 | "  veth (SFU side) tx dropped \(.tx.dropped), rx dropped \(.rx.dropped)"'
	[ "$mode" = veth ] && for t in $(pgrep "napi/jhsfu"); do
		echo "  $(cat /proc/$t/comm): $(awk '{printf "%.2f", ($14+$15)/100}' /proc/$t/stat) CPU s since the namespace was made"
	done
	curl -sf "http://$ip:$DEBUG/metrics" | awk '/^jobhall_(memory_trims|sfu_(udp_|drops_|retransmits|nacks|layer_sw|keyframe|direct_))/ && $2 != 0 {printf "  %s %s\n", $1, $2}' || true
	kill "$sfupid"
	wait "$sfupid" 2>/dev/null || true
	sfupid=
	psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $db" >/dev/null
	db=
done
