package outbox_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

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
		var raw []byte
		if err := db.QueryRow(ctx, `explain (format json) `+sql, args...).Scan(&raw); err != nil {
			t.Fatal(err)
		}
		var plan []struct {
			Plan struct {
				TotalCost float64 `json:"Total Cost"`
			}
		}
		if err := json.Unmarshal(raw, &plan); err != nil || len(plan) != 1 {
			t.Fatalf("%s: the plan %s: %v", name, raw, err)
		}
		t.Logf("%s: costed %.0f", name, plan[0].Plan.TotalCost)
		if cost := plan[0].Plan.TotalCost; cost >= jitAbove {
			t.Errorf("%s: costed %.0f on 100 000 sent events (JIT compiles above %.0f)", name, cost, jitAbove)
		}
	}
}
