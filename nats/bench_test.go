package bus_test

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	bus "github.com/souk/souk/nats"
	"github.com/souk/souk/nats/natstest"
)

// What a saga stream costs in memory per event it holds for a consumer that is down (the
// embedded server runs in this process, so its heap is ours): each event on its own subject
// (souk.evt.order.placed.<id>) with a 300-byte body, with a Nats-Msg-Id (kept for the
// duplicate window) and without. It sizes SagaMaxMsgs and DuplicateWindow.
//
//	go test -run '^$' -bench BenchmarkHeldEventMemory -benchtime 1x ./nats/
func BenchmarkHeldEventMemory(b *testing.B) {
	for _, withID := range []bool{false, true} {
		name := "without-msg-id"
		if withID {
			name = "with-msg-id"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				b.ReportMetric(heldEventBytes(b, 50_000, withID), "heap-B/held-event")
			}
		})
	}
}

// heldEventBytes publishes n events to ORDERS, whose declared consumers are not running,
// and returns the growth of the live heap per event.
func heldEventBytes(b *testing.B, n int, withID bool) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, nc := natstest.Server(b)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1024))
	if err != nil {
		b.Fatal(err)
	}
	if err := bus.EnsureStreams(ctx, js); err != nil {
		b.Fatal(err)
	}
	before := liveHeap()
	body := []byte(`{"order_id":"` + strings.Repeat("x", 280) + `"}`)
	for range n {
		id := uuid.NewString()
		opts := []jetstream.PublishOpt{jetstream.WithStallWait(30 * time.Second)}
		if withID {
			opts = append(opts, jetstream.WithMsgID(id))
		}
		if _, err := js.PublishAsync("souk.evt.order.placed."+id, body, opts...); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		b.Fatal("publishes not acknowledged")
	}
	if held := streamMsgs(ctx, js); held != n {
		b.Fatalf("ORDERS holds %d messages, want %d", held, n)
	}
	return float64(liveHeap()-before) / float64(n)
}

func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
