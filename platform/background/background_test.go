package background_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/logtest"
	"github.com/souk/souk/platform/background"
)

// The loops outlive the service's context (they keep working while the endpoints drain),
// end at Stop, which waits for them, and a loop that gives up is logged with its name.
func TestLoopsOutliveTheServiceContextAndEndAtStop(t *testing.T) {
	var log logtest.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	g := background.Start(ctx, zerolog.New(&log))

	failed := make(chan struct{})
	var once sync.Once
	g.Go("flaky", func(context.Context) error { defer once.Do(func() { close(failed) }); return errors.New("gave up") })
	running := make(chan struct{})
	stopped := false
	g.Run("loop", func(ctx context.Context) {
		close(running)
		<-ctx.Done()
		stopped = true
	})
	<-running
	<-failed
	// The failure is logged once the loop has returned, just after failed closes: a Stop in
	// between would take it for a loop that was asked to end.
	expect.Within(t, 10*time.Second, func() error {
		if !strings.Contains(log.String(), "gave up") {
			return errors.New("the failure is not logged yet")
		}
		return nil
	})

	cancel() // the service's context ends: the loops go on
	if g.Context().Err() != nil {
		t.Fatal("the loops' context ended with the service's")
	}
	g.Stop()
	if !stopped || g.Context().Err() == nil {
		t.Fatal("Stop returned before the loop had ended")
	}
	if got := log.String(); !strings.Contains(got, `"loop":"flaky"`) || !strings.Contains(got, "gave up") {
		t.Fatalf("the failed loop was not logged: %s", got)
	}
}
