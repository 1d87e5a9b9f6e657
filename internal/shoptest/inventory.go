package shoptest

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/souk/souk/services/inventory"
	"github.com/souk/souk/subjects"
)

// InventoryConfig returns the configuration tests run the inventory with: the defaults (a
// hold lasts 15 min, longer than any test).
func InventoryConfig() inventory.Config { return inventory.Config{} }

// StartInventory runs an inventory instance and waits until it answers.
func (e *Env) StartInventory(cfg inventory.Config) *Instance {
	e.T.Helper()
	return e.start("inventory", func(ctx context.Context, reg *prometheus.Registry) error {
		return inventory.Run(ctx, cfg, inventory.Deps{Log: e.Log, DB: e.DB, NC: e.NC, JS: e.JS, Registry: reg, Keys: e.Keys.Source})
	}, func() error {
		_, err := subjects.InventoryGet.Call(e.Staff, e.NC, subjects.SKURequest{SKU: "SHOPTEST-READY"})
		return answered(err)
	})
}
