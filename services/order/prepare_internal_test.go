package order

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/souk/souk/internal/kittest"
	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/platform/pgtest"
	"github.com/souk/souk/subjects"
)

// A consumer batch's orders are read and locked at once, before its handlers run
// (saga.prepare); each order's first change takes it from there, and a second event of the
// same order in the batch reads it again and builds on the first one's change. An event of
// an order this service does not have changes nothing, as before.
func TestABatchsOrdersAreLockedAtOnceAndEachChangeBuildsOnTheLast(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := pgtest.MigratedPool(t, ctx, kittest.Schemas("order", func(d kit.Deps) (kit.Service, error) { return Service(Config{}, d) }))
	store := NewStore(db)
	s := newSaga(store, zerolog.Nop(), prometheus.NewRegistry())
	at := time.Now().UTC()
	order := func() uuid.UUID {
		t.Helper()
		o := &Order{ID: uuid.New(), UserID: uuid.New(), Status: subjects.OrderStatusPending, Items: []subjects.OrderItem{},
			Subtotal: 1000, Total: 1000, Currency: "EUR", CreatedAt: at, UpdatedAt: at,
			History: []subjects.OrderStatus{{Status: subjects.OrderStatusPending, At: at}}}
		if err := store.Insert(ctx, o); err != nil {
			t.Fatal(err)
		}
		return o.ID
	}
	a, b, untouched, unknown := order(), order(), order(), uuid.New()
	until := at.Add(15 * time.Minute)
	reservedOf := func(id uuid.UUID) subjects.ReservationEvent {
		return subjects.ReservationEvent{EventID: uuid.NewString(), OrderID: id.String(), Status: "reserved", ExpiresAt: until}
	}
	paidA := subjects.PaymentSucceeded{EventID: uuid.NewString(), OrderID: a.String(), PaymentID: "pay-a",
		Amount: subjects.Money{Amount: 1000, Currency: "EUR"}, Provider: "sandbox"}
	steps := []struct {
		id     uuid.UUID
		event  any
		change Change
	}{
		{a, reservedOf(a), reserved(reservedOf(a))},
		{b, reservedOf(b), reserved(reservedOf(b))},
		{a, paidA, paymentSucceeded(paidA)}, // the same order again in the batch
		{unknown, reservedOf(unknown), reserved(reservedOf(unknown))},
	}
	var batch []consumer.Msg
	for _, st := range steps {
		data, err := json.Marshal(st.event)
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, consumer.Msg{Data: data})
	}

	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	bctx, err := s.prepare(ctx, tx, batch)
	if err != nil {
		t.Fatal(err)
	}
	// Locked before any handler ran: another transaction cannot take b's row, and can take
	// the row of an order the batch is not about.
	locked := func(id uuid.UUID) bool {
		t.Helper()
		_, err := db.Exec(ctx, `select 1 from orders.orders where id = $1 for update nowait`, id)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "55P03" {
			return true
		}
		if err != nil {
			t.Fatal(err)
		}
		return false
	}
	if !locked(b) || locked(untouched) {
		t.Fatalf("after prepare: b locked %v (want true), an order outside the batch locked %v (want false)", locked(b), locked(untouched))
	}
	for _, st := range steps {
		if err := s.apply(bctx, tx, st.id.String(), st.change); err != nil {
			t.Fatalf("apply to %s: %v", st.id, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	for id, want := range map[uuid.UUID][]string{
		a:         {subjects.OrderStatusPending, subjects.OrderStatusReserved, subjects.OrderStatusPaid},
		b:         {subjects.OrderStatusPending, subjects.OrderStatusReserved},
		untouched: {subjects.OrderStatusPending},
	} {
		o, err := store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, h := range o.History {
			got = append(got, h.Status)
		}
		if o.Status != want[len(want)-1] || !slices.Equal(got, want) {
			t.Errorf("order %s: status %s, history %v; want %v", id, o.Status, got, want)
		}
	}
	var events int
	if err := db.QueryRow(ctx, `select count(*) from orders.outbox`).Scan(&events); err != nil {
		t.Fatal(err)
	}
	if events != 3 { // a reserved and paid, b reserved
		t.Errorf("%d events written, want 3", events)
	}
}
