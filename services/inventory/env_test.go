package inventory_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/shoptest"
	"github.com/souk/souk/services/inventory"
	"github.com/souk/souk/subjects"
)

// env is the shop harness (a database with the inventory's schema, an embedded NATS server,
// test keys the instances trust instead of the auth service's) on which inventory instances
// run as cmd/souk runs them; the inventory's token checks are real.
type env struct {
	shop *shoptest.Env
	t    testing.TB
	ctx  context.Context
	db   *pgxpool.Pool
	nc   *nats.Conn
	js   jetstream.JetStream
	// staff carries a staff token; customer a customer's, which may not touch stock.
	staff, customer context.Context
	// reg is the instance's metrics registry; inst the instance (for its counters).
	reg  *prometheus.Registry
	inst *shoptest.Instance
}

// newEnv returns an env with one inventory instance of cfg running on it.
func newEnv(t testing.TB, cfg inventory.Config) *env {
	t.Helper()
	shop := shoptest.NewEnv(t)
	e := &env{shop: shop, t: t, ctx: shop.Ctx, db: shop.DB, nc: shop.NC, js: shop.JS, staff: shop.Staff, customer: shop.Customer}
	e.start(cfg)
	return e
}

// start runs one inventory instance with its own metrics registry and waits until it
// answers. It stops at cleanup.
func (e *env) start(cfg inventory.Config) {
	e.t.Helper()
	e.inst = e.shop.StartInventory(cfg)
	e.reg = e.inst.Registry
}

// set sets a SKU's on_hand.
func (e *env) set(sku string, onHand int64) subjects.Stock {
	e.t.Helper()
	s, err := subjects.InventorySet.Call(e.staff, e.nc, subjects.StockSetRequest{SKU: sku, OnHand: &onHand})
	if err != nil {
		e.t.Fatalf("set %s to %d: %v", sku, onHand, err)
	}
	return s
}

// stock reads a SKU's counts.
func (e *env) stock(sku string) subjects.Stock {
	e.t.Helper()
	s, err := subjects.InventoryGet.Call(e.staff, e.nc, subjects.SKURequest{SKU: sku})
	if err != nil {
		e.t.Fatalf("get %s: %v", sku, err)
	}
	return s
}

// wantStock waits until a SKU's on_hand and reserved are as given (events are applied
// asynchronously).
func (e *env) wantStock(sku string, onHand, reserved int64) {
	e.t.Helper()
	expect.Within(e.t, 10*time.Second, func() error {
		s, err := subjects.InventoryGet.Call(e.staff, e.nc, subjects.SKURequest{SKU: sku})
		if err != nil {
			return err
		}
		if s.OnHand != onHand || s.Reserved != reserved || s.Available != onHand-reserved {
			return fmt.Errorf("%s: want on_hand %d reserved %d, have %+v", sku, onHand, reserved, s)
		}
		return nil
	})
}

// publish publishes an event of another service to JetStream with its event id as
// Nats-Msg-Id, as that service's outbox relay would.
func (e *env) publish(subject, eventID string, payload any) {
	e.t.Helper()
	e.shop.Publish(subject, eventID, payload)
}

// events returns the bodies of every message on subject (a filter; wildcards allowed) in the
// INVENTORY stream, oldest first.
func (e *env) events(subject string) ([][]byte, error) {
	cons, err := e.js.OrderedConsumer(e.ctx, subjects.StreamInventory, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		return nil, err
	}
	info, err := cons.Info(e.ctx)
	if err != nil || info.NumPending == 0 {
		return nil, err
	}
	batch, err := cons.Fetch(int(info.NumPending), jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for m := range batch.Messages() {
		out = append(out, m.Data())
	}
	return out, batch.Error()
}

// reservationEvent waits for the event evt about order and returns it.
func (e *env) reservationEvent(evt subjects.Event[subjects.ReservationEvent], order string) subjects.ReservationEvent {
	e.t.Helper()
	var ev subjects.ReservationEvent
	expect.Within(e.t, 10*time.Second, func() error {
		bodies, err := e.events(evt.Subject(order))
		if err != nil {
			return err
		}
		if len(bodies) != 1 {
			return fmt.Errorf("%s: %d events, want 1", evt.Subject(order), len(bodies))
		}
		return json.Unmarshal(bodies[0], &ev)
	})
	return ev
}

// processed waits until the saga consumer has handled the event with id eventID (it keeps
// no processed rows: its ack floor tells).
func (e *env) processed(eventID string) {
	e.t.Helper()
	e.shop.Applied("inventory-orders", eventID)
}

// deadLetter waits for a dead letter of the saga consumer and returns the last one.
func (e *env) deadLetter() *jetstream.RawStreamMsg {
	e.t.Helper()
	var m *jetstream.RawStreamMsg
	expect.Within(e.t, 10*time.Second, func() error {
		s, err := e.js.Stream(e.ctx, subjects.StreamDLQ)
		if err != nil {
			return err
		}
		m, err = s.GetLastMsgForSubject(e.ctx, subjects.DLQSubject(subjects.StreamOrders, "inventory-orders"))
		return err
	})
	return m
}

// wantStatus fails unless the stored status of an order's reservation is want.
func (e *env) wantStatus(order, want string) {
	e.t.Helper()
	var s string
	err := e.db.QueryRow(e.ctx, `select coalesce(max(status), '') from inventory.reservations where order_id = $1`, order).Scan(&s)
	if err != nil {
		e.t.Fatal(err)
	}
	if s != want {
		e.t.Fatalf("order %s: status %q, want %q", order, s, want)
	}
}

// wantRejected waits for inventory.rejected about order and fails unless it is out_of_stock
// naming short.
func (e *env) wantRejected(order string, short ...string) {
	e.t.Helper()
	ev := e.reservationEvent(subjects.EvtInventoryRejected, order)
	if ev.Status != subjects.ReservationRejected || ev.Reason != subjects.ReasonOutOfStock || !slices.Equal(ev.Short, short) {
		e.t.Fatalf("rejected event %+v, want out_of_stock of %v", ev, short)
	}
}

// reserve asks for a hold of one line.
func (e *env) reserve(order, sku string, quantity int) (subjects.Reservation, error) {
	return subjects.InventoryReserve.Call(e.staff, e.nc, subjects.ReserveRequest{OrderID: order,
		Lines: []subjects.ReserveLine{{SKU: sku, Quantity: quantity}}})
}

// Order events as the order service publishes them.

func placed(order string, lines ...subjects.OrderLine) subjects.OrderPlaced {
	return subjects.OrderPlaced{EventID: uuid.NewString(), OccurredAt: time.Now().UTC(), OrderID: order,
		UserID: uuid.NewString(), Status: subjects.OrderStatusPending, Lines: lines}
}

func line(sku string, quantity int) subjects.OrderLine {
	return subjects.OrderLine{ProductID: uuid.NewString(), SKU: sku, Quantity: quantity,
		UnitPrice: subjects.Money{Amount: 1000, Currency: "EUR"}}
}

// placeOrder publishes order.placed for order and returns its event id.
func (e *env) placeOrder(order string, lines ...subjects.OrderLine) string {
	ev := placed(order, lines...)
	e.publish(subjects.EvtOrderPlaced.Subject(order), ev.EventID, ev)
	return ev.EventID
}

// placeHeld publishes order.placed for order and waits for its inventory.reserved.
func (e *env) placeHeld(order string, lines ...subjects.OrderLine) subjects.ReservationEvent {
	e.t.Helper()
	e.placeOrder(order, lines...)
	return e.reservationEvent(subjects.EvtInventoryReserved, order)
}

// payOrder publishes order.paid for order and returns its event id.
func (e *env) payOrder(order string) string {
	id := uuid.NewString()
	e.publish(subjects.EvtOrderPaid.Subject(order), id, subjects.OrderPaid{EventID: id,
		OccurredAt: time.Now().UTC(), OrderID: order, UserID: uuid.NewString(), Status: subjects.OrderStatusPaid})
	return id
}

// cancelOrder publishes order.cancelled for order and returns its event id.
func (e *env) cancelOrder(order string) string {
	id := uuid.NewString()
	e.publish(subjects.EvtOrderCancelled.Subject(order), id, subjects.OrderCancelled{EventID: id,
		OccurredAt: time.Now().UTC(), OrderID: order, UserID: uuid.NewString(), Status: subjects.OrderStatusCancelled,
		Reason: subjects.ReasonCustomer})
	return id
}

func newOrder() string { return uuid.Must(uuid.NewV7()).String() }
