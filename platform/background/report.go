package background

import (
	"context"
	"time"
)

// loopKey keys the reporter in a loop's context.
type loopKey struct{}

// reporter lets a running loop tell its group how it is doing.
type reporter struct {
	g *Group
	l *loop
}

// ReportDown marks the loop whose context is ctx as down with err while it goes on running
// and retrying inside itself (a consumer that cannot pull, a relay that cannot publish): it
// is named by Health, /readyz and souk_loop_up like a loop that returned. ReportUp marks it
// up again. A loop that gives up returns its error instead. Both are cheap enough to call on
// every attempt, and do nothing on a context that is not a group's loop's.
func ReportDown(ctx context.Context, err error) {
	r, ok := ctx.Value(loopKey{}).(*reporter)
	if !ok || err == nil {
		return
	}
	r.g.mu.Lock()
	defer r.g.mu.Unlock()
	if r.l.trouble == nil {
		r.l.troubleSince = time.Now()
	}
	r.l.trouble = err
}

// ReportUp marks the loop whose context is ctx as working again after ReportDown.
func ReportUp(ctx context.Context) {
	r, ok := ctx.Value(loopKey{}).(*reporter)
	if !ok {
		return
	}
	r.g.mu.Lock()
	defer r.g.mu.Unlock()
	r.l.trouble = nil
}
