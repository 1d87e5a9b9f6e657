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
//
// While the changes keep coming the spacing doubles, up to listsQuietMax: each stale mark
// has every cached search loaded again from PostgreSQL in the background, and sixteen broad
// searches every 500 ms took a core for as long as a bulk change lasted (cached searches at
// p99 120 ms while 100 000 events were relayed, paced or not).
const (
	listsQuiet    = 500 * time.Millisecond
	listsQuietMax = 8 * time.Second
)

// coalescer calls fn after every touch, at most once per every: the first touch after a
// quiet spell calls it at once, later ones share one call at the end of the spell. Each touch
// is followed by a call that starts after it. While touches keep coming, every doubles after
// each call up to max; a touch after a quiet spell of every resets it to base. fn is told
// when its call started: the time the spacing counts from.
type coalescer struct {
	base, max time.Duration
	fn        func(started time.Time)
	mu        sync.Mutex
	every     time.Duration // the current spacing
	last      time.Time     // when fn was last started
	due       *time.Timer   // the trailing call, when one is pending
}

func newCoalescer(base, max time.Duration, fn func(started time.Time)) *coalescer {
	return &coalescer{base: base, max: max, every: base, fn: fn}
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
		now := time.Now()
		c.last, c.every = now, c.base // a quiet spell: at once, and the burst is over
		c.mu.Unlock()
		c.fn(now)
		return
	}
	c.every = min(2*c.every, c.max) // the changes keep coming: the next call waits longer
	c.due = time.AfterFunc(wait, func() {
		c.mu.Lock()
		now := time.Now()
		c.due, c.last = nil, now
		c.mu.Unlock()
		c.fn(now) // a touch from here on schedules its own call
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
