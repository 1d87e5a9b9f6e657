package shoptest

import (
	"time"

	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/services/payment"
	"github.com/souk/souk/subjects"
)

// PaymentConfig returns the configuration tests run the payment service with: the sandbox
// provider, deciding after 20 ms instead of 200.
func PaymentConfig() payment.Config { return payment.Config{SandboxDelay: 20 * time.Millisecond} }

// StartPayment runs a payment instance and waits until it answers.
func (e *Env) StartPayment(cfg payment.Config) *Instance {
	e.T.Helper()
	return e.Start(func(d kit.Deps) (kit.Service, error) { return payment.Service(cfg, d) }, func() error {
		meta := subjects.MetaFrom(e.Admin)
		meta.IdempotencyKey = "shoptest-ready" // a refund without one is a 400 before the lookup
		_, err := subjects.PaymentRefund.Call(subjects.WithMeta(e.Admin, meta), e.NC, subjects.RefundRequest{OrderID: NewID()})
		return answered(err)
	})
}
