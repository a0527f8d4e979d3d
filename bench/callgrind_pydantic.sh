#!/usr/bin/env bash
# Instructions per request on the server side for the pydantic app of
# bench/processes.py (bench/apps/pydantic_app.py: a JSON body validated into a
# model, a response_model), served from the main interpreter with 1 worker,
# counted by callgrind: two runs serving N1 and N2 HTTP/1.1 POSTs; the
# difference of the totals over N2 - N1 is the marginal cost of one request
# (the method of bench/callgrind_requests.sh).
#
#   bench/callgrind_pydantic.sh [N1 N2]        (default 1000 5000; ~3 min)
#
# BENCH_PYTHONPATH=dir runs another copy of the fasterapi package (e.g. an
# older commit's src/, with the built extension copied in) to compare.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N1=${1:-1000}
N2=${2:-5000}
PY=${BENCH_PY:-.venv/bin/python}
PY="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")"  # absolute, without resolving the venv's symlink
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)"; exit 1; }
command -v h2load >/dev/null || { echo "needs h2load (apt-get install nghttp2-client)"; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
printf '{"name": "widget", "price": 9.5, "tags": ["a", "b", "c"]}' >"$out/body.json"
total() {  # total() N PORT -> instructions of a whole run serving N requests
    local n=$1 port=$2
    (cd bench/apps && exec env ${BENCH_PYTHONPATH:+PYTHONPATH="$BENCH_PYTHONPATH"} \
        valgrind --tool=callgrind --callgrind-out-file="$out/cg.$n" \
        "$PY" -m fasterapi pydantic_app:app --app-dir . --host 127.0.0.1 --port "$port" \
        --interpreters main --workers 1 --log-level warning --no-proxy-headers --no-access-log \
        >"$out/log.$n" 2>&1) &
    local pid=$!
    for _ in $(seq 1 180); do
        curl -s -o /dev/null -X POST -H 'content-type: application/json' -d @"$out/body.json" \
            "http://127.0.0.1:$port/items/7" && break
        sleep 1
    done
    h2load --h1 -n "$n" -c 16 -d "$out/body.json" -H 'content-type: application/json' \
        "http://127.0.0.1:$port/items/7" >"$out/h2load.$n" 2>&1
    grep -q "$n succeeded" "$out/h2load.$n" || { echo "h2load: not all $n requests succeeded" >&2; cat "$out/h2load.$n" >&2; }
    kill -TERM "$pid"
    wait "$pid" || true
    awk '/^summary:/ {print $2}' "$out/cg.$n"
}
a=$(total "$N1" 18941)
b=$(total "$N2" 18942)
echo "instructions: $a for $N1 requests, $b for $N2 requests"
echo "per request: $(( (b - a) / (N2 - N1) ))"
