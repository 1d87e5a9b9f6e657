package catalog

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/souk/souk/internal/expect"
)

// A burst of changes invalidates the lists once at its start and once after its last change,
// not once per change; a lone change later invalidates them at once again.
func TestCoalescerCallsOnceAtTheStartAndOnceAfterABurst(t *testing.T) {
	var mu sync.Mutex
	var calls []time.Time
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(calls) }
	c := newCoalescer(100*time.Millisecond, 100*time.Millisecond, func(time.Time) { mu.Lock(); calls = append(calls, time.Now()); mu.Unlock() })
	defer c.stop()

	c.touch()
	if n := count(); n != 1 {
		t.Fatalf("a first change: %d calls, want 1 at once", n)
	}
	var last time.Time
	for range 1000 {
		c.touch()
		last = time.Now()
	}
	expect.Within(t, 30*time.Second, func() error {
		if count() < 2 {
			return errors.New("no call after the burst yet")
		}
		return nil
	})
	mu.Lock()
	n, end := len(calls), calls[len(calls)-1]
	mu.Unlock()
	if n > 3 || end.Before(last) {
		t.Fatalf("%d calls, the last at %s, the last change at %s: want at most 3, one after the burst", n, end, last)
	}
	expect.Within(t, 30*time.Second, func() error { // a quiet spell: no call pending, the last long ago
		if time.Since(end) < 200*time.Millisecond || count() != n {
			return errors.New("not quiet yet")
		}
		return nil
	})
	c.touch()
	if count() != n+1 {
		t.Fatalf("a change after a quiet spell: %d calls, want %d at once", count(), n+1)
	}
}

// While changes keep coming the calls space out, each gap at least twice the one before up
// to the most; a change after a quiet spell is called at once and starts over from the base.
// (A timer never fires early: the gaps' lower bounds hold on any machine, between the calls'
// starts. Timed where fn ran instead, a call that ran late shortened the next gap: 17 ms for
// 20 on a busy machine.)
func TestCoalescerSpacesCallsOutWhileChangesKeepComing(t *testing.T) {
	const base, most = 10 * time.Millisecond, 80 * time.Millisecond
	var mu sync.Mutex
	var calls []time.Time
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(calls) }
	c := newCoalescer(base, most, func(started time.Time) { mu.Lock(); calls = append(calls, started); mu.Unlock() })
	defer c.stop()

	for count() < 6 { // changes without a pause
		c.touch()
	}
	mu.Lock()
	got := append([]time.Time(nil), calls...)
	mu.Unlock()
	want := base
	for i := 1; i < len(got); i++ {
		if gap := got[i].Sub(got[i-1]); gap < want {
			t.Fatalf("gap %d: %s, want at least %s (gaps double up to %s)", i, gap, want, most)
		}
		want = min(2*want, most)
	}
	expect.Within(t, 30*time.Second, func() error { // a quiet spell: nothing pending, the last call long ago
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.due != nil || time.Since(c.last) < most {
			return errors.New("not quiet yet")
		}
		return nil
	})
	n := count()
	c.touch()
	c.mu.Lock()
	every := c.every
	c.mu.Unlock()
	if count() != n+1 || every != base {
		t.Fatalf("a change after a quiet spell: %d calls (want %d at once), spacing %s (want %s)", count(), n+1, every, base)
	}
}
