package consumer

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/souk/souk/platform/metrics"
)

// Counts are one running instance's own work counters, for its $SRV.STATS (the service
// kit serves them): the Prometheus series add up every instance that shares a registry,
// these count this one's share. Set Consumer.Counts to read them; they only grow.
type Counts struct {
	// Applied counts events applied in committed batches (souk_consumer_applied_total).
	Applied atomic.Uint64
	// Failed counts deliveries that failed (souk_consumer_failed_total).
	Failed atomic.Uint64
	// DeadLettered counts new dead letters (souk_consumer_dead_letters_total, every cause).
	DeadLettered atomic.Uint64
}

// instruments are a Consumer's Prometheus series, labelled by consumer, and its Counts;
// nil-safe, so a Consumer without a registry or Counts measures nothing.
type instruments struct {
	done        prometheus.Counter
	failed      prometheus.Counter
	holds       prometheus.Counter
	holding     prometheus.Gauge
	deadLetters *prometheus.CounterVec
	batchSize   prometheus.Observer
	batchTime   prometheus.Observer
	counts      *Counts
}

// Dead-letter causes, the cause label of souk_consumer_dead_letters_total.
const (
	causeHandler       = "handler"        // its handler failed: Permanent, or on the last delivery
	causeUnsettled     = "unsettled"      // delivered past MaxDeliver, never settled before
	causeMaxDeliveries = "max_deliveries" // the server gave up on it (its advisory)
)

// batchSizeBuckets cover one event up to the largest batch a consumer takes (Batch, 64 by
// default; a few consumers take more).
var batchSizeBuckets = prometheus.ExponentialBuckets(1, 2, 10) // 1 … 512

// batchTimeBuckets cover a quick batch of a few round trips up to one held through a
// database outage (AckWait is 30 s by default).
var batchTimeBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// newInstruments registers (or reuses) the series on r and binds them to the consumer name.
// Every series of the consumer exists from the start, at zero, so rate() works from the
// first scrape.
func newInstruments(r prometheus.Registerer, name string, counts *Counts) *instruments {
	if r == nil && counts == nil {
		return nil
	}
	if counts == nil {
		counts = &Counts{} // counted, not read
	}
	consumer := []string{"consumer"}
	done := metrics.Register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "souk_consumer_applied_total",
		Help: "Events a consumer applied (committed; not duplicates, not failures): with several instances, each counts its share.",
	}, consumer))
	failed := metrics.Register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "souk_consumer_failed_total",
		Help: "Deliveries a consumer failed to apply (its handler's error or panic, or a delivery past MaxDeliver never settled): each is redelivered or dead-lettered. Database outages are holds, not failures.",
	}, consumer))
	holds := metrics.Register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "souk_consumer_holds_total",
		Help: "Pauses of a consumer holding a batch because the database was to blame (unreachable, read-only, full, out of connections).",
	}, consumer))
	holding := metrics.Register(r, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "souk_consumer_holding",
		Help: "1 while a consumer instance holds a batch because the database is to blame.",
	}, consumer))
	dead := metrics.Register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "souk_consumer_dead_letters_total",
		Help: "Messages a consumer copied to the DLQ stream, by cause (handler, unsettled, max_deliveries).",
	}, []string{"consumer", "cause"}))
	size := metrics.Register(r, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "souk_consumer_batch_size", Help: "Events a consumer took in one batch (one transaction).", Buckets: batchSizeBuckets,
	}, consumer))
	took := metrics.Register(r, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "souk_consumer_batch_duration_seconds", Help: "Time a consumer took to apply, commit and settle one batch, holds through a database outage included.", Buckets: batchTimeBuckets,
	}, consumer))
	m := &instruments{
		done:        done.WithLabelValues(name),
		failed:      failed.WithLabelValues(name),
		holds:       holds.WithLabelValues(name),
		holding:     holding.WithLabelValues(name),
		deadLetters: dead.MustCurryWith(prometheus.Labels{"consumer": name}),
		batchSize:   size.WithLabelValues(name),
		batchTime:   took.WithLabelValues(name),
		counts:      counts,
	}
	for _, cause := range []string{causeHandler, causeUnsettled, causeMaxDeliveries} {
		m.deadLetters.WithLabelValues(cause)
	}
	return m
}

// applied counts n events applied in a committed batch.
func (m *instruments) applied(n int) {
	if m != nil && n > 0 {
		m.done.Add(float64(n))
		m.counts.Applied.Add(uint64(n))
	}
}

// failure counts one failed delivery.
func (m *instruments) failure() {
	if m != nil {
		m.failed.Inc()
		m.counts.Failed.Add(1)
	}
}

// batch observes one batch of n events that took d.
func (m *instruments) batch(n int, d time.Duration) {
	if m != nil && n > 0 {
		m.batchSize.Observe(float64(n))
		m.batchTime.Observe(d.Seconds())
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
		m.counts.DeadLettered.Add(1)
	}
}
