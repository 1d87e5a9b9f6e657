package payment_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/logtest"
	"github.com/souk/souk/subjects"
)

// TestCheckoutLoadNeverDeadlocks: the consumer of order events applies its batches in
// delivery order (any order of order ids), while customers pay the same orders (a row lock
// on the order, then the payment's) and the sandbox's outcomes come back in batches. No
// transaction may wait for another in a circle: PostgreSQL counts no deadlock, nothing is
// logged as "provider not reached" (the provider never failed), and every order is paid
// once.
func TestCheckoutLoadNeverDeadlocks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// The service gets a pool of its own, named, so that its sessions' statistics (the
	// deadlock counter) are flushed when they end, before they are read.
	pcfg, err := pgxpool.ParseConfig(e.db.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	app := "payment-deadlock-" + strings.ReplaceAll(newEventID()[:13], "-", "")
	pcfg.ConnConfig.RuntimeParams["application_name"] = app
	pcfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(e.ctx, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	var logs logtest.Buffer
	cfg := sandbox()
	cfg.SandboxDelay = 2 * time.Millisecond // outcomes in batches, while the consumer works
	stop := e.startOn(pool, cfg, &logs)
	const n = 48
	orders := make([]string, n)
	for i := range orders {
		orders[i] = e.order(e.customerID, 1000+int64(i), "")
	}

	var wg sync.WaitGroup
	wg.Go(func() { // the saga's events about the same orders, in batches of any order
		for range 6 {
			for _, i := range rand.Perm(n) {
				e.reserve(orders[i], e.customerID, 1000+int64(i), "", newEventID())
			}
		}
	})
	payments := make(chan string, n)
	for _, id := range orders {
		payments <- id
	}
	close(payments)
	for range 8 {
		wg.Go(func() {
			for id := range payments {
				if _, err := subjects.PaymentCreate.Call(e.customer, e.nc, subjects.PaymentRequest{OrderID: id, PaymentMethod: "pm_card_visa"}); err != nil {
					t.Errorf("pay %s: %v", id, err)
				}
			}
		})
	}
	wg.Wait()
	for _, id := range orders {
		e.waitPayment(id, subjects.PaymentStatusSucceeded)
	}
	e.applied()
	e.wantRows(n, `select count(*) from payments.payments where status = 'succeeded'`)
	e.wantRows(n, `select count(*) from payments.payments`)
	e.wantRows(n, `select count(*) from payments.outbox where subject like 'souk.evt.payment.succeeded.%'`)

	stop()
	pool.Close()
	expect.Within(t, 20*time.Second, func() error {
		if k := e.count(`select count(*) from pg_stat_activity where application_name = $1`, app); k > 0 {
			return fmt.Errorf("%d sessions of the service still open", k)
		}
		return nil
	})
	if k := e.count(`select deadlocks::int from pg_stat_database where datname = current_database()`); k != 0 {
		t.Errorf("PostgreSQL detected %d deadlocks", k)
	}
	for _, bad := range []string{"40P01", "deadlock", "provider not reached"} {
		if strings.Contains(logs.String(), bad) {
			t.Errorf("the log mentions %q:\n%s", bad, logs.String())
		}
	}
}
