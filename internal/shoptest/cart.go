package shoptest

import (
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/services/cart"
	"github.com/souk/souk/subjects"
)

// StartCart runs a cart instance and waits until it answers.
func (e *Env) StartCart(cfg cart.Config) *Instance {
	e.T.Helper()
	return e.Start(func(d kit.Deps) (kit.Service, error) { return cart.Service(cfg, d) }, func() error {
		_, err := subjects.CartGet.Call(e.Staff, e.NC, subjects.Empty{})
		return err
	})
}

// CartConfig returns the configuration tests run the cart with.
func CartConfig() cart.Config { return cart.Config{} }
