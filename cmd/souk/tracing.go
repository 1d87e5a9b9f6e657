package main

import (
	"context"
	"os"

	"github.com/rs/zerolog"

	"github.com/souk/souk/platform/trace"
)

// startTracing is the process's tracing from cfg's OTEL_* settings (nil when export is off)
// and the func that flushes it at exit, within trace.ShutdownTimeout.
func startTracing(ctx context.Context, cfg Config, log zerolog.Logger) (*trace.Tracing, func(), error) {
	instance, _ := os.Hostname()
	tc := trace.Config{Endpoint: cfg.OTLPEndpoint, TracesEndpoint: cfg.OTLPTracesEndpoint, Protocol: cfg.OTLPProtocol,
		Exporter: cfg.TracesExporter, Sampler: cfg.TracesSampler, SamplerArg: cfg.TracesSamplerArg,
		Instance: instance, Version: version, Site: cfg.Site}
	t, err := trace.New(ctx, tc)
	if err != nil {
		return nil, nil, err
	}
	if t != nil {
		log.Info().Str("sampler", cfg.TracesSampler).Str("protocol", cfg.OTLPProtocol).Msg("exporting traces over OTLP")
	}
	return t, func() { flushTracing(t, log) }, nil
}

// flushTracing exports the spans still batched, at exit.
func flushTracing(t *trace.Tracing, log zerolog.Logger) {
	if err := t.Shutdown(context.Background()); err != nil {
		log.Warn().Err(err).Msg("traces not all exported at exit")
	}
}

// tracingKey is the context key under which whoever runs souk run in this process hands it
// the tracing to use instead of the OTEL_* settings': TestCheckoutIsOneTrace, whose spans go
// to an in-memory exporter.
type tracingKey struct{}

// tracingFor returns the tracing ctx carries, or nil: the process makes its own.
func tracingFor(ctx context.Context) *trace.Tracing {
	t, _ := ctx.Value(tracingKey{}).(*trace.Tracing)
	return t
}
