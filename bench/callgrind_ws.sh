#!/usr/bin/env bash
# Instructions per WebSocket echo round trip on the server side, counted by
# callgrind (repeatable, unlike timings on a shared VM): bench/apps/
# ws_bench_app.py (add_websocket echo, 1 pinned worker) runs under valgrind
# twice, serving N1 and then N2 round trips of 16-byte text messages over 64
# WebSockets (bench/c/ws_load.c); the difference of the two totals over
# N2 - N1 is the marginal cost of one round trip (one message in, one out).
#
#   bench/callgrind_ws.sh [N1 N2]        (default 2000 22000; ~2 min)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N1=${1:-2000}
N2=${2:-22000}
PY=${BENCH_PY:-.venv/bin/python}
PY="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")"
LOAD=build/bench/ws_load
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)"; exit 1; }
[ -x "$LOAD" ] || make -f mk/bench.mk "$LOAD"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
total() {  # total() N PORT -> instructions of a whole run serving N round trips
    local n=$1 port=$2
    (cd bench/apps && exec valgrind --tool=callgrind --callgrind-out-file="$out/cg.$n" \
        "$PY" ws_bench_app.py "$port" >"$out/log.$n" 2>&1) &
    local pid=$!
    for _ in $(seq 1 120); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 1; done
    "$LOAD" echo 127.0.0.1 "$port" /ws 64 600 16 0 "$n" >"$out/load.$n"
    kill -TERM "$pid"
    wait "$pid" || true
    awk '/^summary:/ {print $2}' "$out/cg.$n"
}
a=$(total "$N1" 18941)
b=$(total "$N2" 18942)
echo "instructions: $a for $N1 round trips, $b for $N2 round trips"
echo "per round trip: $(( (b - a) / (N2 - N1) ))"
