package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// What one checkout costs, counted rather than timed: the shop's database's commits and row
// writes (pg_stat_database, and pg_stat_user_tables per table) and the shop process's CPU
// time (/proc/<pid>/stat), each read at the start and at the end of the measured window and
// divided by the orders paid in it. Counts do not depend on how busy the machine is, so two
// commits compare on a shared machine where their rates would not. PostgreSQL publishes a
// backend's counters when its transaction ends (and at most once a second when busy), so a
// window of 10 s or more keeps the edges' error to a few per cent.

// costs reads the counters of one database and one process.
type costs struct {
	dsn string
	db  *pgx.Conn // connected at the first snapshot: the shop makes its database as it starts
	pid int
	// database alone: the database's counters and its backends' CPU, not the shop's (no
	// process, no orders): pgbench's database, read the same way (pgbenchCost).
	database bool
}

// snapshot is the counters at one moment.
type snapshot struct {
	commits, inserted, updated, deleted int64
	tables                              map[string][3]int64   // schema.table → inserts, updates, deletes
	cpu                                 time.Duration         // the process's user + system time
	backends                            map[int]time.Duration // CPU time of the database's backends, by pid
	paid                                int64                 // orders that reached paid (or beyond)
}

func newCosts(dsn string, pid int) *costs { return &costs{dsn: dsn, pid: pid} }

func (c *costs) close() {
	if c.db != nil {
		_ = c.db.Close(context.Background())
	}
}

func (c *costs) snapshot(ctx context.Context) (snapshot, error) {
	s := snapshot{tables: map[string][3]int64{}}
	if c.db == nil {
		db, err := pgx.Connect(ctx, c.dsn)
		if err != nil {
			return s, err
		}
		c.db = db
	}
	// A fresh snapshot of the statistics, not the one cached for this transaction.
	if _, err := c.db.Exec(ctx, `select pg_stat_clear_snapshot()`); err != nil {
		return s, err
	}
	err := c.db.QueryRow(ctx, `select xact_commit, tup_inserted, tup_updated, tup_deleted
		from pg_stat_database where datname = current_database()`).Scan(&s.commits, &s.inserted, &s.updated, &s.deleted)
	if err != nil {
		return s, err
	}
	rows, err := c.db.Query(ctx, `select schemaname || '.' || relname, n_tup_ins, n_tup_upd, n_tup_del from pg_stat_user_tables`)
	if err != nil {
		return s, err
	}
	for rows.Next() {
		var name string
		var n [3]int64
		if err := rows.Scan(&name, &n[0], &n[1], &n[2]); err != nil {
			return s, err
		}
		s.tables[name] = n
	}
	if err := rows.Err(); err != nil {
		return s, err
	}
	if !c.database {
		if err := c.db.QueryRow(ctx, `select count(*) from orders.orders where status not in ('pending', 'reserved', 'cancelled')`).Scan(&s.paid); err != nil {
			return s, err
		}
		if s.cpu, err = processCPU(c.pid); err != nil {
			return s, err
		}
	}
	// The backends serving this database (the shop's pools, or pgbench's clients; they live
	// as long as the shop or the pgbench run, so the window's difference is their work in it).
	pids, err := c.db.Query(ctx, `select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`)
	if err != nil {
		return s, err
	}
	list, err := pgx.CollectRows(pids, pgx.RowTo[int32])
	if err != nil {
		return s, err
	}
	s.backends = map[int]time.Duration{}
	for _, pid := range list {
		if t, err := processCPU(int(pid)); err == nil { // gone meanwhile: left out
			s.backends[int(pid)] = t
		}
	}
	return s, nil
}

// backendCPU is the CPU the backends alive at both a and b used between them.
func backendCPU(a, b snapshot) time.Duration {
	var d time.Duration
	for pid, tb := range b.backends {
		if ta, ok := a.backends[pid]; ok {
			d += tb - ta
		}
	}
	return d
}

// processCPU is the user and system time pid has used (the 14th and 15th fields of
// /proc/<pid>/stat, in clock ticks of 1/100 s on Linux).
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces: count after it.
	_, rest, ok := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected %q", pid, b)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected %q", pid, b)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// report prints what the window between a and b cost per order paid in it.
func (c *costs) report(a, b snapshot) {
	paid := b.paid - a.paid
	if paid <= 0 {
		fmt.Println("cost: no order paid in the window")
		return
	}
	per := func(n int64) float64 { return float64(n) / float64(paid) }
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(paid) }
	fmt.Printf("cost per paid order (%d paid in the window): %.2f commits, %.1f rows inserted, %.1f updated, %.1f deleted, "+
		"%.2f ms of souk CPU, %.2f ms of PostgreSQL backends' CPU\n",
		paid, per(b.commits-a.commits), per(b.inserted-a.inserted), per(b.updated-a.updated), per(b.deleted-a.deleted),
		ms(b.cpu-a.cpu), ms(backendCPU(a, b)))
	type row struct {
		name string
		n    [3]int64
	}
	var rows []row
	for name, nb := range b.tables {
		na := a.tables[name]
		d := [3]int64{nb[0] - na[0], nb[1] - na[1], nb[2] - na[2]}
		if d != [3]int64{} {
			rows = append(rows, row{name, d})
		}
	}
	slices.SortFunc(rows, func(x, y row) int {
		return cmp.Or(cmp.Compare(y.n[0]+y.n[1]+y.n[2], x.n[0]+x.n[1]+x.n[2]), strings.Compare(x.name, y.name))
	})
	fmt.Printf("  %-36s %8s %8s %8s\n", "table (per paid order)", "inserts", "updates", "deletes")
	for _, r := range rows {
		fmt.Printf("  %-36s %8.2f %8.2f %8.2f\n", r.name, per(r.n[0]), per(r.n[1]), per(r.n[2]))
	}
}

// pgbenchCost reads what one pgbench transaction costs the database at dsn while pgbench
// runs on it: the counters and the backends' CPU over a window of d that starts after
// settle (its clients connected), per commit. Printed beside the checkout's cost, it says
// how many of pgbench's transactions one checkout weighs on the same server in the same run.
func pgbenchCost(ctx context.Context, dsn string, settle, d time.Duration) error {
	c := &costs{dsn: dsn, database: true}
	defer c.close()
	time.Sleep(settle)
	a, err := c.snapshot(ctx)
	if err != nil {
		return err
	}
	time.Sleep(d)
	b, err := c.snapshot(ctx)
	if err != nil {
		return err
	}
	commits := b.commits - a.commits
	if commits <= 0 {
		return fmt.Errorf("pgbench committed nothing in the window")
	}
	per := func(n int64) float64 { return float64(n) / float64(commits) }
	fmt.Printf("cost per pgbench transaction (%d in the window): %.1f rows inserted, %.1f updated, %.3f ms of PostgreSQL backends' CPU\n",
		commits, per(b.inserted-a.inserted), per(b.updated-a.updated), float64(backendCPU(a, b).Microseconds())/1000/float64(commits))
	return nil
}
