package kit

import (
	"strconv"
	"sync/atomic"

	"github.com/souk/souk/platform/outbox"
)

// counters are one instance's work counters, served in its $SRV.STATS (rpc.Deps.Counters):
// what its consumers applied and what its relay published. The process's Prometheus series
// of the same names add up every instance in the process; these are this instance's own, so
// that an operator (and the scale-out test) sees that instances share the work.
type counters struct {
	consumers []namedCount
	outbox    string
	relayed   *outbox.Relay
}

type namedCount struct {
	name string
	n    *atomic.Uint64
}

// consumer adds the counter of events applied by the consumer name, and returns it.
func (c *counters) consumer(name string) *atomic.Uint64 {
	n := &atomic.Uint64{}
	c.consumers = append(c.consumers, namedCount{name, n})
	return n
}

// relay reads r's counts as those of the outbox of schema.
func (c *counters) relay(schema string, r *outbox.Relay) { c.outbox, c.relayed = schema, r }

// read returns the counters by series name; it is called only once the kit has set them up.
func (c *counters) read() map[string]uint64 {
	out := make(map[string]uint64, len(c.consumers)+2)
	for _, nc := range c.consumers {
		out[series("souk_consumer_applied_total", "consumer", nc.name)] = nc.n.Load()
	}
	if c.relayed != nil {
		published, duplicates := c.relayed.Counts()
		out[series("souk_outbox_published_total", "outbox", c.outbox)] = published
		out[series("souk_outbox_duplicates_total", "outbox", c.outbox)] = duplicates
	}
	return out
}

// series names one series as Prometheus writes it: name{label="value"}.
func series(name, label, value string) string {
	return name + "{" + label + "=" + strconv.Quote(value) + "}"
}
