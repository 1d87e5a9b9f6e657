#!/usr/bin/env bash
# Two builds of the shop and the ceiling side by side, wrk rotating among them in short
# windows: on a machine shared with other work, where bench/catalog.sh's rows and ceilings
# minutes apart can swing 2×, each round's three figures share the machine's load. Per window
# it prints req/s, p99, non-2xx, the process's CPU µs per request and its PostgreSQL backends'.
# Needs the seeded database of `bench/catalog.sh 10 64 100000` (run that once first).
# Usage: bench/catalog_ab.sh BEFORE_SRC AFTER_SRC [cached|uncached|search] [rounds] [seconds]
#        (search: the uncached search mix of bench/searches.txt; its ceiling column is /pg's,
#        a measure of the machine's speed in that window, not a bound of the search)
#        AB_PORTS="18194 18183 18193"   (before, after, ceiling)
#        AFTER_DSN="&pool_max_conns=4"  (appended to the after shop's DATABASE_URL)
set -euo pipefail
cd "$(dirname "$0")/.."
before=$1 after=$2 row=${3:-cached} rounds=${4:-6} secs=${5:-5}
read -r pb pa pc <<<"${AB_PORTS:-18194 18183 18193}"
db=souk_bench_catalog_100000
url="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable"
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
(cd "$before" && go build -o "$tmp/before" ./cmd/souk)
(cd "$after" && go build -o "$tmp/after" ./cmd/souk)
go build -o "$tmp/ceiling" ./bench/ceiling
psql "$url" -qtAc "select '/v1/products/' || id from catalog.products where deleted_at is null order by seq limit 20000" >"$tmp/all.txt"
head -n 1000 "$tmp/all.txt" >"$tmp/hot.txt"
case $row in
cached) cache=48 paths=$tmp/hot.txt cpath=mem ;;
uncached) cache=0 paths=$tmp/all.txt cpath=pg ;;
search) cache=0 paths=bench/searches.txt cpath=pg ;;
*) echo "row: cached, uncached or search" >&2; exit 2 ;;
esac
shop() { # bin port dsn-suffix
  mkdir -p "$tmp/data-$2"
  SOUK_SECRET_KEY=c291ay1iZW5jaC1jYXRhbG9nLW5vdC1hLXNlY3JldCE= \
  SOUK_HTTP_ADDR=127.0.0.1:$2 SOUK_NATS_LISTEN=127.0.0.1:0 SOUK_DATA_DIR=$tmp/data-$2 SOUK_LOG_LEVEL=warn SOUK_LOG_FORMAT=json \
    SOUK_RATE_IP=1000000 SOUK_RATE_ACCOUNT=1000000 SOUK_CATALOG_CACHE_MB=$cache \
    DATABASE_URL=$url$3 "$1" >>"$tmp/shop.log" 2>&1 &
  pids+=($!)
}
shop "$tmp/before" "$pb" ""
shop "$tmp/after" "$pa" "${AFTER_DSN:-}"
"$tmp/ceiling" -addr "127.0.0.1:$pc" -db "postgres://postgres@127.0.0.1:5432/souk_ceiling?sslmode=disable" >"$tmp/ceiling.log" 2>&1 &
pids+=($!)
for port in "$pb" "$pa"; do
  for _ in $(seq 150); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
done
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$pc/direct" >/dev/null && break; sleep 0.1; done
for port in "$pb" "$pa"; do wrk -t1 -c4 -d3s -s bench/paths.lua "http://127.0.0.1:$port" -- "$paths" >/dev/null; done
wrk -t1 -c1 -d2s "http://127.0.0.1:$pc/$cpath" >/dev/null
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
pgticks() {
  local t=0 p
  for p in $(psql "${url%/*}/postgres" -qtAc "select pid from pg_stat_activity where datname='$1'"); do
    t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}
window() { # pid database wrk-args…
  local pid=$1 d=$2 c0 g0 out c1 g1 r; shift 2
  c0=$(ticks "$pid") g0=$(pgticks "$d")
  out=$(wrk -t2 -c64 -d"${secs}s" --latency "$@" | awk '/Requests\/sec/ {r=$2} $1=="99%" {p=$2} /Non-2xx/ {n=$NF} END {printf "%s %s %s", r, p, (n=="" ? 0 : n)}')
  c1=$(ticks "$pid") g1=$(pgticks "$d") r=${out%% *}
  echo "$out $(echo "($c1-$c0)*1000000/100/($r*$secs)" | bc -l | cut -c1-5) $(echo "($g1-$g0)*1000000/100/($r*$secs)" | bc -l | cut -c1-5)"
}
echo "$row, ${secs}s windows; each: req/s p99 non-2xx shop-µs/req pg-µs/req"
echo "round load | before | after | ceiling /$cpath | before÷ceiling after÷ceiling after÷before"
for i in $(seq "$rounds"); do
  b=$(window "${pids[0]}" $db -s bench/paths.lua "http://127.0.0.1:$pb" -- "$paths")
  a=$(window "${pids[1]}" $db -s bench/paths.lua "http://127.0.0.1:$pa" -- "$paths")
  c=$(window "${pids[2]}" souk_ceiling "http://127.0.0.1:$pc/$cpath")
  rb=${b%% *} ra=${a%% *} rc=${c%% *}
  printf '%s %s | %s | %s | %s | %.2f %.2f %.2f\n' "$i" "$(cut -d' ' -f1 /proc/loadavg)" "$b" "$a" "$c" \
    "$(echo "$rb/$rc" | bc -l)" "$(echo "$ra/$rc" | bc -l)" "$(echo "$ra/$rb" | bc -l)"
done
