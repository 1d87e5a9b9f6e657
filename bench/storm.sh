#!/usr/bin/env bash
# The read storm of issue 12 item 12 on a machine that is also busy, in one run: checkouts
# per second and their p95 without and then with the storm (pollers asking for the
# customers' latest orders every 10 ms, not honouring Retry-After), then the ceilings, with
# CPU burners running beside all of it. Each half starts a fresh shop (bench/checkout.sh).
# Usage: bench/storm.sh [seconds] [customers] [pollers]   (needs pgbench, psql and wrk)
#        SOUK_SRC=/tmp/worktree bench/storm.sh ...       (the shop built from another checkout:
#                                                        `git worktree add /tmp/before <commit>`)
#        BURN=2 ...                                      (CPU burners beside; 0 for none)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20} conns=${2:-64} pollers=${3:-64} burn=${BURN:-2}
burners=()
stop() { for p in "${burners[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap stop EXIT
for _ in $(seq "$burn"); do
  (while :; do :; done) &
  burners+=($!)
done
echo "== calm: $conns customers, $burn CPU burners beside"
CHECKOUT_ONLY=1 bench/checkout.sh "$secs" "$conns"
echo "== storm: the same with $pollers pollers of GET /v1/orders/{id} every 10 ms"
CHECKOUT_ONLY=1 CHECKOUT_FLAGS="-storm $pollers" bench/checkout.sh "$secs" "$conns"
echo "== ceiling, the burners still running (bench/ceiling/run.sh $secs $conns)"
bench/ceiling/run.sh "$secs" "$conns"
