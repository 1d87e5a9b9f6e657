package expect

import (
	"bytes"
	"runtime/pprof"
	"testing"
	"time"
)

// Watchdog bounds a wait a test cannot give a deadline of its own (an HTTP client waiting
// for a server's first bytes): past its bound it takes the goroutines of the process, the
// server's among them when it runs in the test, then cancels the wait. A stuck wait then
// fails at once, naming where the server waits, instead of at the test's timeout.
type Watchdog struct {
	timer *time.Timer
	fired chan struct{} // closed once dump is written
	dump  bytes.Buffer
}

// Watch starts a watchdog that calls cancel after d.
func Watch(d time.Duration, cancel func()) *Watchdog {
	w := &Watchdog{fired: make(chan struct{})}
	w.timer = time.AfterFunc(d, func() {
		_ = pprof.Lookup("goroutine").WriteTo(&w.dump, 2)
		close(w.fired)
		cancel()
	})
	return w
}

// Extend moves the bound to d from now, unless it has passed.
func (w *Watchdog) Extend(d time.Duration) {
	if w.timer.Stop() {
		w.timer.Reset(d)
	}
}

// Stop ends the watch.
func (w *Watchdog) Stop() { w.timer.Stop() }

// Fail fails t with err, which the wait of what returned; with the goroutines when the
// bound had passed.
func (w *Watchdog) Fail(t testing.TB, what string, err error) {
	t.Helper()
	if w.timer.Stop() {
		t.Fatalf("%s: %v", what, err)
	}
	<-w.fired
	t.Fatalf("%s not within its bound: %v; goroutines:\n%s", what, err, w.dump.String())
}
