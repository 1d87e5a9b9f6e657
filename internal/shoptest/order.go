package shoptest

import (
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/services/order"
	"github.com/souk/souk/subjects"
)

// StartOrder runs an order instance and waits until it answers. The saga needs the cart,
// inventory, promotion and payment services running too (and the cart the catalog).
func (e *Env) StartOrder(cfg order.Config) *Instance {
	e.T.Helper()
	return e.Start(func(d kit.Deps) (kit.Service, error) { return order.Service(cfg, d) }, func() error {
		_, err := subjects.OrderList.Call(e.Customer, e.NC, subjects.ListRequest{Limit: 1})
		return err
	})
}
