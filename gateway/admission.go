package gateway

import (
	"hash/maphash"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
	// HeldRetries bounds the refused reads held until their Retry-After is up: a client
	// (by its Authorization header, else its address) that asks again before the Retry-After
	// of its last refusal gets its next refusal when that time is up, not at once, so a
	// poller that ignores Retry-After polls about twice a second instead of as fast as the
	// refusals come. A client that honours Retry-After is refused at once as before. 1024
	// when zero, negative for none held (every refusal at once).
	HeldRetries int
}

// withDefaults fills the zero bounds.
func (a Admission) withDefaults() Admission {
	if a.MaxReads == 0 {
		a.MaxReads = 2 * runtime.GOMAXPROCS(0)
	}
	if a.MaxWrites == 0 {
		a.MaxWrites = 512
	}
	if a.HeldRetries == 0 {
		a.HeldRetries = 1024
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
	// early holds the refusals of clients that ignore Retry-After; nil holds none.
	early *earlyRetries
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

// admitRetryAfter is the Retry-After of an admission refusal, in seconds: the shop is busy
// for a moment, not for minutes.
const admitRetryAfter = 1

// newAdmitter returns the bound of max requests (nil, no bound, when max is negative),
// holding up to held refusals of clients that ignore Retry-After (none when held is not
// positive).
func newAdmitter(max, held int, slug string) *admitter {
	if max < 0 {
		return nil
	}
	a := &admitter{max: int64(max), refusal: &shed{err: &subjects.Error{Code: fiber.StatusServiceUnavailable, Slug: slug,
		Message: "the shop is busy; retry after the time in Retry-After", RetryAfter: admitRetryAfter}}}
	if held > 0 {
		a.early = newEarlyRetries(held, admitRetryAfter*time.Second)
	}
	return a
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

// enter takes a slot, or returns the 503 to answer; the caller calls leave after a nil, and
// refused after the 503.
func (a *admitter) enter() error {
	if a.inFlight.Add(1) > a.max {
		a.inFlight.Add(-1)
		return a.refusal
	}
	return nil
}

// refused returns when the refusal of the client key may be answered: at once, unless it
// asked again before its last refusal's Retry-After was up (see Admission.HeldRetries).
func (a *admitter) refused(key []byte) {
	if a.early != nil {
		a.early.hold(key)
	}
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

// earlyRetries remembers, per client, when the Retry-After of its last admission refusal is
// up, and holds the refusal of a client that comes back before that until it is: the poller
// that ignores Retry-After then costs two requests a second, not a hundred. Why hold rather
// than refuse faster: a refusal's cost is the HTTP work of the request (parsing, the
// answer, the syscalls on both ends), which no earlier check avoids; only fewer requests
// save it, and only the client can send fewer, which it does while it waits for an answer.
// A held refusal is a sleeping goroutine; at most max are held at once, beyond that a
// refusal comes at once. The memory of clients is bounded too: entries whose time is up are
// dropped when it fills, and if all are live it starts afresh (at worst a client is refused
// at once once more).
type earlyRetries struct {
	seed  maphash.Seed
	after time.Duration
	max   int64
	held  atomic.Int64

	mu sync.Mutex
	// until is when each client's Retry-After is up, by the hash of its key.
	until map[uint64]time.Time
}

// earlyKeys bounds the clients earlyRetries remembers.
const earlyKeys = 100_000

func newEarlyRetries(max int, after time.Duration) *earlyRetries {
	return &earlyRetries{seed: maphash.MakeSeed(), after: after, max: int64(max), until: make(map[uint64]time.Time)}
}

// hold returns when the refusal of the client key may be answered: at once for a client
// refused for the first time in a while, or when the Retry-After of its last refusal is up.
func (e *earlyRetries) hold(key []byte) {
	k := maphash.Bytes(e.seed, key)
	now := time.Now()
	e.mu.Lock()
	up, seen := e.until[k]
	if !seen || !now.Before(up) {
		if len(e.until) >= earlyKeys {
			e.prune(now)
		}
		e.until[k] = now.Add(e.after)
		e.mu.Unlock()
		return
	}
	e.mu.Unlock()
	if e.held.Add(1) > e.max {
		e.held.Add(-1)
		return
	}
	defer e.held.Add(-1)
	time.Sleep(up.Sub(now))
}

// prune drops the entries whose time is up, or all of them when none is; the caller holds mu.
func (e *earlyRetries) prune(now time.Time) {
	for k, up := range e.until {
		if !now.Before(up) {
			delete(e.until, k)
		}
	}
	if len(e.until) >= earlyKeys {
		clear(e.until)
	}
}

// clientKey names the client of a request for earlyRetries: its Authorization header (one
// token, one client; unverified, as a refusal comes before the check, so a forged header is
// merely a client of its own), else its address.
func (g *Gateway) clientKey(c *fiber.Ctx, st *state) []byte {
	if h := c.Request().Header.Peek(fiber.HeaderAuthorization); len(h) > 0 {
		return h
	}
	return st.clientAddr(c, g.cfg.TrustProxy)
}
