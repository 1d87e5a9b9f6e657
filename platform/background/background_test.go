package background_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/souk/souk/platform/background"
)

// syncBuffer is a log a loop may write while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The loops outlive the service's context (they keep working while the endpoints drain),
// end at Stop, which waits for them, and a loop that gives up is logged with its name.
func TestLoopsOutliveTheServiceContextAndEndAtStop(t *testing.T) {
	var log syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	g := background.Start(ctx, zerolog.New(&log))

	failed := make(chan struct{})
	g.Go("flaky", func(context.Context) error { defer close(failed); return errors.New("gave up") })
	running := make(chan struct{})
	stopped := false
	g.Run(func(ctx context.Context) {
		close(running)
		<-ctx.Done()
		stopped = true
	})
	<-running
	<-failed

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
