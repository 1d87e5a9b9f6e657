package payment_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/services/payment"
	"github.com/souk/souk/subjects"
)

// BenchmarkReservedToSucceeded measures the payment service's part of checkout: order.reserved
// events carrying a payment method, published as fast as JetStream takes them, until every
// payment has succeeded (sandbox, 1 ms decision) and its payment.succeeded is written to the
// outbox. One instance, as `souk run` runs it.
func BenchmarkReservedToSucceeded(b *testing.B) {
	e := newEnv(b)
	e.start(payment.Config{SandboxDelay: time.Millisecond}, nil)
	user := uuid.Must(uuid.NewV7()).String()
	b.ResetTimer()
	for range b.N {
		id := uuid.Must(uuid.NewV7()).String()
		ev := newEventID()
		body, _ := json.Marshal(subjects.OrderReserved{EventID: ev, OrderID: id, UserID: user, Status: subjects.OrderStatusReserved,
			Total: eur(1999), PaymentMethod: "pm_card_visa", ReservedUntil: time.Now().Add(time.Hour)})
		if _, err := e.js.PublishAsync(subjects.EvtOrderReserved.Subject(id), body, jetstream.WithMsgID(ev)); err != nil {
			b.Fatal(err)
		}
	}
	expect.Within(b, 90*time.Second, func() error {
		if n := e.count(`select count(*) from payments.payments where status = 'succeeded'`); n < b.N {
			return fmt.Errorf("%d of %d payments succeeded", n, b.N)
		}
		return nil
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "orders/s")
}
