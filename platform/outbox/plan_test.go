package outbox_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/souk/souk/platform/outbox"
)

// The relay's claim (several times a second per service) and its backlog gauge are planned
// for the watermark's one row, whatever the statistics say. On a large outbox whose cursor
// table had never been analyzed (autovacuum off, as on the development server; a new
// schema) the planner took the cursor for 740 rows and costed the claim past
// jit_above_cost: each claim then compiled itself, 90-140 ms of the server's CPU, where it
// takes 1 ms.
func TestTheRelaysStatementsStayCheapOnALargeOutbox(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, db := migrated(t, ctx)
	// 100 000 events, sent: the watermark past them, the outbox analyzed as autovacuum
	// would; the cursor's one row never analyzed.
	for _, sql := range []string{
		`insert into users.outbox (id, subject, payload) select gen_random_uuid(), 'souk.evt.user.registered.x', '\x7b7d'
			from generate_series(1, 100000)`,
		`update users.outbox_cursor set (xid, seq) = (select xid, seq from users.outbox order by xid desc, seq desc limit 1)`,
		`analyze users.outbox`,
	} {
		if _, err := db.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	var jitAbove float64
	if err := db.QueryRow(ctx, `select current_setting('jit_above_cost')::float8`).Scan(&jitAbove); err != nil {
		t.Fatal(err)
	}
	if jitAbove < 0 {
		jitAbove = 100000 // JIT is off on this server: hold the statements to the default
	}
	relay := outbox.NewRelay(schema, db, nil, zerolog.Nop())
	for name, statement := range map[string]func(*outbox.Relay) (string, []any){"claim": outbox.ClaimSQL, "backlog": outbox.BacklogSQL} {
		sql, args := statement(relay)
		cost := explain(t, ctx, db, "format json", sql, args).Cost
		t.Logf("%s: costed %.0f", name, cost)
		if cost >= jitAbove {
			t.Errorf("%s: costed %.0f on 100 000 sent events (JIT compiles above %.0f)", name, cost, jitAbove)
		}
	}
}

// The backlog gauge (every Lease/5 per relay) reads a bounded share of a large backlog. It
// counted up to 100 000 rows of each kind: with the catalog's 100 000 events marked for
// resending it read every one, 450 ms of the server's CPU every 3 s while the relay worked
// through them, beside the searches it was meant to stay out of the way of.
func TestTheBacklogGaugeReadsABoundedShareOfALargeBacklog(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, db := migrated(t, ctx)
	const waiting = 60000 // of each kind: new above the watermark, and marked for resending
	for _, sql := range []string{
		`insert into users.outbox (id, subject, payload) select gen_random_uuid(), 'souk.evt.user.registered.x', '\x7b7d'
			from generate_series(1, 60000)`,
		`insert into users.outbox (id, subject, payload, resend) select gen_random_uuid(), 'souk.evt.user.registered.x', '\x7b7d', true
			from generate_series(1, 60000)`,
		`analyze users.outbox`,
	} {
		if _, err := db.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	sql, args := outbox.BacklogSQL(outbox.NewRelay(schema, db, nil, zerolog.Nop()))
	var age float64
	var counted int64
	if err := db.QueryRow(ctx, sql, args...).Scan(&age, &counted); err != nil {
		t.Fatal(err)
	}
	if counted < 10000 || counted >= 2*waiting {
		t.Errorf("the gauge counted %d of %d waiting events; want at least 10 000 and a bounded count", counted, 2*waiting)
	}
	read := explain(t, ctx, db, "analyze, format json", sql, args).rowsRead()
	t.Logf("the gauge read %.0f rows of %d waiting", read, 2*waiting)
	if read > 25000 {
		t.Errorf("the gauge read %.0f rows of the outbox with %d waiting; want a bounded share (at most 25 000)", read, 2*waiting)
	}
}

// explain returns the plan of sql with args, explained with options (JSON format among them).
func explain(t *testing.T, ctx context.Context, db *pgxpool.Pool, options, sql string, args []any) planNode {
	t.Helper()
	var raw []byte
	if err := db.QueryRow(ctx, `explain (`+options+`) `+sql, args...).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	var plan []struct{ Plan planNode }
	if err := json.Unmarshal(raw, &plan); err != nil || len(plan) != 1 {
		t.Fatalf("the plan %s: %v", raw, err)
	}
	return plan[0].Plan
}

// planNode is a node of a plan in EXPLAIN's JSON.
type planNode struct {
	Cost     float64    `json:"Total Cost"`
	Relation string     `json:"Relation Name"`
	Rows     float64    `json:"Actual Rows"`
	Loops    float64    `json:"Actual Loops"`
	Plans    []planNode `json:"Plans"`
}

// rowsRead sums the rows the plan's scans of tables returned.
func (n planNode) rowsRead() float64 {
	read := 0.0
	if n.Relation != "" {
		read = n.Rows * n.Loops
	}
	for _, c := range n.Plans {
		read += c.rowsRead()
	}
	return read
}
