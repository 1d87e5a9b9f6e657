// Package expect holds the two checks every Souk test needs: waiting for an eventual effect
// with a deadline (never a sleep), and matching a *subjects.Error that crossed the wire.
package expect

import (
	"errors"
	"testing"
	"time"

	"github.com/souk/souk/subjects"
)

// Within polls check until it returns nil or the deadline passes, then fails t with check's
// last error.
func Within(t testing.TB, within time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %v", within, err)
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
