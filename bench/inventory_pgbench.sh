#!/usr/bin/env bash
# The hot-SKU target of docs/architecture.md as a ratio measured in one run, on one PostgreSQL:
#   naive      one transaction per reservation, `update stock set reserved = reserved + 1
#              where sku = 'HOT'`, 64 pgbench clients: what a plain row update gives
#   reserver   the inventory service's coalescing path without the wire
#              (BenchmarkReserverHotSKU: 64 goroutines call the Reserver)
#   service    the same through NATS as any caller (BenchmarkHotSKU: 64 callers, token
#              checked, reply after the commit, outbox relayed meanwhile)
# Usage: bench/inventory_pgbench.sh [seconds]   (needs pgbench and psql)
# The server is SOUK_TEST_DATABASE_URL's, as for the tests (postgres@127.0.0.1:5432 when unset).
set -euo pipefail
export PGOPTIONS="-c client_min_messages=warning"
cd "$(dirname "$0")/.."
secs=${1:-10}
server=${SOUK_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
command -v pgbench >/dev/null || { echo "pgbench is missing: apt-get install -y postgresql-client" >&2; exit 1; }
db=souk_bench_inventory_naive
base=${server%%\?*}
url="${base%/*}/$db"
script=$(mktemp)
cleanup() { psql "$server" -qc "drop database if exists $db" >/dev/null 2>&1 || true; rm -f "$script"; }
trap cleanup EXIT

psql "$server" -qc "drop database if exists $db" -c "create database $db" >/dev/null
psql "$url" -q <<'SQL'
create table stock (
    sku text primary key,
    on_hand bigint not null,
    reserved bigint not null,
    check (reserved >= 0 and reserved <= on_hand)
);
insert into stock values ('HOT', 1000000000, 0);
SQL
echo "update stock set reserved = reserved + 1 where sku = 'HOT';" >"$script"

echo "hot SKU, 64 concurrent callers, ${secs}s each, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
naive=$(pgbench -n -c 64 -j 2 -T "$secs" -f "$script" "$url" 2>/dev/null | awk '/^tps/ {print $3}')
printf '%-10s %10.0f reservations/s\n' naive "$naive"

out=$(go test -run '^$' -bench 'HotSKU' -benchtime "${secs}s" ./services/inventory/)
for name in ReserverHotSKU:reserver HotSKU:service; do
  rate=$(awk -v b="Benchmark${name%%:*}-" 'index($1, b) == 1 {for (i = 2; i < NF; i++) if ($(i+1) == "reservations/s") print $i}' <<<"$out")
  batch=$(awk -v b="Benchmark${name%%:*}-" 'index($1, b) == 1 {for (i = 2; i < NF; i++) if ($(i+1) == "requests/batch") print $i}' <<<"$out")
  printf '%-10s %10.0f reservations/s   %5.1f x naive%s\n' "${name#*:}" "$rate" "$(awk -v a="$rate" -v b="$naive" 'BEGIN {print a / b}')" \
    "${batch:+   ($batch requests/batch)}"
done
