// Package background runs a service's loops beside its endpoints: the outbox relay, the
// event consumers, workers and sweepers. They run on a context detached from the service's,
// so that they keep working while the endpoints drain at shutdown, and are stopped after.
//
// A loop never dies silently: one that returns before Stop, with an error or without, or
// panics, is logged and started again after an exponential back-off, forever. The group
// knows each loop's state (Loops, Health), so that the service can say it is not ready
// while one of its loops is down: a consumer whose start failed is a shop that accepts
// orders nobody processes.
package background

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// The default back-off: a loop that failed is started again after MinBackoff, doubling per
// failure in a row up to MaxBackoff; one that ran for ResetAfter before it failed starts
// again from MinBackoff. 250 ms rides out a blip without a thundering herd of restarts; 30 s
// caps how long a fixed cause (a stream created, a database back) stays unnoticed. A loop
// restarted after a failure counts as up once it has run for DefaultSettle, longer than a
// consumer's 10 s start-up timeout, so that a loop failing at each slow start does not look
// up between its failures.
const (
	DefaultMinBackoff = 250 * time.Millisecond
	DefaultMaxBackoff = 30 * time.Second
	DefaultResetAfter = time.Minute
	DefaultSettle     = 15 * time.Second
)

// Group is one service's loops.
type Group struct {
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	log     zerolog.Logger
	backoff Backoff

	mu    sync.Mutex
	loops []*loop // in the order they were added, for a stable report
}

// Backoff bounds the waits before a failed loop is started again.
type Backoff struct {
	// Min is the first wait; DefaultMinBackoff when zero.
	Min time.Duration
	// Max caps the doubling; DefaultMaxBackoff when zero.
	Max time.Duration
	// ResetAfter is how long a loop must have run before it failed for the wait to start
	// again from Min; DefaultResetAfter when zero.
	ResetAfter time.Duration
	// Settle is how long a loop restarted after a failure must run before it counts as up
	// again; DefaultSettle when zero. A loop that never failed is up from its start.
	Settle time.Duration
}

// Option changes a Group at Start.
type Option func(*Group)

// WithBackoff sets the restart back-off (tests shorten it); zero fields keep the defaults.
func WithBackoff(b Backoff) Option {
	return func(g *Group) {
		if b.Min > 0 {
			g.backoff.Min = b.Min
		}
		if b.Max > 0 {
			g.backoff.Max = b.Max
		}
		if b.ResetAfter > 0 {
			g.backoff.ResetAfter = b.ResetAfter
		}
		if b.Settle > 0 {
			g.backoff.Settle = b.Settle
		}
	}
}

// Start returns a Group whose loops see ctx's values but not its end: Stop ends them. log
// is where a loop's failures are reported.
func Start(ctx context.Context, log zerolog.Logger, opts ...Option) *Group {
	g := &Group{log: log, backoff: Backoff{
		Min: DefaultMinBackoff, Max: DefaultMaxBackoff, ResetAfter: DefaultResetAfter, Settle: DefaultSettle}}
	for _, o := range opts {
		o(g)
	}
	g.backoff.Max = max(g.backoff.Max, g.backoff.Min)
	g.ctx, g.cancel = context.WithCancel(context.WithoutCancel(ctx))
	return g
}

// Context is the loops' context, for what is set up before a loop starts.
func (g *Group) Context() context.Context { return g.ctx }

// Go runs loop until Stop under name, which must be fixed (it is a metric label and what
// /readyz names). A loop is expected to run until its context ends and to retry what is
// transient itself; when it returns before Stop (with an error or without) or panics, it is
// down: logged once per failure and started again after the back-off, forever.
func (g *Group) Go(name string, loop func(context.Context) error) {
	l := g.add(name)
	g.wg.Go(func() { g.supervise(l, loop) })
}

// Run runs loop, one that never gives up, until Stop under name; it is Go for a loop without
// an error. Should it return early or panic, it is restarted all the same.
func (g *Group) Run(name string, loop func(context.Context)) {
	g.Go(name, func(ctx context.Context) error {
		loop(ctx)
		return nil
	})
}

// Stop ends the loops and waits until they have returned.
func (g *Group) Stop() {
	g.cancel()
	g.wg.Wait()
}

// supervise runs l until Stop, starting it again after each failure.
func (g *Group) supervise(l *loop, run func(context.Context) error) {
	ctx := context.WithValue(g.ctx, loopKey{}, &reporter{g: g, l: l}) // for ReportDown
	for first := true; ; first = false {
		g.up(l, time.Now(), first)
		err := runOnce(ctx, run)
		if g.ctx.Err() != nil {
			return // Stop: whatever the loop returned, it was asked to
		}
		if err == nil {
			err = errEarlyReturn
		}
		failures := g.fail(l, err, time.Now())
		wait := jitter(g.backoff.after(failures))
		ev := g.log.Error().Err(err).Str("loop", l.name).Int("failures", failures).Dur("restart_in", wait)
		var p *panicError
		if errors.As(err, &p) {
			ev = ev.Str("stack", string(p.stack))
		}
		ev.Msg("background loop down; restarting it")

		t := time.NewTimer(wait)
		select {
		case <-g.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// errEarlyReturn is the failure of a loop that returned nil before Stop.
var errEarlyReturn = errors.New("returned before the group was stopped")

// panicError is a loop's recovered panic, with the stack where it happened.
type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string { return fmt.Sprintf("panic: %v", p.value) }

// runOnce runs the loop once, turning a panic into a *panicError.
func runOnce(ctx context.Context, run func(context.Context) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{value: v, stack: debug.Stack()}
		}
	}()
	return run(ctx)
}

// after is the nominal wait after the nth failure in a row: Min, then doubling up to Max.
func (b Backoff) after(n int) time.Duration { return Doubling(n, b.Min, b.Max) }

// Doubling is the wait before try attempt+1 of something that failed attempt times in a
// row: lo after the first failure, doubling up to hi. Souk's retries (loops, consumers,
// relays, deliveries) all wait so; each adds its own jitter where instances could fall
// into step.
func Doubling(attempt int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < attempt && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

// jitter takes up to a quarter off d, so that the instances of a service that failed
// together (a NATS restart) do not retry in step, and a wait is never under 3/4 of d.
func jitter(d time.Duration) time.Duration { return d - rand.N(d/4+1) }
