#!/usr/bin/env bash
# Measures the three ceilings with wrk and prints one line each. Run it in the same session as
# the benchmark it anchors, and report the ratio. Needs wrk (apt-get install wrk) and psql.
# Usage: bench/ceiling/run.sh [seconds] [connections]   (CEILING_PORT, CEILING_DB to move it)
set -eu
cd "$(dirname "$0")"
secs=${1:-10} conns=${2:-64} addr=127.0.0.1:${CEILING_PORT:-18080}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
db=${CEILING_DB:-postgres://postgres@127.0.0.1:5432/souk_ceiling?sslmode=disable}
psql "${db%/*}/postgres" -qtAc "select 1 from pg_database where datname='souk_ceiling'" | grep -q 1 ||
  psql "${db%/*}/postgres" -qc 'create database souk_ceiling'
bin=$(mktemp /tmp/souk-ceiling.XXXXXX) # this run's own: runs beside it build theirs
go build -o "$bin" .
"$bin" -addr "$addr" -db "$db" >/tmp/souk-ceiling.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -f "$bin"' EXIT
for _ in $(seq 100); do curl -sf "http://$addr/direct" >/dev/null && break; sleep 0.1; done
for path in direct mem pg; do
  wrk -t1 -c1 -d2s "http://$addr/$path" >/dev/null # warm up
  out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency "http://$addr/$path")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  printf '%-7s %10s req/s   p99 %s\n' "/$path" "$rps" "$p99"
done
