package catalog

import (
	"sync"
	"time"
)

// listsQuiet is the least time between two invalidations of the cached lists that changes
// seen on the CATALOG stream cause. A lone change invalidates them at once; a burst (the relay
// sending a large backlog after a start, an import on another instance) invalidates them at
// most this often, and once more after its last change. Without it, every event of a
// 100 000-event backlog emptied the cache of searches, and cached searches ran at the
// uncached rate (305 req/s, p99 1.46 s) until the relay was done.
const listsQuiet = 500 * time.Millisecond

// coalescer calls fn after every touch, at most once per every: the first touch after a
// quiet spell calls it at once, later ones share one call at the end of the spell. Each touch
// is followed by a call that starts after it.
type coalescer struct {
	every time.Duration
	fn    func()
	mu    sync.Mutex
	last  time.Time   // when fn was last started
	due   *time.Timer // the trailing call, when one is pending
}

func newCoalescer(every time.Duration, fn func()) *coalescer {
	return &coalescer{every: every, fn: fn}
}

// touch records a change.
func (c *coalescer) touch() {
	c.mu.Lock()
	if c.due != nil { // a call is pending and starts after this change
		c.mu.Unlock()
		return
	}
	wait := c.every - time.Since(c.last)
	if wait <= 0 {
		c.last = time.Now()
		c.mu.Unlock()
		c.fn()
		return
	}
	c.due = time.AfterFunc(wait, func() {
		c.mu.Lock()
		c.due, c.last = nil, time.Now()
		c.mu.Unlock()
		c.fn() // a touch from here on schedules its own call
	})
	c.mu.Unlock()
}

// stop cancels a pending call; for shutdown, when the caches it would invalidate are gone.
func (c *coalescer) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.due != nil {
		c.due.Stop()
		c.due = nil
	}
}
