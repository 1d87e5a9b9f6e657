package consumer

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/souk/souk/platform/metrics"
)

// instruments are a Consumer's Prometheus series, labelled by consumer; nil-safe, so a
// Consumer without a registry measures nothing.
type instruments struct {
	done        prometheus.Counter
	holds       prometheus.Counter
	holding     prometheus.Gauge
	deadLetters *prometheus.CounterVec
}

// Dead-letter causes, the cause label of souk_consumer_dead_letters_total.
const (
	causeHandler       = "handler"        // its handler failed: Permanent, or on the last delivery
	causeUnsettled     = "unsettled"      // delivered past MaxDeliver, never settled before
	causeMaxDeliveries = "max_deliveries" // the server gave up on it (its advisory)
)

// newInstruments registers (or reuses) the series on r and binds them to the consumer name.
func newInstruments(r prometheus.Registerer, name string) *instruments {
	if r == nil {
		return nil
	}
	done := metrics.Register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "souk_consumer_applied_total",
		Help: "Events a consumer applied (committed; not duplicates, not failures): with several instances, each counts its share.",
	}, []string{"consumer"}))
	holds := metrics.Register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "souk_consumer_holds_total",
		Help: "Pauses of a consumer holding a batch because the database was to blame (unreachable, read-only, full, out of connections).",
	}, []string{"consumer"}))
	holding := metrics.Register(r, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "souk_consumer_holding",
		Help: "1 while a consumer instance holds a batch because the database is to blame.",
	}, []string{"consumer"}))
	dead := metrics.Register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "souk_consumer_dead_letters_total",
		Help: "Messages a consumer copied to the DLQ stream, by cause (handler, unsettled, max_deliveries).",
	}, []string{"consumer", "cause"}))
	return &instruments{
		done:        done.WithLabelValues(name),
		holds:       holds.WithLabelValues(name),
		holding:     holding.WithLabelValues(name),
		deadLetters: dead.MustCurryWith(prometheus.Labels{"consumer": name}),
	}
}

// applied counts n events applied in a committed batch.
func (m *instruments) applied(n int) {
	if m != nil && n > 0 {
		m.done.Add(float64(n))
	}
}

// held counts a pause of a held batch and marks the instance holding.
func (m *instruments) held() {
	if m != nil {
		m.holds.Inc()
		m.holding.Set(1)
	}
}

// released marks the instance no longer holding.
func (m *instruments) released() {
	if m != nil {
		m.holding.Set(0)
	}
}

// deadLettered counts a new dead letter of cause.
func (m *instruments) deadLettered(cause string) {
	if m != nil {
		m.deadLetters.WithLabelValues(cause).Inc()
	}
}
