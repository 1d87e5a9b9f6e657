// Package trace is Souk's OpenTelemetry tracing: one exporter per process, a TracerProvider
// per service (each with its own service.name, so a trace viewer shows the gateway, order,
// payment … as the services they are), the W3C trace context on every hop, and the way a
// later request continues the trace of the checkout it belongs to (Resume).
//
// Nothing here is global: the process builds a Tracing with New and hands each service its
// Provider through the kit's Deps; code further down finds the provider through the span in
// its context (oteltrace.SpanFromContext(ctx).TracerProvider()). Off (no endpoint, no
// exporter), every Provider is a no-op one: a span costs a context value and nothing is
// recorded, yet an incoming traceparent is still passed on, so a trace begun by a client
// survives a Souk that does not record.
package trace

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	oteltrace "go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Config is what the standard OTEL_* variables say of trace export (cmd/souk/settings reads
// them), and who this process is.
type Config struct {
	// Endpoint is OTEL_EXPORTER_OTLP_ENDPOINT: the collector's base URL; with http/protobuf
	// the path /v1/traces is appended, as the specification says.
	Endpoint string
	// TracesEndpoint is OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: the URL traces go to, as is; it
	// wins over Endpoint.
	TracesEndpoint string
	// Protocol is OTEL_EXPORTER_OTLP_PROTOCOL: grpc (the default) or http/protobuf.
	Protocol string
	// Exporter is OTEL_TRACES_EXPORTER: otlp turns export on (to localhost's default port when
	// no endpoint is set), none turns it off whatever the endpoints say; empty leaves it to
	// the endpoints.
	Exporter string
	// Sampler and SamplerArg are OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG:
	// parentbased_always_on when empty (every trace a client or an upstream service sampled,
	// and every new one), always_on, always_off, traceidratio, parentbased_always_off,
	// parentbased_traceidratio; the ratio's argument is a number from 0 to 1 (1 when empty).
	Sampler, SamplerArg string
	// Instance, Version and Site name this process in every span's resource
	// (service.instance.id, service.version, souk.site).
	Instance, Version, Site string
}

// Enabled says whether cfg exports traces.
func (c Config) Enabled() bool {
	switch c.Exporter {
	case "none":
		return false
	case "otlp":
		return true
	}
	return c.Endpoint != "" || c.TracesEndpoint != ""
}

// Tracing is the process's tracing: the exporter and its batching, shared by a TracerProvider
// per service. A nil *Tracing is tracing off: its providers are no-ops.
type Tracing struct {
	cfg       Config
	sampler   sdktrace.Sampler
	processor sdktrace.SpanProcessor

	mu        sync.Mutex
	providers map[string]*sdktrace.TracerProvider
}

// New returns the process's Tracing for cfg: nil when cfg does not export (every provider a
// no-op), else one exporting over OTLP in batches. It checks cfg; nothing is sent until a
// span ends, so an unreachable collector does not stop the process (spans are dropped and
// the exporter logs through OpenTelemetry's error handler).
func New(ctx context.Context, cfg Config) (*Tracing, error) {
	sampler, err := Sampler(cfg.Sampler, cfg.SamplerArg)
	if err != nil {
		return nil, err
	}
	if !cfg.Enabled() {
		return nil, nil
	}
	exp, err := exporter(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return With(cfg, sampler, sdktrace.NewBatchSpanProcessor(exp)), nil
}

// With returns a Tracing whose spans go to processor (a test's
// sdktrace.NewSimpleSpanProcessor of a tracetest.InMemoryExporter), sampled by sampler
// (parent-based always-on when nil).
func With(cfg Config, sampler sdktrace.Sampler, processor sdktrace.SpanProcessor) *Tracing {
	if sampler == nil {
		sampler = sdktrace.ParentBased(sdktrace.AlwaysSample())
	}
	return &Tracing{cfg: cfg, sampler: sampler, processor: processor, providers: map[string]*sdktrace.TracerProvider{}}
}

func exporter(ctx context.Context, cfg Config) (sdktrace.SpanExporter, error) {
	url := cfg.TracesEndpoint
	switch cfg.Protocol {
	case "", "grpc":
		if url == "" {
			url = cfg.Endpoint
		}
		var opts []otlptracegrpc.Option
		if url != "" {
			opts = append(opts, otlptracegrpc.WithEndpointURL(url))
		}
		return otlptracegrpc.New(ctx, opts...)
	case "http/protobuf":
		if url == "" && cfg.Endpoint != "" {
			url = strings.TrimSuffix(cfg.Endpoint, "/") + "/v1/traces"
		}
		var opts []otlptracehttp.Option
		if url != "" {
			opts = append(opts, otlptracehttp.WithEndpointURL(url))
		}
		return otlptracehttp.New(ctx, opts...)
	}
	return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL %q: want grpc or http/protobuf", cfg.Protocol)
}

// Sampler is the sampler OTEL_TRACES_SAMPLER name and its argument arg pick (see Config).
func Sampler(name, arg string) (sdktrace.Sampler, error) {
	ratio := 1.0
	if arg != "" && strings.HasSuffix(name, "traceidratio") {
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 {
			return nil, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG %q: want a ratio from 0 to 1", arg)
		}
		ratio = r
	}
	switch name {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), nil
	}
	return nil, fmt.Errorf("OTEL_TRACES_SAMPLER %q: want one of %s", name, strings.Join(Samplers, ", "))
}

// Samplers are the values OTEL_TRACES_SAMPLER takes.
var Samplers = []string{"always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"}

// Provider is the TracerProvider of service ("gateway", "order", …): its spans carry
// service.name = service. A nil Tracing gives a no-op provider.
func (t *Tracing) Provider(service string) oteltrace.TracerProvider {
	if t == nil {
		return noop.NewTracerProvider()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if tp, ok := t.providers[service]; ok {
		return tp
	}
	attrs := []attribute.KeyValue{
		attribute.String("service.name", service),
		attribute.String("service.namespace", "souk"),
	}
	for k, v := range map[string]string{"service.instance.id": t.cfg.Instance, "service.version": t.cfg.Version, "souk.site": t.cfg.Site} {
		if v != "" {
			attrs = append(attrs, attribute.String(k, v))
		}
	}
	// The processor is shared: it is shut down once, by Shutdown, never by a provider.
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(t.sampler), sdktrace.WithSpanProcessor(shared{t.processor}),
		sdktrace.WithResource(resource.NewSchemaless(attrs...)))
	t.providers[service] = tp
	return tp
}

// ShutdownTimeout bounds Shutdown's flush when its context has no deadline.
const ShutdownTimeout = 5 * time.Second

// Shutdown exports the spans still batched and stops exporting, within ctx's deadline (or
// ShutdownTimeout): a collector that does not answer costs the process that long at most.
// A nil Tracing has nothing to do.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, ShutdownTimeout)
		defer cancel()
	}
	var errs []error
	t.mu.Lock()
	for _, tp := range t.providers {
		errs = append(errs, tp.Shutdown(ctx)) // ends its tracers; the shared processor stays
	}
	t.mu.Unlock()
	errs = append(errs, t.processor.Shutdown(ctx))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("trace: shutdown: %w", err)
	}
	return nil
}

// ForceFlush exports the spans batched so far (a test reads them next).
func (t *Tracing) ForceFlush(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.processor.ForceFlush(ctx)
}

// shared is a processor several providers use: a provider's shutdown leaves it running.
type shared struct{ sdktrace.SpanProcessor }

func (shared) Shutdown(context.Context) error { return nil }
