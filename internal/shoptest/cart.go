package shoptest

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/souk/souk/services/cart"
	"github.com/souk/souk/subjects"
)

// StartCart runs a cart instance and waits until it answers.
func (e *Env) StartCart(cfg cart.Config) *Instance {
	e.T.Helper()
	return e.start("cart", func(ctx context.Context, reg *prometheus.Registry) error {
		return cart.Run(ctx, cfg, cart.Deps{Log: e.Log, NC: e.NC, JS: e.JS, Registry: reg, Keys: e.Keys.Source})
	}, func() error {
		_, err := subjects.CartGet.Call(e.Staff, e.NC, subjects.Empty{})
		return err
	})
}

// CartConfig returns the configuration tests run the cart with.
func CartConfig() cart.Config { return cart.Config{} }
