package shoptest

import (
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/services/inventory"
	"github.com/souk/souk/subjects"
)

// InventoryConfig returns the configuration tests run the inventory with: the defaults (a
// hold lasts 15 min, longer than any test).
func InventoryConfig() inventory.Config { return inventory.Config{} }

// StartInventory runs an inventory instance and waits until it answers.
func (e *Env) StartInventory(cfg inventory.Config) *Instance {
	e.T.Helper()
	return e.Start(func(d kit.Deps) (kit.Service, error) { return inventory.Service(cfg, d) }, func() error {
		_, err := subjects.InventoryGet.Call(e.Staff, e.NC, subjects.SKURequest{SKU: "SHOPTEST-READY"})
		return answered(err)
	})
}
