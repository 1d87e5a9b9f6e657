package inventory

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/souk/souk/platform/pgtest"
)

// A pipelined transaction that fails inside a batch, or that its function leaves open, is
// rolled back: nothing of it is committed, and the next one commits.
func TestAPipelinedTransactionThatFailsCommitsNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db := pgtest.Pool(t, ctx)
	if _, err := db.Exec(ctx, `create table written (i int primary key)`); err != nil {
		t.Fatal(err)
	}
	s := NewStore(db, time.Minute)
	run := func(stmts ...string) error {
		return s.pipelined(ctx, func(conn *pgx.Conn) error {
			b := &pgx.Batch{}
			for _, q := range stmts {
				b.Queue(q)
			}
			return conn.SendBatch(ctx, b).Close()
		})
	}
	if err := run(`begin`, `insert into written values (1)`, `insert into written values (1)`, `commit`); err == nil {
		t.Fatal("a batch with a duplicate key committed")
	}
	if err := run(`begin`, `insert into written values (2)`); err == nil {
		t.Fatal("a transaction left open was taken as done")
	}
	if err := run(`begin`, `insert into written values (3)`, `commit`); err != nil {
		t.Fatal(err)
	}
	var got []int32
	rows, err := db.Query(ctx, `select i from written order by i`)
	if err != nil {
		t.Fatal(err)
	}
	if got, err = pgx.CollectRows(rows, pgx.RowTo[int32]); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != 3 {
		t.Fatalf("committed %v, want only [3]", got)
	}
}
