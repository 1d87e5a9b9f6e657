package main

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/nats/bus"
	soukLog "github.com/souk/souk/platform/log"
)

// logSink is the process's log sink (platform/log): every line, also published to the LOGS
// stream of its domain under the service that logged it, or, for the process's own lines,
// under its only part (the NATS user of a process that runs one service may publish only
// its own log subjects) or "souk" when it runs several. With SOUK_LOG_STREAM off it only
// counts lines.
func logSink(cfg Config, picked []service, withGateway bool) *soukLog.Sink {
	names := namesOf(picked)
	if withGateway {
		names = append(names, "gateway")
	}
	fallback := "souk"
	if len(names) == 1 {
		fallback = names[0]
	}
	return soukLog.NewSink(soukLog.SinkConfig{Origin: logOrigin(cfg), Service: fallback, Services: names, Off: !cfg.LogStream})
}

// logOrigin is the first token of the process's log subjects: its JetStream domain.
func logOrigin(cfg Config) string {
	if cfg.Site != "" {
		return bus.SiteDomain(cfg.Site)
	}
	return bus.HubDomain
}

// ensureLogs creates or updates the LOGS stream of the process's domain, unless
// SOUK_LOG_STREAM is off. The hub's sources each site's: services/inventory adds a site's
// source with its first quota grant, as for SITE_SALES.
func ensureLogs(ctx context.Context, cfg Config, js jetstream.JetStream, opts ...bus.EnsureOption) error {
	if !cfg.LogStream {
		return nil
	}
	limits := bus.LogLimits{MaxBytes: int64(cfg.LogMaxMB) << 20, MaxAge: cfg.LogMaxAge}
	return bus.EnsureLogs(ctx, js, logOrigin(cfg), limits, opts...)
}
