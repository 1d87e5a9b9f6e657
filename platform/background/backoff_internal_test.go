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
	g := &Group{backoff: Backoff{Min: time.Second, Max: time.Minute, ResetAfter: time.Minute}}
	l := g.add("relay")
	t0 := time.Now()
	g.up(l, t0)
	g.fail(l, errEarlyReturn, t0.Add(time.Second))
	g.up(l, t0.Add(2*time.Second))
	if n := g.fail(l, errEarlyReturn, t0.Add(3*time.Second)); n != 2 {
		t.Fatalf("a quick second failure is failure %d in a row, want 2", n)
	}
	g.up(l, t0.Add(4*time.Second))
	if n := g.fail(l, errEarlyReturn, t0.Add(4*time.Second+time.Minute)); n != 1 {
		t.Fatalf("a failure after a minute's run is failure %d in a row, want 1", n)
	}
	if s := g.Loops()[0]; s.Since != t0.Add(4*time.Second+time.Minute) || s.Restarts != 2 {
		t.Fatalf("%+v", s)
	}
}
