package main

// Measured holds every figure the plan takes from docs/performance.md, in one place. Each
// field's Source is a phrase copied from that file: the test TestSourcesAreInPerformanceMD
// fails when the phrase is gone (the figure was re-measured or reworded), and `capacity`
// prints the line it is on, so a reader can check each input where it was measured.
//
// Every figure was measured on the 2-core development machine, which is also what the plan
// calls a node. A "ms" below is milliseconds of one of its cores.
type Measured struct {
	// SoukMsPerCheckout is Souk's CPU (gateway, services and the embedded NATS server) per
	// checkout, from `top` while bench/checkout.sh ran.
	SoukMsPerCheckout Figure
	// PGMsPerCheckout is PostgreSQL's CPU per checkout, same run.
	PGMsPerCheckout Figure
	// CommitsPerCheckout counts PostgreSQL commits per checkout with fulfilment
	// (pg_stat_database over a measured window).
	CommitsPerCheckout Figure
	// RowWritesPerCheckout is inserts plus updates per checkout with fulfilment (25.6 + 21.4 and more).
	RowWritesPerCheckout Figure
	// PgbenchTxPerSecond is pgbench's TPC-B-like rate on the same machine and PostgreSQL, 64
	// clients, in the run of the checkout figure below.
	PgbenchTxPerSecond Figure
	// CheckoutsPerSecond is the whole shop's rate on one machine (load generator beside it).
	CheckoutsPerSecond Figure
	// UnloadedCheckoutMs is placed → paid with one customer: the latency no queue adds to.
	UnloadedCheckoutMs Figure
	// CachedReadsPerSecond is the cached product read through the HTTP API, whole machine.
	CachedReadsPerSecond Figure
	// UncachedReadsPerSecond is the product read with caching off (one primary-key row).
	UncachedReadsPerSecond Figure
	// CachedSearchesPerSecond is the cached search through the HTTP API.
	CachedSearchesPerSecond Figure
	// BcryptMs is one password hash at cost 12: a sign-in's CPU.
	BcryptMs Figure
	// HotRowPerSecond is pgbench updating one row, one update per transaction, 64 clients:
	// the worst case of one SKU that every order reserves.
	HotRowPerSecond Figure
	// HotSKUServicePerSecond is the coalescing Reserver through NATS on one SKU.
	HotSKUServicePerSecond Figure
	// R3PublishPerSecond is the lowest of three runs publishing to an R3 stream with 256 acks
	// in flight, the three servers sharing one (loaded) 2-core machine.
	R3PublishPerSecond Figure
	// HeldEventBytes is the NATS server's heap per message held in a stream, a subject per
	// entity, with a msg id.
	HeldEventBytes Figure
	// SteadyRSSMiB is the shop's resident memory levelled off in the 25-minute soak (high end).
	SteadyRSSMiB Figure
}

// Figure is one measured number and the phrase of docs/performance.md it comes from.
type Figure struct {
	// Value is the number the plan uses.
	Value float64
	// Source is a phrase of docs/performance.md, on one line, that states it.
	Source string
}

// measured returns the figures of docs/performance.md as of issue 17's round (e1757bb: the
// checkout's cost, the reads, the hot SKU and the soak re-measured on a quiet machine; the
// rest from issues 12–16). When a figure is re-measured, update its value and its Source,
// and run `go run ./bench/capacity`.
func measured() Measured {
	return Measured{
		SoukMsPerCheckout:       Figure{3.4, "a checkout is CPU: 3.4 ms of the shop's and 3.9 ms of PostgreSQL's per"},
		PGMsPerCheckout:         Figure{3.9, "a checkout is CPU: 3.4 ms of the shop's and 3.9 ms of PostgreSQL's per"},
		CommitsPerCheckout:      Figure{4.6, "| commits per order | 5.98 / 5.94 | 4.60 / 4.09 |"},
		RowWritesPerCheckout:    Figure{47.3, "72.5 → 47.3, −35 %"},
		PgbenchTxPerSecond:      Figure{3305, "| pgbench, same run | | 3 597 / 3 305 tx/s |"},
		CheckoutsPerSecond:      Figure{235, "| checkouts paid/s | 209 / 212 | 235 / 244 |"},
		UnloadedCheckoutMs:      Figure{53, "Unloaded (one customer) a checkout takes 53 ms"},
		CachedReadsPerSecond:    Figure{47630, "| product, cached | 47 630 req/s, p99 4.2 ms |"},
		UncachedReadsPerSecond:  Figure{20428, "| product, uncached | 20 428 req/s, p99 8.3 ms |"},
		CachedSearchesPerSecond: Figure{20897, "| search, cached | 20 897 req/s, **p99 7.8 ms** |"},
		BcryptMs:                Figure{240, "bcrypt at cost 12 (≈ 240 ms per hash here"},
		HotRowPerSecond:         Figure{2184, "2 184 reservations/s, the coalescing reserver 19 403/s"},
		HotSKUServicePerSecond:  Figure{11823, "11 823/s (5.4 ×, 30.1 requests per batch)"},
		R3PublishPerSecond:      Figure{6300, "| R3, default | 730 / 1.3k / 2.6k | 11k / 30k / 6.3k |"},
		HeldEventBytes:          Figure{558, "433 B of heap without a msg id, 558 B with one"},
		SteadyRSSMiB:            Figure{205, "**RSS levels off: 186–205 MiB from minute 6 to minute 30"},
	}
}

// figures lists the measured figures with their names, for printing and the source test.
func (m Measured) figures() []struct {
	Name string
	Figure
} {
	type named = struct {
		Name string
		Figure
	}
	return []named{
		{"Souk CPU per checkout (ms)", m.SoukMsPerCheckout},
		{"PostgreSQL CPU per checkout (ms)", m.PGMsPerCheckout},
		{"commits per checkout", m.CommitsPerCheckout},
		{"row writes per checkout", m.RowWritesPerCheckout},
		{"pgbench tx/s, 2 cores", m.PgbenchTxPerSecond},
		{"checkouts/s, one machine", m.CheckoutsPerSecond},
		{"unloaded placed → paid (ms)", m.UnloadedCheckoutMs},
		{"cached product reads/s", m.CachedReadsPerSecond},
		{"uncached product reads/s", m.UncachedReadsPerSecond},
		{"cached searches/s", m.CachedSearchesPerSecond},
		{"bcrypt per sign-in (ms)", m.BcryptMs},
		{"one hot row, pgbench/s", m.HotRowPerSecond},
		{"one hot SKU, Reserver via NATS/s", m.HotSKUServicePerSecond},
		{"R3 publishes/s (3 servers, 1 machine)", m.R3PublishPerSecond},
		{"NATS heap per held message (B)", m.HeldEventBytes},
		{"steady RSS per shop process (MiB)", m.SteadyRSSMiB},
	}
}

// Workload is what the plan assumes, not measures: the flash sale, what shoppers do, and
// how much room to leave. docs/capacity.md argues each value.
type Workload struct {
	// Customers is the registered customers.
	Customers float64
	// Orders placed during the sale, over Window seconds.
	Orders float64
	// Window is the sale's length in seconds.
	Window float64
	// Profile is the share of the sale's orders (and traffic) in each minute; it sums to 1.
	Profile []float64
	// ShoppersPerOrder is how many shoppers come for each order placed.
	ShoppersPerOrder float64
	// ReadsPerShopper, SearchesPerShopper, CartOpsPerShopper: what a shopper does in the sale.
	ReadsPerShopper, SearchesPerShopper, CartOpsPerShopper float64
	// StatusPollsPerOrder is how often a buyer's client asks for the order until it is paid.
	StatusPollsPerOrder float64
	// SignInShare is the share of shoppers who sign in (bcrypt) during the sale; the rest
	// hold a session from before.
	SignInShare float64
	// NATSShareOfSouk is the part of Souk's CPU per checkout that is the embedded NATS
	// server's (not measured apart).
	NATSShareOfSouk float64
	// ReplicaFactor is what R3 multiplies the NATS server's work by.
	ReplicaFactor float64
	// UncachedAppShare is the part of an uncached read's machine time spent outside
	// PostgreSQL.
	UncachedAppShare float64
	// Utilisation is the highest planned busy share of any resource at the peak.
	Utilisation float64
	// Spare is how many nodes a pool gets beyond need, so that losing one keeps the plan.
	Spare int
	// CoresPerNode is the node: this machine.
	CoresPerNode int
	// MaxPGCores is the largest PostgreSQL instance the plan allows before it partitions.
	MaxPGCores int
	// HotSKU is true when every order of the sale reserves the same SKU (the worst case).
	HotSKU bool
	// TargetP95Ms is the placed → paid p95 the planned size must hold (issue 17's target).
	TargetP95Ms float64
}

// flashSale is the sale of issue 17 item 5, and the assumptions docs/capacity.md states.
func flashSale() Workload {
	return Workload{
		Customers: 1_000_000, Orders: 100_000, Window: 600,
		// A rush in the first minute, a second wave, then a steady tail.
		Profile:          []float64{0.25, 0.15, 0.075, 0.075, 0.075, 0.075, 0.075, 0.075, 0.075, 0.075},
		ShoppersPerOrder: 3, ReadsPerShopper: 20, SearchesPerShopper: 2, CartOpsPerShopper: 2,
		StatusPollsPerOrder: 5, SignInShare: 0.05,
		NATSShareOfSouk: 0.2, ReplicaFactor: 3, UncachedAppShare: 0.55,
		Utilisation: 0.7, Spare: 1, CoresPerNode: 2, MaxPGCores: 16,
		HotSKU: true, TargetP95Ms: 250,
	}
}
