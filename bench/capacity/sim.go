package main

import (
	"container/heap"
	"math/rand/v2"
	"slices"
)

// stage is one step of a checkout: a wait that no CPU explains (the relay's kick, a
// consumer's fetch, the network), then the NATS server, the service, the hot row when the
// stage reserves it, and PostgreSQL. The shares say which part of a checkout's measured CPU
// each step takes; each column sums to 1. They follow the code's transactions per step (the
// payment step is three, docs/performance.md "Where the time of one checkout goes"); the
// split is assumed, the totals are measured.
type stage struct {
	Name            string
	App, PG, NATS   float64
	Hot, Paid, Wait bool // reserves the hot row; ends the measured latency; has the fixed wait
}

var stages = []stage{
	{Name: "POST /v1/orders", App: 0.30, PG: 0.17, NATS: 0.15, Wait: true},
	{Name: "inventory reserves", App: 0.10, PG: 0.13, NATS: 0.10, Hot: true, Wait: true},
	{Name: "order reserved", App: 0.08, PG: 0.10, NATS: 0.10, Wait: true},
	{Name: "payment charges", App: 0.20, PG: 0.23, NATS: 0.20, Wait: true},
	{Name: "order paid", App: 0.08, PG: 0.10, NATS: 0.10, Paid: true, Wait: true},
	{Name: "fulfilment, notices", App: 0.24, PG: 0.27, NATS: 0.35},
}

// fixedWait is the wait per waiting stage that makes an unloaded checkout take the measured
// unloaded time: that time less the service on the path to paid, spread evenly.
func fixedWait(c Costs, m Measured, w Workload) float64 {
	var service float64
	waits := 0
	for _, s := range stages {
		service += s.App*c.AppCheckout + s.PG*c.PGCheckout + s.NATS*c.NATSCheckout
		if s.Hot && w.HotSKU {
			service += c.HotRow
		}
		if s.Wait {
			waits++
		}
		if s.Paid {
			break
		}
	}
	return max(0, m.UnloadedCheckoutMs.Value-service) / float64(waits) / 1000
}

// Result is one simulated sale.
type Result struct {
	Size                                    Size
	P50, P95, P99                           float64 // placed → paid, ms, every order
	PeakP95                                 float64 // placed → paid p95 of the orders placed in the busiest segment
	Late                                    float64 // share of orders whose placed → paid passed the target
	LateUntil                               float64 // seconds into the sale when the last of them was placed
	Util                                    map[string]float64
	ReadWaitP99, SignInWaitP95, HotWaitMean float64 // ms
}

// event is one checkout arriving at its next station.
type event struct {
	t        float64
	seq      int
	order    int
	stage    int
	visit    int
	placedAt float64
}

type events []event

func (h events) Len() int { return len(h) }
func (h events) Less(i, j int) bool {
	return h[i].t < h[j].t || (h[i].t == h[j].t && h[i].seq < h[j].seq)
}
func (h events) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *events) Push(x any)   { *h = append(*h, x.(event)) }
func (h *events) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// pools are the stations of one simulated shop.
type pools struct {
	app, pg, nats, signIn, hot *Station
}

// build makes the stations of size, with the sale's background traffic on them.
func build(sz Size, c Costs, w Workload, rng *rand.Rand) pools {
	share, seg := w.peak()
	r := peakRates(w)
	base := func(peak float64) float64 { return peak / (share * float64(len(w.Profile))) }
	cores := w.CoresPerNode
	p := pools{
		app:    newStation("app", sz.AppNodes*cores, w.Profile, seg, rng),
		pg:     newStation("postgresql", sz.PGCores*sz.PGInstances, w.Profile, seg, rng),
		nats:   newStation("nats", sz.NATSServers*cores, w.Profile, seg, rng),
		signIn: newStation("sign-in", sz.SignInNodes*cores, w.Profile, seg, rng),
		hot:    newStation("hot row", 1, w.Profile, seg, rng),
	}
	ms := func(v float64) float64 { return v / 1000 }
	p.app.addStream(base(r.Reads), ms(c.CachedRead))
	p.app.addStream(base(r.Searches), ms(c.Search))
	p.app.addStream(base(r.CartOps+r.Polls), ms(c.UncachedApp))
	p.pg.addStream(base(r.Polls), ms(c.UncachedPG))
	p.nats.addStream(base(r.CartOps), ms(c.NATSPublishR3))
	p.signIn.addStream(base(r.SignIns), ms(c.SignIn))
	return p
}

// arrivals places the sale's orders: the profile's share of them in each segment, at
// uniform times within it (a Poisson process given its count), sorted.
func arrivals(w Workload, rng *rand.Rand) []float64 {
	_, seg := w.peak()
	var ts []float64
	for i, share := range w.Profile {
		n := int(share*w.Orders + 0.5)
		for range n {
			ts = append(ts, (float64(i)+rng.Float64())*seg)
		}
	}
	slices.Sort(ts)
	return ts
}

// simulate runs the sale on a shop of size sz and reports what its customers see. seed makes
// it repeatable.
func simulate(sz Size, m Measured, w Workload, seed uint64) Result {
	rng := rand.New(rand.NewPCG(seed, 1))
	c := costs(m, w)
	p := build(sz, c, w, rng)
	wait := fixedWait(c, m, w)
	ts := arrivals(w, rng)
	q := &events{}
	for i, t := range ts {
		heap.Push(q, event{t: t, seq: i, order: i, placedAt: t})
	}
	seq := len(ts)
	share, seg := w.peak()
	peakSeg := slices.Index(w.Profile, share)
	var lat, peak []float64
	var late, lateUntil float64
	var hot histogram
	for q.Len() > 0 {
		e := heap.Pop(q).(event)
		st := stages[e.stage]
		next, done := e.t, false
		switch e.visit {
		case 0:
			if st.Wait {
				next += wait
			}
		case 1:
			next = p.nats.Visit(e.t, st.NATS*c.NATSCheckout/1000)
		case 2:
			next = p.app.Visit(e.t, st.App*c.AppCheckout/1000)
		case 3:
			if st.Hot && w.HotSKU {
				p.hot.drain(e.t)
				var hw float64
				next, hw = p.hot.serve(e.t, rng.ExpFloat64()*c.HotRow/1000)
				hot.add(hw)
			}
		case 4:
			next, done = p.pg.Visit(e.t, st.PG*c.PGCheckout/1000), true
		}
		if done && st.Paid {
			ms := (next - e.placedAt) * 1000
			lat = append(lat, ms)
			if int(e.placedAt/seg) == peakSeg {
				peak = append(peak, ms)
			}
			if ms > w.TargetP95Ms {
				late++
				lateUntil = max(lateUntil, e.placedAt)
			}
		}
		e.t, e.visit, e.seq = next, e.visit+1, seq
		seq++
		if done {
			e.stage, e.visit = e.stage+1, 0
		}
		if e.stage < len(stages) {
			heap.Push(q, e)
		}
	}
	res := result(sz, p, lat, peak, peakSeg, &hot)
	res.Late, res.LateUntil = late/float64(max(1, len(lat))), lateUntil
	return res
}

// result summarises a run.
func result(sz Size, p pools, lat, peak []float64, peakSeg int, hot *histogram) Result {
	for _, s := range []*Station{p.app, p.pg, p.nats, p.signIn, p.hot} {
		s.drain(float64(len(s.busy)) * s.segment)
	}
	slices.Sort(lat)
	slices.Sort(peak)
	r := Result{Size: sz, P50: quantile(lat, 0.5), P95: quantile(lat, 0.95), P99: quantile(lat, 0.99),
		PeakP95: quantile(peak, 0.95), Util: map[string]float64{},
		ReadWaitP99: p.app.waits.quantile(0.99) * 1000, SignInWaitP95: p.signIn.waits.quantile(0.95) * 1000,
		HotWaitMean: hot.mean() * 1000}
	for _, s := range []*Station{p.app, p.pg, p.nats, p.signIn, p.hot} {
		r.Util[s.Name] = s.Utilisation(peakSeg)
	}
	return r
}

// quantile of sorted values; 0 for none.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := min(len(sorted)-1, int(q*float64(len(sorted))))
	return sorted[i]
}
