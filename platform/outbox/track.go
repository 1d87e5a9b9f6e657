package outbox

import (
	"context"
	"sync/atomic"
)

// Kicking the relay without the store knowing: the service kit runs every unit of work (a
// request, a loop's round) under Track, and Add and Queue mark its context when they write
// events; once the unit is done (its transaction committed or rolled back), the kit kicks the
// relay if the mark is set. A store only writes its events in its transaction.

type wroteKey struct{}

// Track returns ctx marked as one unit of work, and a func that reports whether Add or Queue
// wrote events under it.
func Track(ctx context.Context) (context.Context, func() bool) {
	w := new(atomic.Bool)
	return context.WithValue(ctx, wroteKey{}, w), w.Load
}

// markWrote records that events were written under ctx's unit of work, if it is tracked.
func markWrote(ctx context.Context) {
	if w, ok := ctx.Value(wroteKey{}).(*atomic.Bool); ok {
		w.Store(true)
	}
}
