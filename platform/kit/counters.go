package kit

import (
	"strconv"

	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/outbox"
)

// counters are one instance's work counters, served in its $SRV.STATS (rpc.Deps.Counters):
// what its consumers applied, failed and dead-lettered, what its relay published and how
// many events its outbox holds unsent. The process's Prometheus series of the same names add
// up every instance in the process; these are this instance's own, so that an operator (and
// the scale-out test) sees that instances share the work.
type counters struct {
	consumers []namedCounts
	outbox    string
	relayed   *outbox.Relay
}

type namedCounts struct {
	name string
	n    *consumer.Counts
}

// consumer adds the counts of the consumer name, and returns them for the consumer to
// count in.
func (c *counters) consumer(name string) *consumer.Counts {
	n := &consumer.Counts{}
	c.consumers = append(c.consumers, namedCounts{name, n})
	return n
}

// relay reads r's counts as those of the outbox of schema.
func (c *counters) relay(schema string, r *outbox.Relay) { c.outbox, c.relayed = schema, r }

// read returns the counters by series name; it is called only once the kit has set them up.
// A consumer's dead letters are summed over their causes.
func (c *counters) read() map[string]uint64 {
	out := make(map[string]uint64, 3*len(c.consumers)+3)
	for _, nc := range c.consumers {
		out[series("souk_consumer_applied_total", "consumer", nc.name)] = nc.n.Applied.Load()
		out[series("souk_consumer_failed_total", "consumer", nc.name)] = nc.n.Failed.Load()
		out[series("souk_consumer_dead_letters_total", "consumer", nc.name)] = nc.n.DeadLettered.Load()
	}
	if c.relayed != nil {
		n := c.relayed.Counts()
		out[series("souk_outbox_published_total", "outbox", c.outbox)] = n.Published
		out[series("souk_outbox_duplicates_total", "outbox", c.outbox)] = n.Duplicates
		out[series("souk_outbox_early_total", "outbox", c.outbox)] = n.Early
		out[series("souk_outbox_publish_failures_total", "outbox", c.outbox)] = n.FailedBatches
		out[series("souk_outbox_backlog", "outbox", c.outbox)] = c.relayed.Backlog()
	}
	return out
}

// series names one series as Prometheus writes it: name{label="value"}.
func series(name, label, value string) string {
	return name + "{" + label + "=" + strconv.Quote(value) + "}"
}
