// Package metrics holds Souk's Prometheus instruments. There is no default registry: main
// makes one with NewRegistry and passes it to everything that measures, and the gateway
// serves it at /metrics.
package metrics

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// NewRegistry returns a registry with the Go runtime and process collectors.
func NewRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Register registers c on r, or returns the collector already registered under the same
// description, so that several services in one process share one family of series.
// A nil r registers nothing and returns c.
func Register[C prometheus.Collector](r prometheus.Registerer, c C) C {
	if r == nil {
		return c // nowhere to register: a test that reads no metrics
	}
	if err := r.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err) // a programming error: two different collectors under one name
	}
	return c
}

// latencyBuckets suit in-process and loopback calls: 250 µs to 10 s.
var latencyBuckets = []float64{.00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// RED are the rate, error and duration instruments of one kind of call (HTTP routes or NATS
// endpoints).
type RED struct {
	// Requests counts finished calls by target and status code.
	Requests *prometheus.CounterVec
	// Duration observes call latency by target.
	Duration *prometheus.HistogramVec
	// InFlight counts calls being handled now, by target.
	InFlight *prometheus.GaugeVec
}

// HTTP returns the gateway's instruments, labelled by method and route template.
func HTTP(r prometheus.Registerer) *RED {
	return &RED{
		Requests: Register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "souk_http_requests_total", Help: "HTTP requests by method, route and status code.",
		}, []string{"method", "route", "code"})),
		Duration: Register(r, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "souk_http_request_duration_seconds", Help: "HTTP request latency by method and route.", Buckets: latencyBuckets,
		}, []string{"method", "route"})),
		InFlight: Register(r, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "souk_http_requests_in_flight", Help: "HTTP requests being served.",
		}, []string{"method", "route"})),
	}
}

// RPC returns the services' instruments, labelled by service and endpoint subject.
func RPC(r prometheus.Registerer) *RED {
	return &RED{
		Requests: Register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "souk_rpc_requests_total", Help: "NATS endpoint requests by service, endpoint and status code.",
		}, []string{"service", "endpoint", "code"})),
		Duration: Register(r, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "souk_rpc_request_duration_seconds", Help: "NATS endpoint latency by service and endpoint.", Buckets: latencyBuckets,
		}, []string{"service", "endpoint"})),
		InFlight: Register(r, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "souk_rpc_requests_in_flight", Help: "NATS endpoint requests being handled.",
		}, []string{"service", "endpoint"})),
	}
}
