package main

import (
	"math"
	"slices"
	"strings"

	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/subjects"
)

// checkoutEvents are the events one checkout of one cart line publishes, placed to
// fulfilling (the code's paths: services/order saga.go, inventory store.go, payment
// store.go, shipping store.go). A coupon adds promotion.redeemed; a flip of in_stock a
// catalog event; neither is counted.
var checkoutEvents = []subjects.EventKind{
	subjects.EvtOrderPlaced.EventKind,
	subjects.EvtInventoryReserved.EventKind, subjects.EvtStockLevel.EventKind,
	subjects.EvtOrderReserved.EventKind,
	subjects.EvtPaymentSucceeded.EventKind,
	subjects.EvtOrderPaid.EventKind,
	subjects.EvtInventoryCommitted.EventKind, subjects.EvtStockLevel.EventKind,
	subjects.EvtShipmentCreated.EventKind,
	subjects.EvtOrderFulfilling.EventKind,
}

// takes reports whether a declared consumer's filter takes events of kind k.
func takes(c bus.Consumer, k subjects.EventKind) bool {
	if c.Stream != k.Stream {
		return false
	}
	if len(c.Subjects) == 0 {
		return true
	}
	for _, f := range c.Subjects {
		if f == k.Filter() || (strings.HasSuffix(f, ".>") && strings.HasPrefix(k.Kind, strings.TrimSuffix(f, ">"))) {
			return true
		}
	}
	return false
}

// eventCounts is what a checkout asks of JetStream, from the declared consumers: messages
// stored (an interest stream skips an event no consumer takes) and deliveries (each stored
// message once per consumer that takes it).
func eventCounts() (stored, deliveries int) {
	for _, n := range perStream() {
		stored += n[0]
		deliveries += n[1]
	}
	return stored, deliveries
}

// perStream counts a checkout's stored messages and deliveries by stream.
func perStream() map[string][2]int {
	out := map[string][2]int{}
	for _, k := range checkoutEvents {
		n := 0
		for _, c := range bus.Consumers {
			if takes(c, k) {
				n++
			}
		}
		c := out[k.Stream]
		if n > 0 {
			c[0]++
		}
		c[1] += n
		out[k.Stream] = c
	}
	return out
}

// busiestStream is the stream a checkout publishes most to, and how many times.
func busiestStream() (name string, stored int) {
	for s, n := range perStream() {
		if n[0] > stored || (n[0] == stored && s < name) {
			name, stored = s, n[0]
		}
	}
	return name, stored
}

// Costs are the per-request costs the plan and the simulation use, in ms of a core.
type Costs struct {
	AppCheckout, NATSCheckout float64 // one checkout, NATS for the whole R3 cluster
	// PGCheckout is the larger of PostgreSQL's two costs of a checkout: its CPU as measured,
	// and its commits at pgbench's cost per commit (PGByCommits). The plan and the simulation
	// both use it.
	PGCheckout, PGByCPU, PGByCommits float64
	CachedRead, Search               float64 // app only
	UncachedApp, UncachedPG          float64 // an order-status poll, a cart read
	NATSPublishR3                    float64 // one R3 publish, cluster-wide (the cross-check)
	SignIn                           float64 // bcrypt, on the user service's nodes
	HotRow                           float64 // the sale SKU's row lock, per order
}

// costs turns the measured rates into per-request costs. A rate measured on the whole
// machine (load generator included) becomes machine time per request: cores / rate. That
// charges the request with wrk's share too, which errs on the safe side.
func costs(m Measured, w Workload) Costs {
	cores := float64(w.CoresPerNode)
	perReq := func(rate Figure) float64 { return cores * 1000 / rate.Value }
	uncached := perReq(m.UncachedReadsPerSecond)
	byCommits := m.CommitsPerCheckout.Value * perReq(m.PgbenchTxPerSecond)
	return Costs{
		AppCheckout:   m.SoukMsPerCheckout.Value * (1 - w.NATSShareOfSouk),
		PGCheckout:    math.Max(m.PGMsPerCheckout.Value, byCommits),
		PGByCPU:       m.PGMsPerCheckout.Value,
		PGByCommits:   byCommits,
		NATSCheckout:  m.SoukMsPerCheckout.Value * w.NATSShareOfSouk * w.ReplicaFactor,
		CachedRead:    perReq(m.CachedReadsPerSecond),
		Search:        perReq(m.CachedSearchesPerSecond),
		UncachedApp:   uncached * w.UncachedAppShare,
		UncachedPG:    uncached * (1 - w.UncachedAppShare),
		NATSPublishR3: perReq(m.R3PublishPerSecond),
		SignIn:        m.BcryptMs.Value,
		HotRow:        1000 / m.HotRowPerSecond.Value,
	}
}

// Rates are the sale's request rates per second at its peak minute.
type Rates struct {
	Checkouts, Reads, Searches, CartOps, Polls, SignIns float64
}

// peakShare is the largest share of the profile, and segment the seconds of one share.
func (w Workload) peak() (share, segment float64) {
	return slices.Max(w.Profile), w.Window / float64(len(w.Profile))
}

// peakRates spreads the sale's totals over the profile and takes its busiest segment.
func peakRates(w Workload) Rates {
	share, seg := w.peak()
	at := func(total float64) float64 { return total * share / seg }
	shoppers := w.Orders * w.ShoppersPerOrder
	return Rates{
		Checkouts: at(w.Orders),
		Reads:     at(shoppers * w.ReadsPerShopper),
		Searches:  at(shoppers * w.SearchesPerShopper),
		CartOps:   at(shoppers * w.CartOpsPerShopper),
		Polls:     at(w.Orders * w.StatusPollsPerOrder),
		SignIns:   at(shoppers * w.SignInShare),
	}
}

// Demand is the cores each pool is busy with at the peak.
type Demand struct {
	App, PGCPU, PGCommits, NATS, NATSByPublishes, SignIn, HotRowShare float64
	// StreamShare is the busiest stream's publishes at the peak over what one R3 stream took.
	StreamShare float64
}

// demand multiplies the peak rates by the costs (ms → cores: / 1000).
func demand(r Rates, c Costs, m Measured, w Workload) Demand {
	stored, _ := eventCounts()
	d := Demand{
		App: (r.Checkouts*c.AppCheckout + r.Reads*c.CachedRead + r.Searches*c.Search +
			(r.CartOps+r.Polls)*c.UncachedApp) / 1000,
		PGCPU:           (r.Checkouts*c.PGByCPU + r.Polls*c.UncachedPG) / 1000,
		PGCommits:       (r.Checkouts*c.PGByCommits + r.Polls*c.UncachedPG) / 1000,
		NATS:            (r.Checkouts*c.NATSCheckout + r.CartOps*c.NATSPublishR3) / 1000,
		NATSByPublishes: (r.Checkouts*float64(stored) + r.CartOps) * c.NATSPublishR3 / 1000,
		SignIn:          r.SignIns * c.SignIn / 1000,
	}
	_, perCheckout := busiestStream()
	d.StreamShare = r.Checkouts * float64(perCheckout) / m.R3PublishPerSecond.Value
	if w.HotSKU {
		d.HotRowShare = r.Checkouts * c.HotRow / 1000
	}
	return d
}

// Size is the plan: how many of each.
type Size struct {
	AppNodes, SignInNodes, PGCores, PGInstances, NATSServers int
	// StreamPartitions is how many subject partitions (a stream each) the busiest stream
	// needs; 1 is the stream as it is.
	StreamPartitions int
	// HotRowOver says the sale SKU's row, reserved in the saga's consumer batch, is busier
	// than planned: the reservation must go through the coalescing Reserver.
	HotRowOver bool
}

// nodes is the smallest count of nodes whose cores keep cores of work at or below the
// planned utilisation, plus the spares.
func nodes(cores float64, w Workload) int {
	return int(math.Ceil(cores/w.Utilisation/float64(w.CoresPerNode))) + w.Spare
}

// size turns the demand into the plan. PostgreSQL is sized by the larger of its two
// estimates (CPU, and commits at pgbench's rate per core), rounded up to an instance size
// (a power of two); past MaxPGCores it is partitioned. NATS is an R3 cluster: three
// servers at least, more when its work needs them.
func size(d Demand, w Workload) Size {
	pg := math.Max(d.PGCPU, d.PGCommits) / w.Utilisation
	cores := 2
	for float64(cores) < pg {
		cores *= 2
	}
	instances := 1
	if cores > w.MaxPGCores {
		instances = int(math.Ceil(pg / float64(w.MaxPGCores)))
		cores = w.MaxPGCores
	}
	nats := max(3, nodes(math.Max(d.NATS, d.NATSByPublishes), w)-w.Spare)
	nats += 1 - nats%2 // a cluster of an odd size keeps its quorum with the most servers lost
	return Size{AppNodes: nodes(d.App, w), SignInNodes: nodes(d.SignIn, w), PGCores: cores,
		PGInstances: instances, NATSServers: nats,
		StreamPartitions: int(math.Ceil(d.StreamShare / w.Utilisation)),
		HotRowOver:       d.HotRowShare > w.Utilisation}
}
