#!/usr/bin/env bash
# Instructions per request on the server side, counted by callgrind (repeatable,
# unlike timings on a shared VM): bench/apps/fa_app.py with 1 pinned worker runs
# under valgrind twice, serving N1 and then N2 h2c requests for /; the difference
# of the two totals over N2 - N1 is the marginal cost of one request.
#
#   bench/callgrind_requests.sh [N1 N2]        (default 2000 42000; ~2 min)
#
# The counts move somewhat with how h2load batches requests (frames per read),
# so compare builds with the same N1/N2 and more than a few thousand requests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N1=${1:-2000}
N2=${2:-42000}
PY=${BENCH_PY:-.venv/bin/python}
PY="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")"  # absolute, without resolving the venv's symlink
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)"; exit 1; }
command -v h2load >/dev/null || { echo "needs h2load (apt-get install nghttp2-client)"; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
total() {  # total() N PORT -> instructions of a whole run serving N requests
    local n=$1 port=$2
    (cd bench/apps && exec valgrind --tool=callgrind --callgrind-out-file="$out/cg.$n" \
        "$PY" fa_app.py "$port" 1 >"$out/log.$n" 2>&1) &
    local pid=$!
    for _ in $(seq 1 120); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 1; done
    h2load -n "$n" -c 16 -m 10 "http://127.0.0.1:$port/" >/dev/null 2>&1
    kill -TERM "$pid"
    wait "$pid" || true
    awk '/^summary:/ {print $2}' "$out/cg.$n"
}
a=$(total "$N1" 18931)
b=$(total "$N2" 18932)
echo "instructions: $a for $N1 requests, $b for $N2 requests"
echo "per request: $(( (b - a) / (N2 - N1) ))"
