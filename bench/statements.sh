#!/usr/bin/env bash
# The statements one database is sent over a few seconds, counted by statement and per order
# placed in the window: what a checkout costs in statements, the figure that does not swing
# with the machine's load (docs/performance.md, "A batch's orders read at once"), and the
# server's time on each (its log's durations), sorted by that time.
#
# Usage: bench/statements.sh <database> [seconds]      while a benchmark runs on it, e.g.
#          CHECKOUT_ONLY=1 bench/checkout.sh 20 64 & (wait for "measuring")
#          bench/statements.sh "$(psql -h 127.0.0.1 -U postgres -Atc "select datname from pg_database
#            where datname like 'souk_bench_checkout_%' order by oid desc limit 1")" 5
# Needs a superuser on 127.0.0.1 and the server's log file (PG_LOG, Debian's by default): it
# sets log_min_duration_statement to 0 for the window and back to the default after.
set -euo pipefail
db=${1:?database} secs=${2:-5}
log=${PG_LOG:-/var/log/postgresql/postgresql-15-main.log}
psql() { command psql -h 127.0.0.1 -U postgres -qAt "$@"; }
reset() { psql -c "alter system reset log_min_duration_statement" -c "select pg_reload_conf()" >/dev/null; }
trap reset EXIT
from=$(stat -c %s "$log")
psql -c "alter system set log_min_duration_statement = 0" -c "select pg_reload_conf()" >/dev/null
sleep "$secs"
reset
trap - EXIT
tail -c +$((from + 1)) "$log" | awk -v db="$db" '
  # "<time> UTC [pid] user@db LOG:  duration: 0.1 ms  execute <name>: <sql>" or "statement: <sql>";
  # the parse and bind of a prepared statement have lines of their own, counted in its time.
  $0 ~ ("@" db " LOG:  duration: ") && ($0 ~ /  (parse|bind|execute) [^:]*: / || $0 ~ /  statement: /) {
    sql = $0; sub(/^.*  (parse [^:]*|bind [^:]*|execute [^:]*|statement): /, "", sql); gsub(/[ \t]+/, " ", sql)
    sql = substr(sql, 1, 90)
    d = $0; sub(/^.* LOG:  duration: /, "", d); sub(/ ms .*$/, "", d)
    ms[sql] += d; spent += d
    if ($0 ~ /  (parse|bind) [^:]*: /) next
    n[sql]++; total++
    if (sql ~ /^insert into orders\.orders /) orders++
  }
  END {
    if (!orders) { print "no order placed in the window"; exit }
    printf "%d statements, %d orders placed: %.1f statements and %.2f ms of statement time per order\n", total, orders, total / orders, spent / orders
    print "per order: statements, ms (time in the server from parse to the last row, waits included)"
    for (s in n) printf "%8.2f %7.3f  %s\n", n[s] / orders, ms[s] / orders, s | "sort -k2 -rn | head -40"
  }'
