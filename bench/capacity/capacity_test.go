package main

import (
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// erlangC is the probability that an arrival waits in an M/M/c queue with offered load a
// (arrival rate / service rate) on c servers: the closed form the simulation must agree with.
func erlangC(c int, a float64) float64 {
	sum, term := 0.0, 1.0 // term = a^k / k!
	for k := 0; k < c; k++ {
		sum += term
		term *= a / float64(k+1)
	}
	last := term * float64(c) / (float64(c) - a) // a^c / c! · c / (c − a)
	return last / (sum + last)
}

// An M/M/c queue simulated by a Station (Poisson arrivals as its background stream,
// exponential service) waits as long on average as Erlang C says, at several loads.
func TestStationMatchesErlangC(t *testing.T) {
	for _, tc := range []struct {
		c   int
		rho float64
	}{{1, 0.5}, {4, 0.8}, {16, 0.9}} {
		mu := 1.0 // one job per second per server
		lambda := tc.rho * float64(tc.c) * mu
		horizon := 400_000 / lambda // about 400 000 arrivals
		s := newStation("mmc", tc.c, nil, horizon, rand.New(rand.NewPCG(1, 2)))
		s.addStream(lambda, 1/mu)
		s.drain(horizon)
		a := lambda / mu
		want := erlangC(tc.c, a) / (float64(tc.c)*mu - lambda)
		got := s.waits.mean()
		if math.Abs(got-want)/want > 0.06 {
			t.Errorf("M/M/%d at ρ=%.1f: mean wait %.4f s, Erlang C says %.4f s", tc.c, tc.rho, got, want)
		}
		if u := s.Utilisation(0); math.Abs(u-tc.rho) > 0.01 {
			t.Errorf("M/M/%d at ρ=%.1f: utilisation %.3f", tc.c, tc.rho, u)
		}
	}
}

// The background streams follow the profile: a segment with a quarter of the traffic gets a
// quarter of the arrivals.
func TestProfileShapesArrivals(t *testing.T) {
	profile := []float64{0.25, 0.75}
	s := newStation("p", 1000, profile, 10, rand.New(rand.NewPCG(3, 4)))
	s.addStream(10_000, 1e-9) // 10 000/s at share 1/len(profile): 200 000 arrivals in 20 s
	s.drain(20)
	if n := float64(s.count); math.Abs(n-200_000)/200_000 > 0.01 {
		t.Fatalf("%.0f arrivals, want about 200 000", n)
	}
	first := s.busy[0] / (s.busy[0] + s.busy[1])
	if math.Abs(first-0.25) > 0.01 {
		t.Fatalf("first segment took %.3f of the work, want 0.25", first)
	}
}

// The plan's arithmetic, checked by hand (issue 17's figures): 25 % of 100 000 orders in a
// minute is 416.7 checkouts/s; at 3.9 ms of PostgreSQL each plus 2 083 polls/s at 0.044 ms
// that is 1.72 cores, and 1 917 commits/s at 1 652 pgbench transactions per core is 1.16
// (1.25 with the polls); 1.72 / 0.7 = 2.5 → 4.
func TestPlanArithmetic(t *testing.T) {
	m, w := measured(), flashSale()
	r := peakRates(w)
	if math.Abs(r.Checkouts-416.67) > 0.01 {
		t.Fatalf("peak checkouts %.2f/s", r.Checkouts)
	}
	d := demand(r, costs(m, w), m, w)
	if math.Abs(d.PGCommits-1.252) > 0.01 || math.Abs(d.PGCPU-1.717) > 0.01 {
		t.Fatalf("PostgreSQL demand: %.3f cores by commits, %.3f by CPU", d.PGCommits, d.PGCPU)
	}
	sz := size(d, w)
	if sz.PGCores != 4 || sz.PGInstances != 1 || sz.NATSServers != 3 {
		t.Fatalf("plan %+v", sz)
	}
	// App: 2.67 cores / 0.7 / 2 = 1.9 → 2 nodes, and one spare.
	if sz.AppNodes != 3 {
		t.Fatalf("app nodes %d for %.2f cores", sz.AppNodes, d.App)
	}
	w.Orders *= 10 // a sale ten times bigger needs more than one 16-core PostgreSQL
	big := size(demand(peakRates(w), costs(m, w), m, w), w)
	if big.PGInstances < 2 || big.PGCores != w.MaxPGCores {
		t.Fatalf("ten times the sale: %+v", big)
	}
}

// At the planned size the sale holds the target, and with PostgreSQL at a quarter of it the
// queue runs away: the simulation sees the knee the arithmetic predicts. Same seed, same
// result.
func TestSimulationKnee(t *testing.T) {
	m, w := measured(), flashSale()
	w.Orders, w.ShoppersPerOrder = 20_000, 0.5 // smaller and without most reads: quick
	w.Profile = []float64{0.5, 0.5}
	w.Window = 40 // 500 checkouts/s
	sz := Size{AppNodes: 4, SignInNodes: 1, PGCores: 8, PGInstances: 1, NATSServers: 3}
	ok := simulate(sz, m, w, 1)
	if ok.P95 > w.TargetP95Ms {
		t.Fatalf("planned size: p95 %.0f ms", ok.P95)
	}
	if again := simulate(sz, m, w, 1); again.P95 != ok.P95 || again.P50 != ok.P50 {
		t.Fatalf("not deterministic: %v then %v", ok.P95, again.P95)
	}
	// PostgreSQL a core short of the work: 500 × its cost per checkout (3.9 ms of CPU since
	// issue 17, the larger of CPU and commits) = 1.95 cores of work on 1.
	pg := costs(m, w).PGCheckout
	sz.PGCores = int(500 * pg / 1000) // cores of work, rounded down: fewer than needed
	if sz.PGCores < 1 || float64(sz.PGCores) >= 500*pg/1000 {
		t.Fatalf("PostgreSQL's cost per checkout %.2f ms leaves no under-provisioned size below 500/s", pg)
	}
	bad := simulate(sz, m, w, 1)
	if bad.P95 < 10*ok.P95 || bad.Util["postgresql"] < 0.99 {
		t.Fatalf("under-provisioned: p95 %.0f ms, PostgreSQL busy %.2f", bad.P95, bad.Util["postgresql"])
	}
}

// The unloaded checkout in the simulation takes the measured unloaded time.
func TestUnloadedCheckoutIsCalibrated(t *testing.T) {
	m, w := measured(), flashSale()
	w.Orders, w.ShoppersPerOrder, w.Window, w.Profile = 200, 0, 200, []float64{1}
	w.HotSKU = false
	r := simulate(Size{AppNodes: 8, SignInNodes: 1, PGCores: 16, PGInstances: 1, NATSServers: 6}, m, w, 5)
	if math.Abs(r.P50-m.UnloadedCheckoutMs.Value) > 0.15*m.UnloadedCheckoutMs.Value {
		t.Fatalf("unloaded p50 %.1f ms, measured %.0f", r.P50, m.UnloadedCheckoutMs.Value)
	}
}

// Every input's source phrase is in docs/performance.md. When this fails, a figure was
// re-measured or its line reworded: update inputs.go and run the plan again.
func TestSourcesAreInPerformanceMD(t *testing.T) {
	b, err := os.ReadFile("../../docs/performance.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range measured().figures() {
		if !strings.Contains(string(b), f.Source) {
			t.Errorf("%s: %q is no longer in docs/performance.md", f.Name, f.Source)
		}
	}
}

// A checkout's JetStream work comes from the declared consumers: order.placed alone goes to
// five of them.
func TestEventCounts(t *testing.T) {
	stored, deliveries := eventCounts()
	if stored < 8 || deliveries < stored {
		t.Fatalf("stored %d, deliveries %d", stored, deliveries)
	}
}
