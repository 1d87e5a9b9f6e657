package background

import (
	"testing"
	"time"
)

// The default back-off starts at 250 ms, doubles per failure in a row, stops at 30 s, and
// jitter takes at most a quarter off.
func TestBackoffDoublesToItsCapWithBoundedJitter(t *testing.T) {
	b := Backoff{Min: DefaultMinBackoff, Max: DefaultMaxBackoff}
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second,
		4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	for i, w := range want {
		if got := b.after(i + 1); got != w {
			t.Errorf("after %d failures: %s, want %s", i+1, got, w)
		}
		for range 100 {
			if j := jitter(w); j > w || j < w*3/4 {
				t.Fatalf("jitter(%s) = %s", w, j)
			}
		}
	}
	if got := b.after(1000); got != DefaultMaxBackoff {
		t.Fatalf("after 1000 failures: %s", got)
	}
}

// A loop that ran for ResetAfter before it failed starts a new row: its next wait is Min.
func TestALongRunEndsTheRowOfFailures(t *testing.T) {
	g := &Group{backoff: Backoff{Min: time.Second, Max: time.Minute, ResetAfter: time.Minute, Settle: 15 * time.Second}}
	l := g.add("relay")
	t0 := time.Now()
	g.up(l, t0, true)
	g.fail(l, errEarlyReturn, t0.Add(time.Second))
	g.up(l, t0.Add(2*time.Second), false)
	if n := g.fail(l, errEarlyReturn, t0.Add(3*time.Second)); n != 2 {
		t.Fatalf("a quick second failure is failure %d in a row, want 2", n)
	}
	g.up(l, t0.Add(4*time.Second), false)
	if n := g.fail(l, errEarlyReturn, t0.Add(4*time.Second+time.Minute)); n != 1 {
		t.Fatalf("a failure after a minute's run is failure %d in a row, want 1", n)
	}
	if s := g.Loops()[0]; s.Since != t0.Add(4*time.Second+time.Minute) || s.Restarts != 2 || s.Up {
		t.Fatalf("%+v", s)
	}
}

// A loop restarted after a failure is down, since its first failure, until it has run for
// Settle; its failures are shown until it has run for ResetAfter.
func TestARestartedLoopIsUpOnceSettled(t *testing.T) {
	g := &Group{backoff: Backoff{Min: time.Second, Max: time.Minute, ResetAfter: time.Minute, Settle: 15 * time.Second}}
	l := g.add("consumer")
	t0 := time.Now()
	if s := g.state(l, t0); !s.Up || s.Failures != 0 {
		t.Fatalf("a loop that never failed: %+v", s)
	}
	g.up(l, t0, true)
	g.fail(l, errEarlyReturn, t0.Add(time.Second))
	g.up(l, t0.Add(2*time.Second), false)
	g.fail(l, errEarlyReturn, t0.Add(12*time.Second)) // a slow start that failed all the same
	g.up(l, t0.Add(14*time.Second), false)
	for _, c := range []struct {
		at       time.Duration
		up       bool
		since    time.Duration
		failures int
	}{
		{at: 20 * time.Second, up: false, since: time.Second, failures: 2},
		{at: 29 * time.Second, up: true, since: 14 * time.Second, failures: 2},
		{at: 74 * time.Second, up: true, since: 14 * time.Second, failures: 0},
	} {
		s := g.state(l, t0.Add(c.at))
		if s.Up != c.up || !s.Running || s.Since != t0.Add(c.since) || s.Failures != c.failures || (c.failures > 0) != (s.Error != "") {
			t.Errorf("at %s: %+v, want up %v since %s with %d failures", c.at, s, c.up, c.since, c.failures)
		}
	}
}
