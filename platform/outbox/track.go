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
	return Mark(ctx, w), w.Load
}

// Mark returns ctx marked so that Add and Queue under it set w: for work whose units the
// caller tells apart itself (a consumer's batches, one flag for all of them, cleared as
// each batch's writes are acted on).
func Mark(ctx context.Context, w *atomic.Bool) context.Context {
	return context.WithValue(ctx, wroteKey{}, w)
}

// markWrote records that events were written under ctx's unit of work, if it is tracked.
func markWrote(ctx context.Context) {
	if w, ok := ctx.Value(wroteKey{}).(*atomic.Bool); ok {
		w.Store(true)
	}
}
