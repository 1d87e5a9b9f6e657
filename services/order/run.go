package order

import (
	"embed"
	"time"

	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/platform/rpc"
	"github.com/souk/souk/subjects"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// Schema is the PostgreSQL schema the order service owns.
const Schema = "orders"

// Config configures the order service.
type Config struct {
	// MaxInFlight bounds the requests handled at once by this instance; 256 when zero.
	MaxInFlight int
	// PendingTimeout is how long an order may stay pending (its order.placed not yet answered
	// by the inventory) before the sweeper cancels it not_confirmed; DefaultPendingTimeout
	// (15 min, the inventory's default hold) when zero.
	PendingTimeout time.Duration
	// PendingSweepEvery is how often the sweeper looks (DefaultPendingSweepEvery, 10 s, when
	// zero).
	PendingSweepEvery time.Duration
	// MaxCheckouts bounds the checkouts in progress (orders placed in the last minute, not yet
	// paid or cancelled); a placement over it is refused 503 with Retry-After. It is the
	// default of the live key order.max_checkouts; 0 is no bound.
	MaxCheckouts int
}

// Service declares the order service: its endpoints, the saga's consumers of inventory,
// payment, shipping and promotion events, the order events it publishes, and the sweeper of
// orders left pending.
func Service(cfg Config, deps kit.Deps) (kit.Service, error) {
	log := deps.Logger("order")
	store := NewStore(deps.DB)
	store.counts = newCounts(deps.Registry)
	h := &handlers{store: store, nc: deps.NC, log: log}
	sg := newSaga(store, log, deps.Registry)
	admit := newAdmission(store, cfg.MaxCheckouts, deps.Live, log, deps.Registry)
	store.placed, store.decided = admit.stored, admit.decided
	sweep, err := newSweeper(store, cfg, deps.Live, log, deps.Registry)
	if err != nil {
		return kit.Service{}, err
	}
	return kit.Service{
		Name: "order", Version: "0.1.0", Description: "orders and the checkout saga",
		Schema: Schema, Migrations: migrationsFS, MaxInFlight: cfg.MaxInFlight,
		Publishes: []subjects.EventKind{subjects.EvtOrderPlaced.EventKind, subjects.EvtOrderReserved.EventKind,
			subjects.EvtOrderPaid.EventKind, subjects.EvtOrderCancelled.EventKind, subjects.EvtOrderFulfilling.EventKind,
			subjects.EvtOrderShipped.EventKind, subjects.EvtOrderDelivered.EventKind},
		Endpoints: []rpc.Binding{
			rpc.Bind(subjects.OrderPlace, admit.guard(h.place)),
			rpc.Bind(subjects.OrderGet, h.get),
			rpc.Bind(subjects.OrderList, h.list),
			rpc.Bind(subjects.OrderCancel, h.cancel),
			rpc.Bind(subjects.OrderAdminList, h.adminList),
		},
		Calls: []subjects.Callee{subjects.CartGet, subjects.CartCheckedOut, subjects.CouponHold, subjects.CouponRelease,
			subjects.ShipmentCancel, subjects.UserByEmail},
		// Every transition is a Change under the order's row lock that finds a repeated
		// event's work done (saga.go): no processed rows. A batch's orders are read and
		// locked at once (saga.prepare).
		Consumers: []*consumer.Consumer{
			{Name: "order-inventory", On: sg.inventory(), Idempotent: true, Prepare: sg.prepare},
			{Name: "order-payments", On: sg.payments(), Idempotent: true, Prepare: sg.prepare},
			{Name: "order-shipping", On: sg.shipping(), Idempotent: true, Prepare: sg.prepare},
			{Name: "order-promotions", On: []consumer.Route{consumer.On(subjects.EvtCouponRefused, store.applyCouponRefused)}, Idempotent: true},
		},
		Loops: []kit.Loop{{Name: "pending sweeper", Round: sweep.round, Every: sweep.every},
			{Name: "checkout admission", Round: admit.round, Every: admissionEvery}},
	}, nil
}
