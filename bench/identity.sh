#!/usr/bin/env bash
# Load figures of the foundation, beside the ceilings measured in the same run.
# Starts `souk run` on a fresh database with rate limits out of the way, registers a user,
# then drives three routes with wrk:
#   /healthz               the gateway alone (compare: ceiling /direct)
#   /.well-known/jwks.json gateway → NATS → auth service, anonymous (compare: ceiling /mem)
#   /v1/users/me           token verified in the gateway and again in the user service, one
#                          primary-key select (compare: ceiling /pg)
# Usage: bench/identity.sh [seconds] [connections]   (needs wrk and psql)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10} conns=${2:-64}
addr=127.0.0.1:18181
db=souk_bench_$$
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
go build -o /tmp/souk-bench ./cmd/souk
data=$(mktemp -d)
SOUK_HTTP_ADDR=$addr SOUK_NATS_LISTEN=127.0.0.1:0 SOUK_DATA_DIR=$data SOUK_LOG_LEVEL=warn SOUK_LOG_FORMAT=json \
  SOUK_RATE_IP=1000000 SOUK_RATE_ACCOUNT=1000000 \
  DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable" /tmp/souk-bench >/tmp/souk-bench.log 2>&1 &
pid=$!
cleanup() { kill $pid 2>/dev/null; wait $pid 2>/dev/null; psql -h 127.0.0.1 -U postgres -qc "drop database if exists $db with (force)" >/dev/null; rm -rf "$data"; }
trap cleanup EXIT
for _ in $(seq 100); do curl -sf "http://$addr/readyz" >/dev/null && break; sleep 0.2; done
json='content-type: application/json'
curl -sf "http://$addr/v1/auth/register" -H "$json" -d '{"email":"bench@example.com","password":"correct horse battery","name":"Bench"}' >/dev/null
tok=$(curl -sf "http://$addr/v1/auth/login" -H "$json" -d '{"email":"bench@example.com","password":"correct horse battery"}' | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
row() {
  local name=$1; shift
  wrk -t1 -c1 -d2s "$@" >/dev/null
  out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency "$@")
  printf '%-24s %10s req/s   p99 %-9s non-2xx %s\n' "$name" "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" \
    "$(awk '$1=="99%" {print $2}' <<<"$out")" "$(awk '/Non-2xx/ {print $NF}' <<<"$out" | grep . || echo 0)"
}
echo "souk ($(git rev-parse --short HEAD), $conns connections, ${secs}s each)"
row /healthz "http://$addr/healthz"
row /.well-known/jwks.json "http://$addr/.well-known/jwks.json"
row /v1/users/me -H "authorization: Bearer $tok" "http://$addr/v1/users/me"
echo "rss after load: $(ps -o rss= -p $pid | awk '{printf "%.0f MiB", $1/1024}')"
kill $pid; wait $pid 2>/dev/null || true
echo "ceiling (bench/ceiling/run.sh $secs $conns)"
bench/ceiling/run.sh "$secs" "$conns"
