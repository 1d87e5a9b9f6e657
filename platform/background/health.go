package background

import (
	"errors"
	"fmt"
	"time"
)

// LoopState is one loop's state at a moment, as the service reports it to operators.
type LoopState struct {
	// Name is the loop's name, as given to Go.
	Name string `json:"name"`
	// Up is true while the loop runs, false from a failure until its restart.
	Up bool `json:"up"`
	// Since is when the loop last started (up) or when its row of failures began (down):
	// a loop that keeps failing at start is down since its first failure.
	Since time.Time `json:"since"`
	// Failures counts the loop's failures in a row; a run of ResetAfter ends the row.
	Failures int `json:"failures,omitempty"`
	// Restarts counts every restart since the group started.
	Restarts int `json:"restarts,omitempty"`
	// Error is the last failure, kept while the row of failures lasts.
	Error string `json:"error,omitempty"`
}

// loop is one supervised loop; its state is guarded by the group's mu.
type loop struct {
	name    string
	state   LoopState
	started time.Time // of the current or last run; zero before the first
	row     time.Time // the first failure of the current row
}

// add registers a loop under name, suffixed when the name is taken, so that every loop has
// its own state and label.
func (g *Group) add(name string) *loop {
	g.mu.Lock()
	defer g.mu.Unlock()
	unique := name
	for n := 2; g.named(unique); n++ {
		unique = fmt.Sprintf("%s#%d", name, n)
	}
	// Up from the start: a loop is down only once it has failed.
	l := &loop{name: unique, state: LoopState{Name: unique, Up: true, Since: time.Now()}}
	g.loops = append(g.loops, l)
	return l
}

// named reports whether a loop is called name; the caller holds mu.
func (g *Group) named(name string) bool {
	for _, l := range g.loops {
		if l.name == name {
			return true
		}
	}
	return false
}

// up records that l (re)started at t.
func (g *Group) up(l *loop, t time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !l.started.IsZero() {
		l.state.Restarts++
	}
	l.started = t
	l.state.Up = true
	l.state.Since = t
}

// fail records that l failed with err at t, and returns its failures in a row (which set
// the back-off). A run of ResetAfter or more ends the previous row.
func (g *Group) fail(l *loop, err error, t time.Time) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.healed(l, t) {
		l.state.Failures = 0
	}
	if l.state.Failures == 0 {
		l.row = t
	}
	l.state.Since = l.row
	l.state.Failures++
	l.state.Up = false
	l.state.Error = err.Error()
	return l.state.Failures
}

// healed reports whether l has run for ResetAfter by t, which ends its row of failures;
// the caller holds mu.
func (g *Group) healed(l *loop, t time.Time) bool {
	return !l.started.IsZero() && t.Sub(l.started) >= g.backoff.ResetAfter
}

// Loops returns the state of every loop, in the order they were added.
func (g *Group) Loops() []LoopState {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	out := make([]LoopState, len(g.loops))
	for i, l := range g.loops {
		out[i] = l.state
		if l.state.Up && g.healed(l, now) { // its failures are history
			out[i].Failures, out[i].Error = 0, ""
		}
	}
	return out
}

// Down returns the names of the loops that are down now.
func (g *Group) Down() []string {
	var down []string
	for _, s := range g.Loops() {
		if !s.Up {
			down = append(down, s.Name)
		}
	}
	return down
}

// Health returns nil while every loop runs, else an error naming each loop that is down,
// since when, and its last error.
func (g *Group) Health() error {
	var errs []error
	for _, s := range g.Loops() {
		if !s.Up {
			errs = append(errs, fmt.Errorf("%s down since %s (%d failures): %s",
				s.Name, s.Since.UTC().Format(time.RFC3339), s.Failures, s.Error))
		}
	}
	return errors.Join(errs...)
}
