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

// upCollector reads the loops' state at each scrape, so the gauge never lags a transition.
// There is one per registry, shared by the services of a process.
type upCollector struct {
	mu     sync.Mutex
	groups map[*Group]string // service by group
}

// Describe sends the gauge's description.
func (c *upCollector) Describe(ch chan<- *prometheus.Desc) { ch <- upDesc }

// Collect sends one series per service and loop; when several instances of one service
// share the registry, a loop is up only if it is up in all of them.
func (c *upCollector) Collect(ch chan<- prometheus.Metric) {
	type key struct{ service, loop string }
	up := map[key]bool{}
	var order []key
	c.mu.Lock()
	for g, service := range c.groups {
		for _, s := range g.Loops() {
			k := key{service, s.Name}
			was, seen := up[k]
			if !seen {
				order = append(order, k)
				was = true
			}
			up[k] = was && s.Up
		}
	}
	c.mu.Unlock()
	for _, k := range order {
		v := 0.0
		if up[k] {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, v, k.service, k.loop)
	}
}

// Instrument shows g's loops as souk_loop_up{service,loop} on r until remove is called (when
// the service stops).
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
