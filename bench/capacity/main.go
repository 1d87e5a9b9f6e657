// Command capacity is Souk's capacity plan as a program (docs/capacity.md): it turns the
// figures measured in docs/performance.md into the nodes, PostgreSQL cores and NATS servers a
// flash sale needs, then runs the sale through a discrete-event simulation of that shop —
// every order's checkout through the gateway and services, the NATS servers, the sale SKU's
// row and PostgreSQL, beside the sale's reads, polls and sign-ins — to show the latency at
// the planned size and the knee below it.
//
// It is deterministic (-seed) and takes seconds. Run it from the repository's root:
//
//	go run ./bench/capacity                 # the plan, then the simulation
//	go run ./bench/capacity -orders 250000  # a bigger sale, same ten minutes
//
// When a figure is measured again, change it in inputs.go (its value and Source) and run
// it again: the plan and docs/capacity.md's tables are its output.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
)

func main() {
	seed := flag.Uint64("seed", 17, "the simulation's random seed")
	orders := flag.Float64("orders", 0, "orders in the sale (default: the plan's 100 000)")
	perf := flag.String("performance", "docs/performance.md", "where the figures' sources are")
	flag.Parse()
	w := flashSale()
	if *orders > 0 {
		w.Orders = *orders
	}
	report(os.Stdout, measured(), w, *perf, *seed)
}

// report prints the inputs, the arithmetic, the plan and the simulations.
func report(out io.Writer, m Measured, w Workload, perf string, seed uint64) {
	lines := sourceLines(perf)
	fmt.Fprintln(out, "## Measured (docs/performance.md)")
	fmt.Fprintln(out, "| figure | value | line |\n|---|---|---|")
	for _, f := range m.figures() {
		fmt.Fprintf(out, "| %s | %g | %s |\n", f.Name, f.Value, lines[f.Source])
	}
	c, r := costs(m, w), peakRates(w)
	d := demand(r, c, m, w)
	sz := size(d, w)
	stored, deliveries := eventCounts()
	printArithmetic(out, m, w, c, r, d, stored, deliveries)
	fmt.Fprintf(out, "\n## Plan\n%d app nodes (+%d spare included), %d sign-in nodes, PostgreSQL %d × %d cores, %d NATS servers (R3), %d partition(s) of the busiest stream\n",
		sz.AppNodes, w.Spare, sz.SignInNodes, sz.PGInstances, sz.PGCores, sz.NATSServers, sz.StreamPartitions)
	if sz.HotRowOver {
		fmt.Fprintf(out, "the sale SKU's row would be %.0f %% busy in the saga's batches: reserve through the coalescing Reserver (%.0f/s measured)\n",
			100*d.HotRowShare, m.HotSKUServicePerSecond.Value)
	}
	fmt.Fprintln(out, "\n## Simulated sale")
	fmt.Fprintln(out, "| shop | placed → paid p50 / p95 / p99 ms | peak-minute p95 ms | orders over target (until s) | busy at peak: app · pg · nats · hot row | read wait p99 ms | sign-in wait p95 ms |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|")
	for _, s := range scenarios(sz, d, w) {
		res := simulate(s.size, m, w, seed)
		fmt.Fprintf(out, "| %s | %.0f / %.0f / %.0f | %.0f | %.1f %% (%.0f) | %.0f %% · %.0f %% · %.0f %% · %.0f %% | %.1f | %.0f |\n",
			s.name, res.P50, res.P95, res.P99, res.PeakP95, 100*res.Late, res.LateUntil,
			100*res.Util["app"], 100*res.Util["postgresql"], 100*res.Util["nats"], 100*res.Util["hot row"],
			res.ReadWaitP99, res.SignInWaitP95)
	}
}

// printArithmetic shows each step from the figures to the plan.
func printArithmetic(out io.Writer, m Measured, w Workload, c Costs, r Rates, d Demand, stored, deliveries int) {
	share, seg := w.peak()
	stream, perCheckout := busiestStream()
	fmt.Fprintf(out, "\n## Arithmetic\npeak: %.0f %% of %.0f orders in %.0f s = %.1f checkouts/s (mean %.1f/s)\n",
		100*share, w.Orders, seg, r.Checkouts, w.Orders/w.Window)
	fmt.Fprintf(out, "peak reads/s %.0f, searches/s %.0f, cart ops/s %.0f, status polls/s %.0f, sign-ins/s %.1f\n",
		r.Reads, r.Searches, r.CartOps, r.Polls, r.SignIns)
	fmt.Fprintf(out, "costs (ms of a core): checkout app %.2f, PostgreSQL %.2f (CPU %.2f, commits %.2f), NATS R3 %.2f; cached read %.3f, search %.3f, "+
		"uncached app %.3f + PostgreSQL %.3f; R3 publish %.3f; sign-in %.0f; hot row %.2f\n",
		c.AppCheckout, c.PGCheckout, c.PGByCPU, c.PGByCommits, c.NATSCheckout, c.CachedRead, c.Search, c.UncachedApp, c.UncachedPG,
		c.NATSPublishR3, c.SignIn, c.HotRow)
	fmt.Fprintf(out, "a checkout stores %d JetStream messages (%d in %s) and delivers %d (nats/bus.Consumers)\n",
		stored, perCheckout, stream, deliveries)
	fmt.Fprintf(out, "cores busy at the peak: app %.2f, PostgreSQL %.2f by CPU and %.2f by commits (%.0f commits/s at %.0f pgbench tx/s per core, and the polls), "+
		"NATS %.2f (%.2f by R3 publishes), sign-in %.2f; hot row busy %.0f %%; busiest stream %s at %.0f %% of one R3 stream\n",
		d.App, d.PGCPU, d.PGCommits, r.Checkouts*m.CommitsPerCheckout.Value, m.PgbenchTxPerSecond.Value/float64(w.CoresPerNode),
		d.NATS, d.NATSByPublishes, d.SignIn, 100*d.HotRowShare, stream, 100*d.StreamShare)
	one := func(pg float64) float64 { return float64(w.CoresPerNode) * 1000 / (m.SoukMsPerCheckout.Value + pg) }
	fmt.Fprintf(out, "check: one node running everything tops out at %d × 1000 / (%.0f + PostgreSQL) = %.0f checkouts/s by CPU, %.0f by commits; measured %.0f with the load generator beside it\n",
		w.CoresPerNode, m.SoukMsPerCheckout.Value, one(c.PGByCPU), one(c.PGByCommits), m.CheckoutsPerSecond.Value)
}

// scenario is one shop to simulate.
type scenario struct {
	name string
	size Size
}

// scenarios are the plan, and below it until the knee: fewer app nodes, a smaller
// PostgreSQL, sign-in nodes just enough and one fewer.
func scenarios(sz Size, d Demand, w Workload) []scenario {
	out := []scenario{{"plan", sz}}
	for n := sz.AppNodes - 1; n >= max(1, sz.AppNodes-3); n-- {
		s := sz
		s.AppNodes = n
		out = append(out, scenario{fmt.Sprintf("%d app nodes", n), s})
	}
	for _, cores := range []int{sz.PGCores * 3 / 4, sz.PGCores / 2} {
		s := sz
		s.PGCores = cores
		out = append(out, scenario{fmt.Sprintf("PostgreSQL %d cores", cores), s})
	}
	just := int(math.Ceil(d.SignIn / float64(w.CoresPerNode)))
	for _, n := range []int{just, just - 1} {
		s := sz
		s.SignInNodes = n
		out = append(out, scenario{fmt.Sprintf("%d sign-in nodes", n), s})
	}
	return out
}

// sourceLines finds each source phrase's line in the performance document: "L<n>", or "?"
// when the phrase is not there.
func sourceLines(path string) map[string]string {
	out := map[string]string{}
	for _, f := range measured().figures() {
		out[f.Source] = "?"
	}
	file, err := os.Open(path)
	if err != nil {
		return out
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		for src, at := range out {
			if at == "?" && strings.Contains(sc.Text(), src) {
				out[src] = fmt.Sprintf("L%d", n)
			}
		}
	}
	return out
}
