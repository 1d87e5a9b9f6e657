package shoptest

import (
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/services/catalog"
	"github.com/souk/souk/subjects"
)

// CatalogConfig returns the configuration tests run the catalog with, so that a service's
// tests need not import the catalog to start it.
func CatalogConfig() catalog.Config { return catalog.Config{} }

// StartCatalog runs a catalog instance and waits until it answers.
func (e *Env) StartCatalog(cfg catalog.Config) *Instance {
	e.T.Helper()
	return e.Start(func(d kit.Deps) (kit.Service, error) { return catalog.Service(cfg, d) }, func() error {
		_, err := subjects.CategoryList.Call(e.Ctx, e.NC, subjects.Empty{})
		return err
	})
}
