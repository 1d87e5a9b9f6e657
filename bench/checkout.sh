#!/usr/bin/env bash
# Checkouts per second, placed → paid, beside what the same PostgreSQL commits under pgbench
# and the ceilings, all in one run. Starts `souk run` on a fresh database (rate limits out
# of the way, the sandbox provider deciding at once unless SOUK_SANDBOX_DELAY says
# otherwise), then bench/checkout drives -c customers each looping cart → order (pm_card_visa)
# → wait for the paid event; then pgbench's TPC-B-like transaction with as many clients;
# then bench/ceiling/run.sh.
# It also prints what the measured window cost per paid order: commits, row writes by table
# and the shop's CPU time (bench/checkout/cost.go), figures that do not depend on how busy
# the machine is.
# Usage: bench/checkout.sh [seconds] [customers]   (needs pgbench, psql and wrk)
#        CHECKOUT_ONLY=1 bench/checkout.sh ...      (the checkouts alone)
#        CHECKOUT_FLAGS="-storm 64" ...             (more flags of bench/checkout: the read storm)
#        SOUK_SRC=/tmp/worktree ...                 (the shop built from another checkout, to compare)
#        CHECKOUT_PORT=18182 ...                    (the shop's HTTP port; its NATS port is 14333 + this - 18182)
#        RSS_EVERY=30 ...                           (print the shop's RSS and paid orders every 30 s: bench/soak.sh)
#        SEED_PRODUCTS=100000 ...                   (seed the demo catalog first, as bench/catalog.sh does)
#        PG_PARAMS='&pool_max_conns=8' ...          (appended to the shop's DATABASE_URL: its pool's width)
#        INSTANCES="order payment" ...              (one more instance of each, a `souk run <service>` process
#                                                    joined to the shop's NATS: scaling out, docs/operations.md)
set -euo pipefail
export PGOPTIONS="-c client_min_messages=warning"
cd "$(dirname "$0")/.."
secs=${1:-10} conns=${2:-64}
port=${CHECKOUT_PORT:-18182}
addr=127.0.0.1:$port natsaddr=127.0.0.1:$((14333 + port - 18182))
db=souk_bench_checkout_$$ pgb=souk_bench_pgbench_$$
command -v pgbench >/dev/null || { echo "pgbench is missing: apt-get install -y postgresql-client" >&2; exit 1; }
bin=/tmp/souk-bench-$$
(cd "${SOUK_SRC:-.}" && go build -o "$bin" ./cmd/souk)
go build -o "$bin-checkout" ./bench/checkout
data=$(mktemp -d)
pid= extra=()
cleanup() {
  # Under set -e a failing kill (the shop already stopped) would end the trap here, leaving
  # the databases behind and the script's status 1.
  for p in $pid "${extra[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  psql -h 127.0.0.1 -U postgres -qc "drop database if exists $db with (force)" -c "drop database if exists $pgb with (force)" >/dev/null
  rm -rf "$data" "$bin" "$bin-checkout"
}
trap cleanup EXIT
if [ -n "${SEED_PRODUCTS:-}" ]; then
  # The demo catalog first (bench/catalog.sh's seed): the shop starts with its events to relay.
  DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable" "$bin" seed -products "$SEED_PRODUCTS" >/dev/null
  psql -h 127.0.0.1 -U postgres -qc 'vacuum analyze catalog.products, catalog.product_views' "$db"
fi
SOUK_HTTP_ADDR=$addr SOUK_NATS_LISTEN=$natsaddr SOUK_DATA_DIR=$data SOUK_LOG_LEVEL=warn SOUK_LOG_FORMAT=json \
  SOUK_RATE_IP=1000000 SOUK_RATE_ACCOUNT=1000000 SOUK_SANDBOX_DELAY=${SOUK_SANDBOX_DELAY:-1ms} \
  SOUK_ADMIN_EMAIL=admin@souk.test SOUK_ADMIN_PASSWORD='Sesame-Opens-42!' \
  DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable${PG_PARAMS:-}" "$bin" >"$bin.log" 2>&1 &
pid=$!
for _ in $(seq 300); do curl -sf "http://$addr/readyz" >/dev/null && break; sleep 0.2; done
for target in ${INSTANCES:-}; do
  NATS_URL=nats://$natsaddr SOUK_DATA_DIR=$data SOUK_LOG_LEVEL=info SOUK_LOG_FORMAT=json SOUK_SANDBOX_DELAY=${SOUK_SANDBOX_DELAY:-1ms} \
    SOUK_SECRET_KEY_FILE=$data/secret.key DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable" \
    "$bin" run "$target" >"$bin.$target.log" 2>&1 &
  extra+=($!)
  for _ in $(seq 100); do grep -q '"message":"serving"' "$bin.$target.log" && break; sleep 0.2; done
done
echo "souk ($(cd "${SOUK_SRC:-.}" && git rev-parse --short HEAD)), more instances: ${INSTANCES:-none}, $conns customers, ${secs}s, sandbox delay ${SOUK_SANDBOX_DELAY:-1ms}, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
sampler=
if [ -n "${RSS_EVERY:-}" ]; then
  # A benchmark, not a test: sampling on a clock is the point.
  (
    t0=$(date +%s)
    printf '%8s %9s %14s %s\n' elapsed rss decided-orders load
    while kill -0 $pid 2>/dev/null; do
      rss=$(ps -o rss= -p $pid | awk '{printf "%.0f MiB", $1/1024}')
      paid=$(psql -h 127.0.0.1 -U postgres -tAc "select count(*) from orders.orders where status <> 'pending'" "$db" 2>/dev/null || echo -)
      printf '%7ss %9s %14s %s\n' $(($(date +%s) - t0)) "$rss" "$paid" "$(cut -d' ' -f1 /proc/loadavg)"
      sleep "$RSS_EVERY"
    done
  ) &
  sampler=$!
fi
# shellcheck disable=SC2086 # CHECKOUT_FLAGS is a list of flags
"$bin-checkout" -base "http://$addr" -nats "nats://$natsaddr" -c "$conns" -d "${secs}s" \
  -cost-db "postgres://postgres@127.0.0.1:5432/$db?sslmode=disable" -cost-pid $pid ${CHECKOUT_FLAGS:-}
[ -n "$sampler" ] && { kill "$sampler" 2>/dev/null || true; }
echo "rss after load: $(ps -o rss= -p $pid | awk '{printf "%.0f MiB", $1/1024}')"
kill $pid; wait $pid 2>/dev/null || true
# CHECKOUT_ONLY=1 stops here: for comparing two commits back to back (alternate the runs of
# their worktrees; the machine's speed drifts by 20 % within minutes).
[ -n "${CHECKOUT_ONLY:-}" ] && exit 0

echo "pgbench (TPC-B-like: 3 updates, 1 select, 1 insert per transaction; $conns clients, ${secs}s)"
psql -h 127.0.0.1 -U postgres -qc "create database $pgb" >/dev/null
pgbench -h 127.0.0.1 -U postgres -i -q -s 10 "$pgb" >/dev/null 2>&1
# What a pgbench transaction costs, read over its run but the first 2 s and the last 1 s,
# the way the checkout's cost is read: a checkout weighs that many of them.
"$bin-checkout" -pgbench-cost "postgres://postgres@127.0.0.1:5432/$pgb?sslmode=disable" -d "$((secs > 4 ? secs - 3 : 1))s" &
costpid=$!
pgbench -h 127.0.0.1 -U postgres -n -c "$conns" -j 2 -T "$secs" "$pgb" 2>/dev/null | awk '/^tps/ {printf "pgbench %10.0f transactions/s\n", $3}'
wait $costpid || true
echo "ceiling (bench/ceiling/run.sh $secs $conns)"
bench/ceiling/run.sh "$secs" "$conns"
