#!/usr/bin/env bash
# The memory soak of issue 12 item 11: a steady checkout load on the one-process shop for
# 30 minutes (by default), its RSS printed every 30 s with the orders decided (paid or cancelled) so far, to show
# whether RSS levels off or grows with history. Keep the machine otherwise quiet meanwhile.
# Usage: bench/soak.sh [seconds] [customers]   (1800 s and 16 customers by default)
#        SEED_PRODUCTS=100000 ...               (the demo catalog of 100 000 products seeded first:
#                                               issue 17's soak; see bench/checkout.sh)
#        SOUK_SRC=/tmp/worktree ...             (the shop built from another checkout)
set -euo pipefail
cd "$(dirname "$0")/.."
CHECKOUT_ONLY=1 RSS_EVERY=${RSS_EVERY:-30} CHECKOUT_PORT=${CHECKOUT_PORT:-18192} exec bench/checkout.sh "${1:-1800}" "${2:-16}"
