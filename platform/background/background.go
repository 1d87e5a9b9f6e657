// Package background runs a service's loops beside its endpoints: the outbox relay, the
// event consumers, workers and sweepers. They run on a context detached from the service's,
// so that they keep working while the endpoints drain at shutdown, and are stopped after.
package background

import (
	"context"
	"sync"

	"github.com/rs/zerolog"
)

// Group is one service's loops.
type Group struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	log    zerolog.Logger
}

// Start returns a Group whose loops see ctx's values but not its end: Stop ends them. log
// is where a loop that stops with an error is reported.
func Start(ctx context.Context, log zerolog.Logger) *Group {
	g := &Group{log: log}
	g.ctx, g.cancel = context.WithCancel(context.WithoutCancel(ctx))
	return g
}

// Context is the loops' context, for what is set up before a loop starts.
func (g *Group) Context() context.Context { return g.ctx }

// Go runs loop until Stop. An error it returns before then is logged with name; a loop is
// expected to retry what is transient itself, so an error means it gave up.
func (g *Group) Go(name string, loop func(context.Context) error) {
	g.wg.Go(func() {
		if err := loop(g.ctx); err != nil && g.ctx.Err() == nil {
			g.log.Error().Err(err).Str("loop", name).Msg("background loop stopped")
		}
	})
}

// Run runs loop, one that never gives up, until Stop.
func (g *Group) Run(loop func(context.Context)) {
	g.wg.Go(func() { loop(g.ctx) })
}

// Stop ends the loops and waits until they have returned.
func (g *Group) Stop() {
	g.cancel()
	g.wg.Wait()
}
