package background_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/logtest"
	"github.com/souk/souk/platform/background"
)

// fast keeps the tests' restarts quick; the default bounds are tested on the back-off alone.
var fast = background.WithBackoff(background.Backoff{Min: 20 * time.Millisecond, Max: 100 * time.Millisecond, Settle: 50 * time.Millisecond})

// A loop that gives up (its start failed) is down, says so in Health and Loops, and is
// started again until it runs; then it is up, with its restarts counted.
func TestAFailedLoopIsRestartedUntilItRuns(t *testing.T) {
	var log logtest.Buffer
	g := background.Start(context.Background(), zerolog.New(&log), fast)
	defer g.Stop()
	var fixed atomic.Bool
	var runs, running atomic.Int32
	g.Go("consumer late", func(ctx context.Context) error {
		runs.Add(1)
		if !fixed.Load() {
			return errors.New("stream not found")
		}
		running.Store(1)
		<-ctx.Done()
		return nil
	})
	g.Run("neighbour", func(ctx context.Context) { <-ctx.Done() }) // a healthy neighbour stays out of it
	expect.Within(t, 10*time.Second, func() error {
		if runs.Load() < 3 {
			return fmt.Errorf("the loop ran %d times, want it started again", runs.Load())
		}
		return nil
	})
	err := g.Health()
	if err == nil || !strings.Contains(err.Error(), "consumer late down since") || !strings.Contains(err.Error(), "stream not found") {
		t.Fatalf("Health while the loop fails: %v", err)
	}
	if down := g.Down(); len(down) != 1 || down[0] != "consumer late" {
		t.Fatalf("Down: %v", down)
	}
	st := g.Loops()[0]
	if st.Up || st.Failures < 2 || st.Error != "stream not found" || st.Since.IsZero() {
		t.Fatalf("state while failing: %+v", st)
	}

	fixed.Store(true)
	expect.Within(t, 10*time.Second, func() error {
		if running.Load() != 1 {
			return errors.New("the loop does not run after its cause was fixed")
		}
		return g.Health()
	})
	if st := g.Loops()[0]; !st.Up || st.Restarts < 2 {
		t.Fatalf("state once running: %+v", st)
	}
	if n := strings.Count(log.String(), "background loop down"); n < 2 {
		t.Fatalf("%d failures logged, want one per failure:\n%s", n, log.String())
	}
}

// A loop that panics is recovered, logged with its stack, and started again; the process
// lives on. A loop started with Run is restarted the same way.
func TestAPanickingLoopIsRestarted(t *testing.T) {
	var log logtest.Buffer
	g := background.Start(context.Background(), zerolog.New(&log), fast)
	defer g.Stop()
	var runs, running atomic.Int32
	g.Go("sweeper", func(ctx context.Context) error {
		if runs.Add(1) == 1 {
			var m map[string]int
			m["boom"]++ // a nil map write: a runtime panic
		}
		running.Store(1)
		<-ctx.Done()
		return nil
	})
	var runRuns, runRunning atomic.Int32
	g.Run("panicking run", func(ctx context.Context) {
		if runRuns.Add(1) == 1 {
			panic("worker broke")
		}
		runRunning.Store(1)
		<-ctx.Done()
	})
	expect.Within(t, 10*time.Second, func() error {
		if running.Load() != 1 || runRunning.Load() != 1 {
			return fmt.Errorf("the loops are not running again after their panics (%d, %d runs)", runs.Load(), runRuns.Load())
		}
		return g.Health()
	})
	logged := log.String()
	for _, want := range []string{`"loop":"sweeper"`, "assignment to entry in nil map", "worker broke", "TestAPanickingLoopIsRestarted", `"stack"`} {
		if !strings.Contains(logged, want) {
			t.Errorf("the log lacks %s:\n%s", want, logged)
		}
	}
}

// A loop that returns nil before Stop has given up all the same; at Stop nothing is
// restarted, logged or left running, even in the middle of a back-off.
func TestAnEarlyReturnIsAFailureAndStopEndsTheBackoff(t *testing.T) {
	var log logtest.Buffer
	g := background.Start(context.Background(), zerolog.New(&log),
		background.WithBackoff(background.Backoff{Min: time.Hour}))
	var runs atomic.Int32
	g.Go("one-shot", func(context.Context) error { runs.Add(1); return nil })
	expect.Within(t, 10*time.Second, func() error {
		if g.Health() == nil {
			return errors.New("a loop that returned before Stop is not down")
		}
		return nil
	})
	done := make(chan struct{})
	go func() { g.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Stop waited for the back-off")
	}
	if runs.Load() != 1 || strings.Count(log.String(), "background loop down") != 1 {
		t.Fatalf("%d runs, log:\n%s", runs.Load(), log.String())
	}
}

// Two loops under one name keep their own state.
func TestLoopNamesAreUnique(t *testing.T) {
	g := background.Start(context.Background(), zerolog.Nop())
	defer g.Stop()
	g.Go("relay", func(ctx context.Context) error { <-ctx.Done(); return nil })
	g.Go("relay", func(ctx context.Context) error { <-ctx.Done(); return nil })
	if l := g.Loops(); len(l) != 2 || l[0].Name != "relay" || l[1].Name != "relay#2" {
		t.Fatalf("%+v", l)
	}
}

// A loop that retries inside itself reports its trouble: it is down while it says so, with
// its error, and up again once it says it works; it was never restarted.
func TestALoopReportsTroubleWhileItRetries(t *testing.T) {
	g := background.Start(context.Background(), zerolog.Nop(), fast)
	defer g.Stop()
	working := make(chan bool)
	g.Go("consumer busy", func(ctx context.Context) error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case ok := <-working:
				if ok {
					background.ReportUp(ctx)
				} else {
					background.ReportDown(ctx, errors.New("stream not found"))
				}
				working <- ok // done
			}
		}
	})
	say := func(ok bool) { working <- ok; <-working }
	say(false)
	if err := g.Health(); err == nil || !strings.Contains(err.Error(), "consumer busy down since") || !strings.Contains(err.Error(), "stream not found") {
		t.Fatalf("Health while the loop reports trouble: %v", err)
	}
	if s := g.Loops()[0]; s.Up || !s.Running || s.Restarts != 0 {
		t.Fatalf("%+v", s)
	}
	say(true)
	if err := g.Health(); err != nil {
		t.Fatalf("Health once the loop works again: %v", err)
	}
	background.ReportDown(context.Background(), errors.New("not a loop")) // nothing happens
}
