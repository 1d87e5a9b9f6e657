package payment

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/souk/souk/internal/kittest"
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/platform/pgtest"
	"github.com/souk/souk/subjects"
)

// TestUnsureCreateFoundNowhereIsSentWithANewKey: a create whose answer was lost and that no
// search finds is sent again only once the search index had searchLag to catch up, and then
// with a new idempotency key (the old one would replay its stored 500), recorded first.
func TestUnsureCreateFoundNowhereIsSentWithANewKey(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := Config{SandboxDelay: time.Hour, ReconcileAfter: time.Second}
	db := pgtest.MigratedPool(t, ctx, kittest.Schemas("payment", func(d kit.Deps) (kit.Service, error) { return Service(cfg, d) }))
	deps := kit.Deps{Log: zerolog.Nop(), DB: db}
	if err := cfg.defaults(); err != nil {
		t.Fatal(err)
	}
	s := newService(cfg, deps)
	w := &worker{svc: s}
	o := Order{ID: newID(), UserID: "u", Total: subjects.Money{Amount: 900, Currency: "EUR"}, Status: orderReserved}
	if _, err := s.store.RememberOrder(ctx, o); err != nil {
		t.Fatal(err)
	}
	p := newPayment(o, "pm_card_visa", s.provider.Name())
	if _, err := db.Exec(ctx, `insert into payments.payments (id, order_id, user_id, amount, currency, method, provider, status, unsure_at)
		values ($1, $2, 'u', 900, 'EUR', 'pm_card_visa', 'sandbox', 'created', now())`, p.ID, o.ID); err != nil {
		t.Fatal(err)
	}
	claim := func() claimedPayment {
		t.Helper()
		if _, err := db.Exec(ctx, `update payments.payments set next_attempt_at = now() where id = $1`, p.ID); err != nil {
			t.Fatal(err)
		}
		cs, err := s.store.claimPayments(ctx, 10)
		if err != nil || len(cs) != 1 || cs[0].unsureAt == nil {
			t.Fatalf("claim: %+v, %v", cs, err)
		}
		return cs[0]
	}
	// Just now: the search may not show the intent yet; nothing is sent.
	if in, out := w.lookUp(ctx, claim()); in.Status != "" || out != asked {
		t.Fatalf("a fresh unsure create: %+v, %v; want no answer yet", in, out)
	}
	if _, err := db.Exec(ctx, `update payments.payments set unsure_at = now() - interval '2 minutes' where id = $1`, p.ID); err != nil {
		t.Fatal(err)
	}
	in, out := w.lookUp(ctx, claim())
	if in.Status != subjects.PaymentStatusProcessing || out != asked {
		t.Fatalf("sent with a new key: %+v, %v", in, out)
	}
	var attempt int
	if err := db.QueryRow(ctx, `select create_attempt from payments.payments where id = $1`, p.ID).Scan(&attempt); err != nil || attempt != 1 {
		t.Fatalf("create_attempt %d (%v), want 1", attempt, err)
	}
	if key := (IntentRequest{PaymentID: p.ID, Attempt: attempt}).Key(); key != p.ID.String()+"-1" {
		t.Fatalf("key %q", key)
	}
}
