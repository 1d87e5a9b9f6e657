package promotion_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/shoptest"
	"github.com/souk/souk/services/promotion"
	"github.com/souk/souk/subjects"
)

// env is the shop harness (a real PostgreSQL database and an embedded NATS server, tokens
// signed by test keys the instances trust) on which promotion instances run as cmd/souk runs
// them, under the short names these tests use.
type env struct {
	shop *shoptest.Env
	t    testing.TB
	ctx  context.Context
	db   *pgxpool.Pool
	nc   *nats.Conn
	js   jetstream.JetStream
	// admin, staff and customer are contexts whose calls carry such a token.
	admin, staff, customer context.Context
	// customerID is the user of customer.
	customerID string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	s := shoptest.NewEnv(t)
	return &env{shop: s, t: t, ctx: s.Ctx, db: s.DB, nc: s.NC, js: s.JS,
		admin: s.Admin, staff: s.Staff, customer: s.Customer, customerID: s.CustomerID}
}

// shopper returns a context of a new customer and their id.
func (e *env) shopper() (context.Context, string) {
	id, ctx := e.shop.NewCustomer()
	return ctx, id
}

// start runs one promotion instance and waits until it, and every instance started before,
// answers. It stops at cleanup.
func (e *env) start(cfg promotion.Config) {
	e.t.Helper()
	e.shop.StartPromotion(cfg)
}

// coupon creates a coupon as the admin.
func (e *env) coupon(req subjects.CouponCreateRequest) subjects.Coupon {
	e.t.Helper()
	c, err := subjects.CouponCreate.Call(e.admin, e.nc, req)
	if err != nil {
		e.t.Fatalf("create coupon %s: %v", req.Code, err)
	}
	return c
}

// hold holds code for order as the caller of ctx.
func (e *env) hold(ctx context.Context, code, order string, subtotal subjects.Money) (subjects.CouponDiscount, error) {
	return subjects.CouponHold.Call(ctx, e.nc, subjects.CouponHoldRequest{Code: code, OrderID: order, Subtotal: subtotal})
}

// mustHold is hold that fails the test on an error.
func (e *env) mustHold(ctx context.Context, code, order string, subtotal subjects.Money) subjects.CouponDiscount {
	e.t.Helper()
	d, err := e.hold(ctx, code, order, subtotal)
	if err != nil {
		e.t.Fatalf("hold %s for %s: %v", code, order, err)
	}
	return d
}

// publish publishes an order event to JetStream with msgID as Nats-Msg-Id, as the order
// service's outbox relay would.
func (e *env) publish(subject, msgID string, payload any) {
	e.t.Helper()
	e.shop.Publish(subject, msgID, payload)
}

// orderEvent publishes an order event of kind (subjects.EvtOrderPlaced.EventKind, …) for
// order of user with coupon code, under a new event id, and returns the id.
func (e *env) orderEvent(kind subjects.EventKind, order, user, code string) string {
	e.t.Helper()
	id := newID()
	var payload any
	switch kind {
	case subjects.EvtOrderPlaced.EventKind:
		payload = subjects.OrderPlaced{EventID: id, OccurredAt: time.Now().UTC(), OrderID: order, UserID: user, Status: subjects.OrderStatusPending, Coupon: code}
	case subjects.EvtOrderPaid.EventKind:
		payload = subjects.OrderPaid{EventID: id, OccurredAt: time.Now().UTC(), OrderID: order, UserID: user, Status: subjects.OrderStatusPaid, Coupon: code}
	case subjects.EvtOrderCancelled.EventKind:
		payload = subjects.OrderCancelled{EventID: id, OccurredAt: time.Now().UTC(), OrderID: order, UserID: user, Status: subjects.OrderStatusCancelled, Reason: subjects.ReasonCustomer, Coupon: code}
	default:
		e.t.Fatalf("no order event %s", kind)
	}
	e.publish(kind.Subject(order), id, payload)
	return id
}

// processed waits until the promotion-orders consumer has applied the event with eventID (it
// keeps no processed rows: its ack floor tells).
func (e *env) processed(eventID string) {
	e.t.Helper()
	e.shop.Applied("promotion-orders", eventID)
}

// status returns the status of order's redemption ("" when it has none).
func (e *env) status(order string) string {
	e.t.Helper()
	var s string
	err := e.db.QueryRow(e.ctx, `select status from promo.redemptions where order_id = $1`, order).Scan(&s)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		e.t.Fatal(err)
	}
	return s
}

// promotionEvents waits until the outbox relay has published everything committed so far,
// and returns how many events the PROMOTIONS stream holds on subject.
func (e *env) promotionEvents(subject string) uint64 {
	e.t.Helper()
	expect.Within(e.t, 10*time.Second, func() error {
		var unsent int
		if err := e.db.QueryRow(e.ctx, `select count(*) from promo.outbox_pending`).Scan(&unsent); err != nil {
			return err
		}
		if unsent > 0 {
			return fmt.Errorf("%d events not relayed yet", unsent)
		}
		return nil
	})
	s, err := e.js.Stream(e.ctx, subjects.StreamPromotions)
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := s.Info(e.ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		e.t.Fatal(err)
	}
	return info.State.Subjects[subject]
}

// lastEvent waits for an event on subject and returns the latest.
func (e *env) lastEvent(subject string) subjects.CouponEvent {
	e.t.Helper()
	var ev subjects.CouponEvent
	expect.Within(e.t, 10*time.Second, func() error {
		s, err := e.js.Stream(e.ctx, subjects.StreamPromotions)
		if err != nil {
			return err
		}
		m, err := s.GetLastMsgForSubject(e.ctx, subject)
		if err != nil {
			return fmt.Errorf("%s: %w", subject, err)
		}
		return json.Unmarshal(m.Data, &ev)
	})
	return ev
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

func eur(amount int64) subjects.Money { return subjects.Money{Amount: amount, Currency: "EUR"} }

func ptr[T any](v T) *T { return &v }
