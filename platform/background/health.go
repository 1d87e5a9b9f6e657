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
	// Up is true while the loop runs, unless it was restarted after a failure less than the
	// back-off's Settle ago (a restarted loop is up once it has shown it stays up), or it
	// reported itself down (ReportDown) while it retries inside itself.
	Up bool `json:"up"`
	// Running is true while the loop runs, settled or not.
	Running bool `json:"running"`
	// Since is when the loop last started (up), or when its row of failures or its reported
	// trouble began (down): a loop that keeps failing at start is down since its first
	// failure.
	Since time.Time `json:"since"`
	// Failures counts the loop's failures in a row; a run of ResetAfter ends the row.
	Failures int `json:"failures,omitempty"`
	// Restarts counts every restart since the group started.
	Restarts int `json:"restarts,omitempty"`
	// Error is the last failure, kept while the row of failures lasts, or what the loop
	// reported with ReportDown.
	Error string `json:"error,omitempty"`
}

// loop is one supervised loop; its fields are guarded by the group's mu.
type loop struct {
	name     string
	running  bool
	started  time.Time // of the current or last run; the time it was added before the first
	row      time.Time // the first failure of the current row
	failures int       // in the current row
	restarts int
	err      error // the last failure
	// trouble is what the running loop reported with ReportDown, since troubleSince.
	trouble      error
	troubleSince time.Time
}

// add registers a loop under name, suffixed when the name is taken, so that every loop has
// its own state and label. It is up from the start: a loop is down only once it has failed.
func (g *Group) add(name string) *loop {
	g.mu.Lock()
	defer g.mu.Unlock()
	unique := name
	for n := 2; g.named(unique); n++ {
		unique = fmt.Sprintf("%s#%d", name, n)
	}
	l := &loop{name: unique, running: true, started: time.Now()}
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

// up records that l started (again, unless first) at t.
func (g *Group) up(l *loop, t time.Time, first bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !first {
		l.restarts++
	}
	l.running, l.started, l.trouble = true, t, nil
}

// fail records that l failed with err at t, and returns its failures in a row (which set
// the back-off). A run of ResetAfter or more ends the previous row.
func (g *Group) fail(l *loop, err error, t time.Time) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t.Sub(l.started) >= g.backoff.ResetAfter {
		l.failures = 0
	}
	if l.failures == 0 {
		l.row = t
	}
	l.failures++
	l.running, l.err, l.trouble = false, err, nil
	return l.failures
}

// state is l's state at now; the caller holds mu.
func (g *Group) state(l *loop, now time.Time) LoopState {
	ran := now.Sub(l.started)
	s := LoopState{Name: l.name, Running: l.running, Restarts: l.restarts}
	if l.running && l.trouble != nil { // it runs, but says it cannot work
		s.Failures, s.Error = l.failures, l.trouble.Error()
		return withSince(s, false, l.troubleSince)
	}
	if l.running && ran >= g.backoff.ResetAfter {
		return withSince(s, true, l.started) // its failures are history
	}
	s.Failures = l.failures
	if l.err != nil {
		s.Error = l.err.Error()
	}
	if l.running && (l.failures == 0 || ran >= g.backoff.Settle) {
		return withSince(s, true, l.started)
	}
	return withSince(s, false, l.row)
}

func withSince(s LoopState, up bool, since time.Time) LoopState {
	s.Up, s.Since = up, since
	return s
}

// Loops returns the state of every loop, in the order they were added.
func (g *Group) Loops() []LoopState {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	out := make([]LoopState, len(g.loops))
	for i, l := range g.loops {
		out[i] = g.state(l, now)
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

// Health returns nil while every loop is up, else an error naming each loop that is down,
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
