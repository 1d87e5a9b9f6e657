package order_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/shoptest"
	"github.com/souk/souk/platform/pgtest"
	"github.com/souk/souk/subjects"
)

// PostgreSQL turns read-only in the middle of the saga, as it does for a while after a
// failover: every service's connections are cut and each new one refuses writes. The
// orders' order.placed events wait for the inventory, which comes up into the read-only
// database and tries again and again — more often than it has deliveries — before the
// database takes writes again. Nothing healthy is dead-lettered, and nothing is lost or
// applied twice: every order ends paid, once, with its stock sold once.
//
// Before issue 12 the consumer blamed the events (the database answered its pings) and
// dead-lettered every one of them after eight deliveries; the orders stayed pending.
func TestADatabaseReadOnlyMidSagaLosesNothing(t *testing.T) {
	s := newSaga(t)
	const buyers = 4
	p := s.stocked("RO-1", 10, 1200)
	if err := s.inventory.Stop(); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, buyers)
	for i := range ids {
		_, ctx := s.NewCustomer()
		s.add(ctx, p.ID, 2)
		ids[i] = s.place(ctx, visa).ID
	}

	db := s.readOnly()
	inv := s.StartInventory(shoptest.InventoryConfig())
	// More tries than MaxDeliver (8): each of them spent a delivery before.
	expect.Within(t, 3*time.Minute, func() error {
		if n := inv.Counter(t, "souk_consumer_holds_total", "consumer", "inventory-orders"); n < 9 {
			return fmt.Errorf("the inventory's consumer held its batch %v times, want more than 8", n)
		}
		return nil
	})
	_, customer := s.NewCustomer()
	s.add(customer, p.ID, 1) // the cart is in NATS: it still works
	_, err := subjects.OrderPlace.Call(customer, s.NC, subjects.OrderPlaceRequest{PaymentMethod: visa,
		ShippingAddress: &subjects.Address{Name: "Ada", Line1: "1 Main St", City: "Berlin", PostalCode: "10115", Country: "DE"}})
	expect.Error(t, err, 503, "", "") // refused clearly, to be retried with the same key
	s.writable(db)

	for _, o := range s.settled(ids) {
		if got := strings.Join(statuses(o), ">"); got != "pending>reserved>paid" {
			t.Errorf("order %s went %s %s, want pending>reserved>paid", o.ID, got, o.CancelReason)
		}
	}
	s.wantStock("RO-1", 10-2*buyers, 0)
	if paid := s.rows(`select order_id::text from payments.payments where status = 'succeeded'`); len(paid) != buyers {
		t.Errorf("%d payments succeeded, want one per order (%d): %v", len(paid), buyers, paid)
	}
	if sold := s.rows(`select order_id::text from inventory.reservations where status = 'committed'`); len(sold) != buyers {
		t.Errorf("reservations committed: %v, want one per order", sold)
	}
	s.AtRest(30 * time.Second)
	dlq, err := s.JS.Stream(s.Ctx, "DLQ")
	if err != nil {
		t.Fatal(err)
	}
	if info, err := dlq.Info(s.Ctx); err != nil || info.State.Msgs != 0 {
		t.Fatalf("DLQ: %+v %v, want nothing dead-lettered", info.State, err)
	}
}

// readOnly makes the test's database refuse writes, as a standby promoted slowly or a
// database in recovery does, and cuts every open connection so that the pools pick it up.
// It returns the database's name.
func (s *saga) readOnly() string {
	s.T.Helper()
	var name string
	if err := s.DB.QueryRow(s.Ctx, `select current_database()`).Scan(&name); err != nil {
		s.T.Fatal(err)
	}
	s.admin(`alter database ` + pgx.Identifier{name}.Sanitize() + ` set default_transaction_read_only = on`)
	s.admin(`select pg_terminate_backend(pid) from pg_stat_activity where datname = '` + name + `' and pid <> pg_backend_pid()`)
	// The running services meet the cut connections (57P01) on their next statement; the
	// inventory starting next should meet the read-only database, not a dead connection in
	// the shared pool (a service that cannot migrate at start-up exits, and is restarted by
	// whatever runs it).
	s.DB.Reset()
	return name
}

// writable lets database name take writes again. Sessions keep the default they started
// with, so the pool's connections are closed and made again.
func (s *saga) writable(name string) {
	s.T.Helper()
	s.admin(`alter database ` + pgx.Identifier{name}.Sanitize() + ` set default_transaction_read_only = off`)
	s.DB.Reset()
}

// admin runs sql on the server's maintenance database, beside the test's own.
func (s *saga) admin(sql string) {
	s.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgtest.ServerURL())
	if err != nil {
		s.T.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		s.T.Fatalf("%s: %v", sql, err)
	}
}
