package shoptest

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/souk/souk/services/catalog"
	"github.com/souk/souk/subjects"
)

// CatalogConfig returns the configuration tests run the catalog with, so that a service's
// tests need not import the catalog to start it.
func CatalogConfig() catalog.Config { return catalog.Config{} }

// StartCatalog runs a catalog instance and waits until it answers.
func (e *Env) StartCatalog(cfg catalog.Config) *Instance {
	e.T.Helper()
	return e.start("catalog", func(ctx context.Context, reg *prometheus.Registry) error {
		return catalog.Run(ctx, cfg, catalog.Deps{Log: e.Log, DB: e.DB, NC: e.NC, JS: e.JS, Registry: reg, Keys: e.Keys.Source})
	}, func() error {
		_, err := subjects.CategoryList.Call(e.Ctx, e.NC, subjects.Empty{})
		return err
	})
}
