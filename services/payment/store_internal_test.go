package payment

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/souk/souk/platform/pgtest"
)

// A batch whose middle item fails, breaking the transaction it ran in, commits the other
// items once each and returns the failed item's error and only their effects.
func TestABatchCommitsAllButTheItemThatFailed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db := pgtest.Pool(t, ctx)
	if _, err := db.Exec(ctx, `create table applied (i int primary key)`); err != nil {
		t.Fatal(err)
	}
	s := &store{db: db}
	boom := errors.New("item 1 failed")
	calls := map[int]int{}
	eff, err := s.inBatch(ctx, 3, func(ctx context.Context, tx pgx.Tx, i int) (effect, error) {
		calls[i]++
		if i == 1 {
			_, err := tx.Exec(ctx, `select * from no_such_table`) // breaks the transaction
			return effect{}, errors.Join(boom, err)
		}
		_, err := tx.Exec(ctx, `insert into applied values ($1)`, i)
		return effect{alarms: []string{fmt.Sprint(i)}}, err
	})
	if !errors.Is(err, boom) {
		t.Fatalf("inBatch returned %v, want item 1's error", err)
	}
	if want := []string{"0", "2"}; !slices.Equal(eff.alarms, want) {
		t.Fatalf("effects of %v, want those of items %v", eff.alarms, want)
	}
	rows, err := db.Query(ctx, `select i from applied order by i`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		t.Fatal(err)
	}
	if want := []int32{0, 2}; !slices.Equal(got, want) {
		t.Fatalf("committed items %v, want %v", got, want)
	}
	if calls[1] != 2 || calls[0] > 2 || calls[2] != 1 {
		t.Fatalf("calls per item %v: the failed item runs in both passes, the one after it in the second only", calls)
	}
}
