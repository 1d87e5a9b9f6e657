package background_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/souk/souk/platform/background"
)

func TestPollRunsAgainAtOnceWhileThereIsMoreAndWakesOnAKick(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	k := background.NewKicker()
	var rounds atomic.Int32
	ran := make(chan int32, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// An hour between polls: any round after the first three comes from a kick.
		background.Poll(ctx, time.Hour, k, func(context.Context) bool {
			n := rounds.Add(1)
			ran <- n
			return n < 3 // three rounds back to back, then idle
		})
	}()
	for want := int32(1); want <= 3; want++ {
		if got := <-ran; got != want {
			t.Fatalf("round %d, want %d", got, want)
		}
	}
	select {
	case n := <-ran:
		t.Fatalf("round %d ran without a kick or a poll", n)
	default:
	}
	k.Kick()
	if got := <-ran; got != 4 {
		t.Fatalf("a kick ran round %d, want 4", got)
	}
	cancel()
	<-done
}

func TestANilKickerWaitsItsTime(t *testing.T) {
	var k *background.Kicker
	k.Kick() // ignored, no panic
	start := time.Now()
	k.Wait(context.Background(), time.Millisecond)
	if time.Since(start) < time.Millisecond {
		t.Fatal("Wait returned before its time")
	}
}
