package outbox

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/souk/souk/platform/metrics"
)

// instruments are a Relay's Prometheus series, labelled by outbox (the schema); nil-safe, so
// a Relay without a registry measures nothing. A relay holding events back (a full stream, a
// server that does not answer) is never silent: the oldest unsent event's age grows and
// souk_outbox_failing says why it does.
type instruments struct {
	sent     prometheus.Counter
	dups     prometheus.Counter
	failing  prometheus.Gauge
	failures prometheus.Counter
	resent   *prometheus.CounterVec
	oldest   prometheus.Gauge
	backlog  prometheus.Gauge
	late     prometheus.Counter
	early    prometheus.Counter
}

// Resend causes, the cause label of souk_outbox_resent_total.
const (
	causeDeadLease = "dead_lease"  // an instance died without a clean stop
	causeLostData  = "server_lost" // the NATS server restarted or went backwards
)

func newInstruments(r prometheus.Registerer, schema string) *instruments {
	if r == nil {
		return nil
	}
	labels := []string{"outbox"}
	sent := metrics.Register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "souk_outbox_published_total",
		Help: "Events an outbox relay published and JetStream acknowledged: with several instances, each counts its share.",
	}, labels))
	dups := metrics.Register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "souk_outbox_duplicates_total",
		Help: "Published events the stream already held (its duplicate window dropped them): resends after a dead instance or lost data, and events another instance published early (souk_outbox_early_total) before this one's watermark passed them.",
	}, labels))
	failing := metrics.Register(r, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "souk_outbox_failing",
		Help: "1 while an outbox relay instance cannot publish (a full stream, no stream, no acks) and holds its events in PostgreSQL.",
	}, labels))
	failures := metrics.Register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "souk_outbox_publish_failures_total",
		Help: "Batches an outbox relay could not publish in full (refused or acks not back in time); the events stay unsent and are tried again.",
	}, labels))
	resent := metrics.Register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "souk_outbox_resent_total",
		Help: "Events an outbox relay marked for publishing again, by cause (dead_lease, server_lost).",
	}, []string{"outbox", "cause"}))
	oldest := metrics.Register(r, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "souk_outbox_oldest_unsent_seconds",
		Help: "Age of the oldest event not yet published from an outbox (0 when none waits); alert when it grows.",
	}, labels))
	backlog := metrics.Register(r, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "souk_outbox_backlog",
		Help: "Events of an outbox not yet published, counted up to 10000 new and 10000 marked for resending (the count stops there, so it stays cheap).",
	}, labels))
	late := metrics.Register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "souk_outbox_past_horizon_total",
		Help: "Events an outbox relay sent on their own and marked sent, because a transaction running on the server (in any database) held the horizon below them for longer than LateAfter.",
	}, labels))
	early := metrics.Register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "souk_outbox_early_total",
		Help: "Events an outbox relay published above the horizon (a transaction running on the server held it below them), before its watermark passed them; another instance whose watermark passes one before this one marks it publishes it again, and the stream drops the copy.",
	}, labels))
	m := &instruments{
		sent:     sent.WithLabelValues(schema),
		dups:     dups.WithLabelValues(schema),
		failing:  failing.WithLabelValues(schema),
		failures: failures.WithLabelValues(schema),
		resent:   resent.MustCurryWith(prometheus.Labels{"outbox": schema}),
		oldest:   oldest.WithLabelValues(schema),
		backlog:  backlog.WithLabelValues(schema),
		late:     late.WithLabelValues(schema),
		early:    early.WithLabelValues(schema),
	}
	for _, cause := range []string{causeDeadLease, causeLostData} {
		m.resent.WithLabelValues(cause) // at zero from the start, for rate()
	}
	return m
}

// published records how a batch went.
func (m *instruments) published(err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.failures.Inc()
		m.failing.Set(1)
		return
	}
	m.failing.Set(0)
}

// acked counts one acknowledged publish, a duplicate or not.
func (m *instruments) acked(duplicate bool) {
	if m == nil {
		return
	}
	m.sent.Inc()
	if duplicate {
		m.dups.Inc()
	}
}

// pastHorizon counts one event sent on its own past the horizon.
func (m *instruments) pastHorizon() {
	if m != nil {
		m.late.Inc()
	}
}

// publishedEarly counts one event published above the horizon, not marked sent.
func (m *instruments) publishedEarly() {
	if m != nil {
		m.early.Inc()
	}
}

// resend counts n events marked for publishing again.
func (m *instruments) resend(cause string, n int64) {
	if m != nil && n > 0 {
		m.resent.WithLabelValues(cause).Add(float64(n))
	}
}

// backlogCap bounds the count of unsent events: past it the gauge says "at least this
// many", which is all an alert needs (the oldest event's age says how far behind), and the
// count stays a short index scan (above the watermark on outbox_key, and the partial index
// outbox_resend) on every round of the lease upkeep. At 100 000 the catalog's gauge read
// every row of a 100 000-event resend, 450 ms of the server's CPU every 3 s while the
// relay worked through it.
const backlogCap = 10000

// backlogSQL is measureBacklog's statement; $1 is backlogCap.
func (r *Relay) backlogSQL() string {
	t := r.table("outbox")
	return `select coalesce(extract(epoch from now() - min(created_at)), 0)::float8, count(*) from (
		(select o.created_at from ` + t + ` o, (` + r.cursor() + `) c
			where ` + unsentAboveMark + ` order by o.xid, o.seq limit $1)
		union all (select created_at from ` + t + ` where resend order by xid, seq limit $1)) u`
}

// measureBacklog reads how many events wait (counted up to backlogCap) and the age of the
// oldest of them, for the gauges and Backlog.
func (r *Relay) measureBacklog(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var age float64
	var n int64
	err := r.DB.QueryRow(ctx, r.backlogSQL(), backlogCap).Scan(&age, &n)
	if err != nil {
		return err
	}
	r.backlog.Store(uint64(n))
	if r.inst != nil {
		r.inst.oldest.Set(max(age, 0))
		r.inst.backlog.Set(float64(n))
	}
	return nil
}
