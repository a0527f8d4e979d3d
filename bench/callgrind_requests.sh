#!/usr/bin/env bash
# Instructions per request on the server side, counted by callgrind (repeatable,
# unlike timings on a shared VM): bench/apps/fa_app.py with 1 pinned worker runs
# under valgrind twice, serving N1 and then N2 h2c requests for /; the difference
# of the two totals over N2 - N1 is the marginal cost of one request.
#
#   bench/callgrind_requests.sh [--tls] [N1 N2]   (default 2000 42000; ~2 min)
#
# --tls: the same over TLS (ALPN h2, a throwaway P-256 certificate made with
# the openssl command), so the TLS path has a repeatable count too; TLS
# handshakes are in both runs alike (16 connections) and cancel out.
#
# The counts move somewhat with how h2load batches requests (frames per read),
# so compare builds with the same N1/N2 and more than a few thousand requests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
TLS=0
if [ "${1:-}" = "--tls" ]; then TLS=1; shift; fi
N1=${1:-2000}
N2=${2:-42000}
PY=${BENCH_PY:-.venv/bin/python}
PY="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")"  # absolute, without resolving the venv's symlink
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)"; exit 1; }
command -v h2load >/dev/null || { echo "needs h2load (apt-get install nghttp2-client)"; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
scheme=http
if [ "$TLS" = 1 ]; then
    scheme=https
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj /CN=localhost -keyout "$out/key.pem" -out "$out/cert.pem" >/dev/null 2>&1
    export FA_BENCH_SSL_CERTFILE="$out/cert.pem" FA_BENCH_SSL_KEYFILE="$out/key.pem"
fi
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
total() {  # total() N PORT -> instructions of a whole run serving N requests
    local n=$1 port=$2
    (cd bench/apps && exec valgrind --tool=callgrind --callgrind-out-file="$out/cg.$n" \
        "$PY" fa_app.py "$port" 1 >"$out/log.$n" 2>&1) &
    local pid=$!
    for _ in $(seq 1 120); do curl -sk -o /dev/null "$scheme://127.0.0.1:$port/" && break; sleep 1; done
    h2load -n "$n" -c 16 -m 10 "$scheme://127.0.0.1:$port/" >"$out/h2load.$n" 2>&1
    grep -q "succeeded, 0 failed\|$n succeeded" "$out/h2load.$n" || { echo "h2load failed:" >&2; cat "$out/h2load.$n" >&2; }
    kill -TERM "$pid"
    wait "$pid" || true
    awk '/^summary:/ {print $2}' "$out/cg.$n"
}
a=$(total "$N1" "$(free_port)")
b=$(total "$N2" "$(free_port)")
echo "instructions: $a for $N1 requests, $b for $N2 requests"
echo "per request: $(( (b - a) / (N2 - N1) ))"
