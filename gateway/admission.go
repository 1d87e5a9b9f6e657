package gateway

import (
	"runtime"
	"strings"
	"sync/atomic"

	"github.com/gofiber/fiber/v2"

	"github.com/souk/souk/platform/liveconfig"
	"github.com/souk/souk/subjects"
)

// Admission bounds the requests the gateway lets into the shop at once, per class, so that
// a storm of one kind cannot take the connections and CPU the saga's event handling needs.
// A request over its class's bound is refused at once, before its token is verified, with a
// 503 and Retry-After: a fast refusal the client can act on, instead of a place in a queue
// that ends in a timeout while it holds a database connection.
//
// Reads are shed first: signed-in reads (order, payment, shipment, profile polls, each a
// database query behind the gateway) have a small bound, a fraction of the database pool,
// while writes (a checkout, a payment) have a large one that only keeps queues finite.
// Public reads (the catalog, answered from the catalog's cache) and event streams are not
// counted: the per-IP rate limit is their bound, and a stream holds its slot for minutes.
type Admission struct {
	// MaxReads bounds signed-in reads (GET of a protected route) in flight; 2 per core when
	// zero, negative for no bound.
	MaxReads int
	// MaxWrites bounds writes (every method but GET and HEAD) in flight; 512 when zero,
	// negative for no bound.
	MaxWrites int
}

// withDefaults fills the zero bounds.
func (a Admission) withDefaults() Admission {
	if a.MaxReads == 0 {
		a.MaxReads = 2 * runtime.GOMAXPROCS(0)
	}
	if a.MaxWrites == 0 {
		a.MaxWrites = 512
	}
	return a
}

// admitter is one class's bound: a counter of requests in flight, no lock and no queue.
type admitter struct {
	max      int64
	inFlight atomic.Int64
	// refusal is the answer over the bound, built once: a storm is refused without
	// allocating for it.
	refusal error
}

// shed is a request refused by an admission bound, or by a feature switched off. errorHandler
// answers it 503 like any other but does not log it: the metrics count refusals, and a line
// per refusal would be a write per storm request, the very work shedding saves.
type shed struct {
	err *subjects.Error
	// shown keeps the slug and message in the problem, where every other 5xx is masked: they
	// say the operator paused the feature, nothing of what broke.
	shown bool
}

func (s *shed) Error() string { return s.err.Error() }
func (s *shed) Unwrap() error { return s.err }

// newAdmitter returns the bound of max requests (nil, no bound, when max is negative).
func newAdmitter(max int, slug string) *admitter {
	if max < 0 {
		return nil
	}
	return &admitter{max: int64(max), refusal: &shed{err: &subjects.Error{Code: fiber.StatusServiceUnavailable, Slug: slug,
		Message: "the shop is busy; retry after the time in Retry-After", RetryAfter: 1}}}
}

// pausedRetry is the Retry-After of a paused feature: a pause is an operator's decision,
// measured in minutes, not a blip.
const pausedRetry = 60

// feature is rt's live switch (nil when rt has none) and the answer while it is off.
func (g *Gateway) feature(rt *Route) (*liveconfig.Value[bool], error) {
	name := rt.Feature.Name()
	if name == "" {
		return nil, nil
	}
	what := strings.TrimPrefix(name, "features.")
	return rt.Feature.Bind(g.deps.Live, true), &shed{err: &subjects.Error{Code: fiber.StatusServiceUnavailable, Slug: what + "_paused",
		Message: what + " is paused by the shop's operator; retry later", RetryAfter: pausedRetry}, shown: true}
}

// enter takes a slot, or returns the 503 to answer; the caller calls leave after a nil.
func (a *admitter) enter() error {
	if a.inFlight.Add(1) > a.max {
		a.inFlight.Add(-1)
		return a.refusal
	}
	return nil
}

// leave frees the slot enter took.
func (a *admitter) leave() { a.inFlight.Add(-1) }

// admitterOf picks the bound route rt counts against: nil when it is not bounded.
func (g *Gateway) admitterOf(rt *Route) *admitter {
	switch {
	case rt.Method != fiber.MethodGet && rt.Method != fiber.MethodHead:
		return g.writes
	case rt.Access.IsPublic() || rt.Call.media == "text/event-stream":
		return nil
	default:
		return g.reads
	}
}
