package main

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/souk/souk/platform/metrics"
)

// registryKey is the context key under which whoever runs souk run in this process hands it
// the Prometheus registry to fill: TestMonitoringUsesExportedMetrics, which reads every
// collector's descriptions afterwards, since /metrics shows only series with a sample.
type registryKey struct{}

// registryFor returns the registry ctx carries, or a new one: the process's own.
func registryFor(ctx context.Context) *prometheus.Registry {
	if r, ok := ctx.Value(registryKey{}).(*prometheus.Registry); ok {
		return r
	}
	return metrics.NewRegistry()
}
