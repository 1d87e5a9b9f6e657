package bus_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/nats/bus"
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

// What interest retention costs the saga's throughput against limits retention: 20 000
// events through ORDERS to three consumers that fetch and acknowledge in batches of 64, as
// the consumer kit does; with interest each acknowledgement that completes a message also
// removes it. Reported as events per second from the first publish to the last ack.
//
//	go test -run '^$' -bench BenchmarkRetentionThroughput -benchtime 3x ./nats/
func BenchmarkRetentionThroughput(b *testing.B) {
	for _, retention := range []jetstream.RetentionPolicy{jetstream.LimitsPolicy, jetstream.InterestPolicy} {
		b.Run(retention.String(), func(b *testing.B) {
			for range b.N {
				b.ReportMetric(throughput(b, retention, 20_000, 3), "events/s")
			}
		})
	}
}

func throughput(b *testing.B, retention jetstream.RetentionPolicy, n, consumers int) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, nc := natstest.Server(b)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1024))
	if err != nil {
		b.Fatal(err)
	}
	cfg, _ := bus.Stream("ORDERS")
	cfg.Retention = retention
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, consumers)
	start := time.Now()
	for i := range consumers {
		cons, err := js.CreateConsumer(ctx, "ORDERS", jetstream.ConsumerConfig{Durable: fmt.Sprintf("c%d", i),
			AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 1000})
		if err != nil {
			b.Fatal(err)
		}
		go func() { done <- drain(cons, n) }()
	}
	body := []byte(`{"order_id":"` + strings.Repeat("x", 280) + `"}`)
	for range n {
		id := uuid.NewString()
		if _, err := js.PublishAsync("souk.evt.order.placed."+id, body, jetstream.WithMsgID(id), jetstream.WithStallWait(30*time.Second)); err != nil {
			b.Fatal(err)
		}
	}
	for range consumers {
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	return float64(n) / time.Since(start).Seconds()
}

// drain fetches and acknowledges n messages in batches of 64, each batch's last ack waited.
func drain(cons jetstream.Consumer, n int) error {
	for got := 0; got < n; {
		batch, err := cons.Fetch(64, jetstream.FetchMaxWait(10*time.Second))
		if err != nil {
			return err
		}
		var last jetstream.Msg
		for m := range batch.Messages() {
			if last != nil {
				if err := last.Ack(); err != nil {
					return err
				}
			}
			last, got = m, got+1
		}
		if last == nil {
			return fmt.Errorf("%d of %d: %v", got, n, batch.Error())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = last.DoubleAck(ctx)
		cancel()
		if err != nil {
			return err
		}
	}
	return nil
}
