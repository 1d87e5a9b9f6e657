#!/usr/bin/env bash
# Load figures of the catalog, beside the ceilings measured in the same run.
# Seeds a database with the demo catalog (once: later runs find it seeded), starts `souk run`
# on it with rate limits out of the way, then drives with wrk:
#   product, cached     GET /v1/products/{id} over 1 000 products     (compare: ceiling /mem)
#   product, uncached   the same over 20 000 products, caching off (compare: ceiling /pg)
#   search, cached      a shopper's mix of 16 searches (bench/searches.txt)
#   search, uncached    the same mix, caching off: page, facets and products from PostgreSQL
# and reports the process's RSS idle (after a start with nothing left to relay) and after the
# load.
# Usage: bench/catalog.sh [seconds] [connections] [products]   (needs wrk and psql)
#        CATALOG_PORT=18183 ...      (the shop's HTTP port: bench/checkout.sh takes 18182)
#        SOUK_PPROF_ADDR=127.0.0.1:6061 ...  (serve the shop's profiles while it runs)
#        ROWS="product search" ...   (only the cached and uncached rows of these)
#        ROWS="... backlog" ...      (and cached searches on a start that relays every catalog
#                                     event again, as the first start after a seed does)
#        SOUK_SRC=/tmp/other ...     (the shop built from another checkout, to compare)
#        PG_PARAMS='&pool_max_conns=8' ...  (appended to the shop's DATABASE_URL: its pool's width)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10} conns=${2:-64} products=${3:-100000}
addr=127.0.0.1:${CATALOG_PORT:-18183} rows=${ROWS:-product search}
db=souk_bench_catalog_$products
url="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
bin=/tmp/souk-bench-catalog-$$
(cd "${SOUK_SRC:-.}" && go build -o "$bin" ./cmd/souk)
DATABASE_URL=$url "$bin" seed -products "$products"
# Statistics and the visibility map, as autovacuum would leave them (a server may run
# without it, as the development one here does; the planner guesses badly without them).
psql "$url" -qc 'vacuum analyze catalog.products, catalog.product_views'
# The paths files are this run's own: runs beside it on other databases write theirs.
data=$(mktemp -d)
all=$data/products.txt hot=$data/products-hot.txt
psql "$url" -qtAc "select '/v1/products/' || id from catalog.products where deleted_at is null order by seq limit 20000" >"$all"
head -n 1000 "$all" >"$hot"
pid=
unsent() { psql "$url" -qtAc 'select count(*) from catalog.outbox_pending'; }
start() { # start [cache MiB] [nowait: return before the outbox is drained]
  # A fixed key: the seeded database outlives this run's data directory, and the signing keys
  # sealed in it must open on the next run. A benchmark's, never a secret.
  SOUK_SECRET_KEY=c291ay1iZW5jaC1jYXRhbG9nLW5vdC1hLXNlY3JldCE= \
  SOUK_HTTP_ADDR=$addr SOUK_NATS_LISTEN=127.0.0.1:0 SOUK_DATA_DIR=$data SOUK_LOG_LEVEL=warn SOUK_LOG_FORMAT=json \
    SOUK_RATE_IP=1000000 SOUK_RATE_ACCOUNT=1000000 SOUK_CATALOG_CACHE_MB=${1:-48} \
    DATABASE_URL="$url${PG_PARAMS:-}" "$bin" >>/tmp/souk-bench-catalog.log 2>&1 &
  pid=$!
  for _ in $(seq 150); do curl -sf "http://$addr/readyz" >/dev/null && break; sleep 0.2; done
  curl -sf "http://$addr/readyz" >/dev/null || { echo "souk did not get ready; see /tmp/souk-bench-catalog.log" >&2; exit 1; }
  [ "${2:-}" = nowait ] && return
  # A fresh seed leaves its events in the outbox: measure after the relay has sent them
  # (each one invalidates caches on its way through).
  for _ in $(seq 600); do
    [ "$(unsent)" = 0 ] && return
    sleep 0.5
  done
  echo "the outbox did not drain" >&2; exit 1
}
stop() { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; }
cleanup() { stop; rm -rf "$data" "$bin"; }
trap cleanup EXIT
has() { [[ " $rows " == *" $1 "* ]]; }
rss() { ps -o rss= -p "$pid" | awk '{printf "%.0f MiB", $1/1024}'; }
row() { # row name paths-file
  wrk -t1 -c4 -d2s -s bench/paths.lua "http://$addr" -- "$2" >/dev/null # warm up
  out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency -s bench/paths.lua "http://$addr" -- "$2")
  printf '%-20s %10s req/s   p99 %-9s non-2xx %s\n' "$1" "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" \
    "$(awk '$1=="99%" {print $2}' <<<"$out")" "$(awk '/Non-2xx/ {print $NF}' <<<"$out" | grep . || echo 0)"
}
echo "souk (${SOUK_SRC:-$(git rev-parse --short HEAD)}, $products products, $conns connections, ${secs}s each)"
start
stop # a fresh seed's events went through on that start: measure the footprint on a clean one
start
echo "rss idle: $(rss)"
has product && row "product, cached" "$hot"
has search && row "search, cached" bench/searches.txt
echo "rss after load: $(rss)"
stop
if has backlog; then
  psql "$url" -qc 'update catalog.outbox set resend = true' # the relay sends them all again
  start 48 nowait
  row "search, cached, relaying $(unsent) events" bench/searches.txt
  echo "  events left to relay after it: $(unsent)"
  for _ in $(seq 600); do [ "$(unsent)" = 0 ] && break; sleep 0.5; done
  stop
fi
start 0
has product && row "product, uncached" "$all"
has search && row "search, uncached" bench/searches.txt
stop
echo "ceiling (bench/ceiling/run.sh $secs $conns)"
CEILING_PORT=${CEILING_PORT:-18081} bench/ceiling/run.sh "$secs" "$conns"
