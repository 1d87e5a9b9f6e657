package background

import (
	"context"
	"time"
)

// Kicker wakes a waiting loop early: a handler that has just queued work kicks the loop that
// does it, instead of leaving it to its next poll. The zero Kicker is not usable; a nil one
// never wakes anything (Wait is then a plain timer).
type Kicker struct{ c chan struct{} }

// NewKicker returns a Kicker.
func NewKicker() *Kicker { return &Kicker{c: make(chan struct{}, 1)} }

// Kick wakes the loop now, or at its next Wait if it is busy: kicks while it works are one.
// Safe from any goroutine; never blocks. A nil Kicker ignores it.
func (k *Kicker) Kick() {
	if k == nil {
		return
	}
	select {
	case k.c <- struct{}{}:
	default:
	}
}

// Wait returns after d, at a kick, or when ctx ends, whichever comes first. A nil Kicker
// waits d (or ctx).
func (k *Kicker) Wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	var kicked chan struct{}
	if k != nil {
		kicked = k.c
	}
	select {
	case <-ctx.Done():
	case <-kicked:
	case <-t.C:
	}
}

// Poll is Souk's one "kick or poll" loop: it runs round until ctx ends. A round that reports
// more work (a full batch) is followed at once by the next; otherwise the loop waits every,
// or until k is kicked (k may be nil). A round retries what is transient itself and logs
// its own trouble: Poll only paces it.
func Poll(ctx context.Context, every time.Duration, k *Kicker, round func(context.Context) (more bool)) {
	for ctx.Err() == nil {
		if round(ctx) {
			continue
		}
		k.Wait(ctx, every)
	}
}
