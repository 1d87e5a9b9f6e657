// Package expect holds what every Souk test needs: waiting for an eventual effect with a
// deadline (never a sleep), matching a *subjects.Error that crossed the wire, and running a
// service for the length of a test.
package expect

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/souk/souk/subjects"
)

// Within polls check until it returns nil or the deadline passes, then fails t with check's
// last error.
func Within(t testing.TB, within time.Duration, check func() error) {
	t.Helper()
	if err := Eventually(within, check); err != nil {
		t.Fatalf("not within %s: %v", within, err)
	}
}

// Eventually polls check until it returns nil, or the deadline passes and it returns
// check's last error: Within for a goroutine other than the test's, which may not fail it.
func Eventually(within time.Duration, check func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := check()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		<-time.After(20 * time.Millisecond)
	}
}

// Error fails t unless err is a *subjects.Error of code (and slug and field, when given).
func Error(t testing.TB, err error, code int, slug, field string) {
	t.Helper()
	var se *subjects.Error
	if !errors.As(err, &se) {
		t.Fatalf("want %d %s, got %v", code, slug, err)
	}
	if se.Code != code || (slug != "" && se.Slug != slug) {
		t.Fatalf("want %d %s, got %d %s: %s", code, slug, se.Code, se.Slug, se.Message)
	}
	if field == "" {
		return
	}
	for _, f := range se.Fields {
		if f.Field == field {
			return
		}
	}
	t.Fatalf("want a problem with field %q, got %+v", field, se.Fields)
}

// Running is a Run function (a service's, a consumer's) started for a test.
type Running struct {
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
	err    error
}

// Start runs fn in its own goroutine with a context that Stop, or the end of t, cancels. At
// the end of t it is stopped, and an error it returned fails t.
func Start(t testing.TB, fn func(ctx context.Context) error) *Running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &Running{cancel: cancel, done: make(chan struct{})}
	go func() { r.err = fn(ctx); close(r.done) }()
	t.Cleanup(func() {
		if err := r.Stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return r
}

// Stop cancels fn's context, waits for fn to return and returns its error; again, the same
// error.
func (r *Running) Stop() error {
	r.once.Do(func() { r.cancel(); <-r.done })
	return r.err
}

// Exited reports whether fn has returned by itself, and its error.
func (r *Running) Exited() (bool, error) {
	select {
	case <-r.done:
		return true, r.err
	default:
		return false, nil
	}
}
