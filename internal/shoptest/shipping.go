package shoptest

import (
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/services/shipping"
	"github.com/souk/souk/subjects"
)

// ShippingConfig returns the configuration tests run the shipping service with.
func ShippingConfig() shipping.Config { return shipping.Config{} }

// StartShipping runs a shipping instance and waits until it answers. It creates shipments
// from order.paid events, so the order service (or a test publishing them) feeds it.
func (e *Env) StartShipping(cfg shipping.Config) *Instance {
	e.T.Helper()
	return e.Start(func(d kit.Deps) (kit.Service, error) { return shipping.Service(cfg, d) }, func() error {
		_, err := subjects.ShipmentGet.Call(e.Staff, e.NC, subjects.ShipmentOrderRequest{OrderID: NewID()})
		return answered(err)
	})
}
