package background

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/souk/souk/platform/metrics"
)

// upDesc is the one gauge of the loops' state. Its labels are bounded: services and loop
// names are fixed in the code.
var upDesc = prometheus.NewDesc("souk_loop_up",
	"1 while a service's background loop is up; 0 while it is down: failed and waiting for its restart, restarted but not yet settled, or reporting trouble.",
	[]string{"service", "loop"}, nil)

// restartsDesc counts a loop's restarts after a failure (an error, an early return, a panic).
var restartsDesc = prometheus.NewDesc("souk_loop_restarts_total",
	"Restarts of a service's background loop after it failed (returned an error or early, or panicked), since its service started.",
	[]string{"service", "loop"}, nil)

// upCollector reads the loops' state at each scrape, so the gauge never lags a transition,
// and their restarts. There is one per registry, shared by the services of a process.
type upCollector struct {
	mu     sync.Mutex
	groups map[*Group]string // service by group
}

// Describe sends the descriptions of the gauge and the counter.
func (c *upCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- upDesc
	ch <- restartsDesc
}

// Collect sends two series per service and loop; when several instances of one service
// share the registry, a loop is up only if it is up in all of them, and its restarts are
// theirs added up.
func (c *upCollector) Collect(ch chan<- prometheus.Metric) {
	type key struct{ service, loop string }
	type state struct {
		up       bool
		restarts int
	}
	loops := map[key]*state{}
	var order []key
	c.mu.Lock()
	for g, service := range c.groups {
		for _, s := range g.Loops() {
			k := key{service, s.Name}
			st := loops[k]
			if st == nil {
				st = &state{up: true}
				loops[k] = st
				order = append(order, k)
			}
			st.up = st.up && s.Up
			st.restarts += s.Restarts
		}
	}
	c.mu.Unlock()
	for _, k := range order {
		v := 0.0
		if loops[k].up {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, v, k.service, k.loop)
		ch <- prometheus.MustNewConstMetric(restartsDesc, prometheus.CounterValue, float64(loops[k].restarts), k.service, k.loop)
	}
}

// Instrument shows g's loops as souk_loop_up{service,loop} and souk_loop_restarts_total on r
// until remove is called (when the service stops).
func Instrument(r prometheus.Registerer, service string, g *Group) (remove func()) {
	c := metrics.Register(r, &upCollector{groups: map[*Group]string{}})
	c.mu.Lock()
	c.groups[g] = service
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		delete(c.groups, g)
		c.mu.Unlock()
	}
}
