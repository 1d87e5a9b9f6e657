package payment_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/kittest"
	"github.com/souk/souk/platform/authn/authntest"
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/platform/pgtest"
	"github.com/souk/souk/services/payment"
	"github.com/souk/souk/subjects"
)

// webhookSecret signs the test webhooks; services in tests are configured with it.
const webhookSecret = "whsec_test_0123456789abcdef"

// env is kittest's harness (a database cloned with the payment schema, an embedded NATS
// server, test keys the instances trust instead of the auth service's: the token checks are
// real) on which payment instances run as cmd/souk runs them. The order service is not run:
// its events are published into JetStream as its outbox relay would publish them.
type env struct {
	k    *kittest.Env
	t    testing.TB
	ctx  context.Context
	db   *pgxpool.Pool
	nc   *nats.Conn
	js   jetstream.JetStream
	keys *authntest.Keys
	// customer, other and admin are contexts whose calls carry such a token.
	customer, other, admin context.Context
	customerID, otherID    string
	// reg is the metrics registry of the instance started last.
	reg *prometheus.Registry
}

// schemas is the template of the tests' databases: the payment schema, migrated once.
var schemas = sync.OnceValue(func() pgtest.Template {
	return kittest.Schemas("payment", func(d kit.Deps) (kit.Service, error) { return payment.Service(sandbox(), d) })
})

func newEnv(t testing.TB) *env {
	t.Helper()
	k := kittest.New(t, schemas())
	e := &env{k: k, t: t, ctx: k.Ctx, db: k.DB, nc: k.NC, js: k.JS, keys: k.Keys, customerID: k.CustomerID, customer: k.Customer}
	e.otherID, e.other = k.NewCustomer()
	e.admin = k.As(kittest.NewID(), subjects.RoleCustomer, subjects.RoleAdmin)
	return e
}

// as returns a context whose calls carry a token of sub with roles.
func (e *env) as(sub string, roles ...string) context.Context { return e.k.As(sub, roles...) }

// withKey returns ctx whose calls carry the Idempotency-Key key.
func withKey(ctx context.Context, key string) context.Context {
	m := subjects.MetaFrom(ctx)
	m.IdempotencyKey = key
	return subjects.WithMeta(ctx, m)
}

// sandbox is the configuration most tests run: the sandbox deciding within 20 ms, and the
// test webhook secret.
func sandbox() payment.Config {
	return payment.Config{SandboxDelay: 20 * time.Millisecond, StripeWebhookSecret: webhookSecret}
}

// start runs one payment instance logging to log (nil: nowhere) and waits until it
// answers. It stops at cleanup; stop stops it earlier.
func (e *env) start(cfg payment.Config, log io.Writer) (stop func()) {
	e.t.Helper()
	return e.startOn(e.db, cfg, log)
}

// startOn is start with the instance's own pool db.
func (e *env) startOn(db *pgxpool.Pool, cfg payment.Config, log io.Writer) (stop func()) {
	e.t.Helper()
	logger := zerolog.Nop()
	if os.Getenv("SOUK_TEST_LOG") == "1" {
		logger = zerolog.New(os.Stderr)
	}
	if log != nil {
		logger = zerolog.New(log)
	}
	// As cmd/souk runs it: the declaration, run by the kit.
	e.reg = prometheus.NewRegistry()
	deps := kit.Deps{Log: logger, DB: db, NC: e.nc, JS: e.js, Registry: e.reg, Keys: e.keys.Source}
	svc, err := payment.Service(cfg, deps)
	if err != nil {
		e.t.Fatalf("payment.Service: %v", err)
	}
	r := expect.Start(e.t, func(ctx context.Context) error { return kit.Run(ctx, deps, svc) })
	expect.Within(e.t, 30*time.Second, func() error {
		if exited, err := r.Exited(); exited {
			e.t.Fatalf("payment stopped before it was ready: %v", err)
		}
		// An unsigned webhook is refused by a running instance, and changes nothing.
		_, err := subjects.PaymentStripeWebhook.Call(e.ctx, e.nc, subjects.StripeWebhook{})
		if errors.Is(err, subjects.ErrBadRequest) {
			return nil
		}
		return fmt.Errorf("not serving yet: %v", err)
	})
	return func() {
		if err := r.Stop(); err != nil {
			e.t.Errorf("payment: %v", err)
		}
	}
}

// publish publishes an order event with its event id as Nats-Msg-Id, as the order service's
// outbox relay would.
func (e *env) publish(kind subjects.EventKind, orderID, eventID string, payload any) {
	e.t.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.js.Publish(e.ctx, kind.Subject(orderID), b, jetstream.WithMsgID(eventID)); err != nil {
		e.t.Fatalf("publish %s: %v", kind, err)
	}
}

func newEventID() string { return uuid.Must(uuid.NewV7()).String() }

func eur(amount int64) subjects.Money { return subjects.Money{Amount: amount, Currency: "EUR"} }

// order reserves an order of user for total (order.reserved carrying method, which may be
// empty: the only order event besides order.cancelled the service consumes) and waits until
// the service knows it reserved.
// settle bounds the waits for the service's eventual effects: generous, since the suite
// runs under the race detector on a busy 2-core machine, where a restarted instance's first
// rounds took over 10 s; a healthy run ends each wait within a second or two.
const settle = 60 * time.Second

func (e *env) order(user string, total int64, method string) string {
	e.t.Helper()
	id := uuid.Must(uuid.NewV7()).String()
	e.reserve(id, user, total, method, newEventID())
	e.waitOrder(id, "reserved")
	return id
}

// reserve publishes order.reserved with eventID.
func (e *env) reserve(id, user string, total int64, method, eventID string) {
	e.publish(subjects.EvtOrderReserved.EventKind, id, eventID, subjects.OrderReserved{EventID: eventID, OccurredAt: time.Now(),
		OrderID: id, UserID: user, Status: subjects.OrderStatusReserved, Total: eur(total), PaymentMethod: method,
		ReservedUntil: time.Now().Add(15 * time.Minute)})
}

// cancel publishes order.cancelled with eventID.
func (e *env) cancel(id, user, eventID string) {
	e.publish(subjects.EvtOrderCancelled.EventKind, id, eventID, subjects.OrderCancelled{EventID: eventID, OccurredAt: time.Now(),
		OrderID: id, UserID: user, Status: subjects.OrderStatusCancelled, Reason: subjects.ReasonCustomer, From: subjects.OrderStatusReserved})
}

// applied waits until the consumer payment-orders has applied (acknowledged) every order
// event published so far: it keeps no processed rows to count.
func (e *env) applied() {
	e.t.Helper()
	e.k.Settled(subjects.StreamOrders, "payment-orders", settle)
}

// waitOrder waits until the service's copy of order id has status.
func (e *env) waitOrder(id, status string) {
	e.t.Helper()
	expect.Within(e.t, settle, func() error {
		var got string
		err := e.db.QueryRow(e.ctx, `select status from payments.orders where id = $1`, id).Scan(&got)
		if err == nil && got != status {
			err = fmt.Errorf("order %s is %s", id, got)
		}
		return err
	})
}

// pay pays order id as ctx's caller with method.
func (e *env) pay(ctx context.Context, id, method string) subjects.PaymentReply {
	e.t.Helper()
	p, err := subjects.PaymentCreate.Call(ctx, e.nc, subjects.PaymentRequest{OrderID: id, PaymentMethod: method})
	if err != nil {
		e.t.Fatalf("pay %s with %s: %v", id, method, err)
	}
	return p
}

// waitPayment waits until the order's latest payment has status, and returns it.
func (e *env) waitPayment(orderID, status string) (paymentID, declineCode string) {
	e.t.Helper()
	expect.Within(e.t, settle, func() error {
		var got string
		err := e.db.QueryRow(e.ctx, `select id::text, status, decline_code from payments.payments where order_id = $1
			order by created_at desc limit 1`, orderID).Scan(&paymentID, &got, &declineCode)
		if err == nil && got != status {
			err = fmt.Errorf("payment of %s is %s", orderID, got)
		}
		return err
	})
	return paymentID, declineCode
}

// ref is the provider's id of payment id.
func (e *env) ref(paymentID string) string {
	e.t.Helper()
	var ref string
	if err := e.db.QueryRow(e.ctx, `select coalesce(provider_ref, '') from payments.payments where id = $1`, paymentID).Scan(&ref); err != nil {
		e.t.Fatal(err)
	}
	return ref
}

// count runs a count query.
func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.QueryRow(e.ctx, q, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// wantRows fails the test unless the count query q counts want.
func (e *env) wantRows(want int, q string, args ...any) {
	e.t.Helper()
	if n := e.count(q, args...); n != want {
		e.t.Fatalf("%s %v: %d, want %d", q, args, n, want)
	}
}

// wantEvents fails the test unless want events are published on kind.<order id>, and
// returns them.
func (e *env) wantEvents(kind subjects.EventKind, orderID string, want int) [][]byte {
	e.t.Helper()
	events := e.published(kind, orderID)
	if len(events) != want {
		e.t.Fatalf("%d %s events of order %s, want %d", len(events), kind, orderID, want)
	}
	return events
}

// published waits until every event the service wrote is published, and returns the
// payloads on the event subject kind.<order id>, oldest first.
func (e *env) published(kind subjects.EventKind, orderID string) [][]byte {
	e.t.Helper()
	subject := kind.Subject(orderID)
	var out [][]byte
	expect.Within(e.t, settle, func() error {
		if n := e.count(`select count(*) from payments.outbox_pending`); n > 0 {
			return fmt.Errorf("%d events not published yet", n)
		}
		out = out[:0]
		c, err := e.js.OrderedConsumer(e.ctx, "PAYMENTS", jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
		if err != nil {
			return err
		}
		want := e.count(`select count(*) from payments.outbox where subject = $1`, subject)
		batch, err := c.Fetch(max(want, 1), jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return err
		}
		for m := range batch.Messages() {
			out = append(out, m.Data())
		}
		if len(out) != want {
			return fmt.Errorf("%s: %d messages in the stream, %d in the outbox", subject, len(out), want)
		}
		return nil
	})
	return out
}

// webhook sends a Stripe event signed with secret now and returns the service's answer.
func (e *env) webhook(secret, eventID, typ string, object map[string]any) error {
	return e.webhookAt(time.Now(), secret, eventID, typ, object)
}

// webhookAt sends a Stripe event signed with secret at the time signed.
func (e *env) webhookAt(at time.Time, secret, eventID, typ string, object map[string]any) error {
	payload, err := json.Marshal(map[string]any{"id": eventID, "object": "event", "type": typ,
		"api_version": "2020-08-27", "created": at.Unix(), "data": map[string]any{"object": object}})
	if err != nil {
		e.t.Fatal(err)
	}
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: at})
	_, err = subjects.PaymentStripeWebhook.Call(e.ctx, e.nc, subjects.StripeWebhook{Payload: payload, Signature: signed.Header})
	return err
}

// intent is a Stripe PaymentIntent object of payment paymentID, as webhooks carry it.
func intent(ref, paymentID, status string, lastError map[string]any) map[string]any {
	pi := map[string]any{"id": ref, "object": "payment_intent", "status": status, "amount": 1999, "currency": "eur",
		"metadata": map[string]any{"payment_id": paymentID}}
	if lastError != nil {
		pi["last_payment_error"] = lastError
	}
	return pi
}

// insertCrashed writes what an instance that crashed right after committing a payment
// (before calling the provider) leaves behind.
func (e *env) insertCrashed(orderID, user, method string, amount int64) string {
	e.t.Helper()
	return e.insertCrashedWith("sandbox", orderID, user, method, amount)
}

// insertCrashedWith is insertCrashed for provider.
func (e *env) insertCrashedWith(provider, orderID, user, method string, amount int64) string {
	e.t.Helper()
	id := uuid.Must(uuid.NewV7()).String()
	err := pgx.BeginFunc(e.ctx, e.db, func(tx pgx.Tx) error {
		_, err := tx.Exec(e.ctx, `insert into payments.payments (id, order_id, user_id, amount, currency, method, provider, status, next_attempt_at)
			values ($1, $2, $3, $4, 'EUR', $5, $6, 'created', now() - interval '1 minute')`, id, orderID, user, amount, method, provider)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// counter reads a counter of the instance started last (see kittest.Instance.Counter),
// waiting until it is want: a count follows its commit by a moment.
func (e *env) counter(name string, want float64, labels ...string) {
	e.t.Helper()
	inst := &kittest.Instance{Registry: e.reg}
	expect.Within(e.t, 10*time.Second, func() error {
		if got := inst.Counter(e.t, name, labels...); got != want {
			return fmt.Errorf("%s%v = %v, want %v", name, labels, got, want)
		}
		return nil
	})
}
