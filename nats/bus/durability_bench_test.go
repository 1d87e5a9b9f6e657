package bus_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/nats/natstest"
)

// What durability costs the publisher (docs/decisions.md, "A three-node JetStream
// cluster"): events published to ORDERS on a three-node cluster in this process, with one
// copy (R1) or three (R3), with JetStream's default fsync (every 2 minutes) or
// sync_interval: always (SyncAlways: fsync before every acknowledgement), each one waited
// for (sync: a request's own publish) or 256 in flight (async: the outbox relay's window).
// Events per second.
//
//	go test -run '^$' -bench BenchmarkPublishDurability -benchtime 2000x ./nats/bus
func BenchmarkPublishDurability(b *testing.B) {
	for _, always := range []bool{false, true} {
		sync := "sync-default"
		if always {
			sync = "sync-always"
		}
		c := natstest.NewCluster(b, 3, func(cfg *bus.ServerConfig) { cfg.SyncAlways = always })
		expect.Within(b, time.Minute, c.Formed)
		js, err := jetstream.New(c.Connect(b), jetstream.WithPublishAsyncMaxPending(256))
		if err != nil {
			b.Fatal(err)
		}
		for _, replicas := range []int{1, 3} {
			for _, async := range []bool{false, true} {
				mode := "one-at-a-time"
				if async {
					mode = "256-in-flight"
				}
				b.Run(fmt.Sprintf("R%d/%s/%s", replicas, sync, mode), func(b *testing.B) {
					publishRate(b, js, replicas, async)
				})
			}
		}
	}
}

// publishRate publishes b.N events to a fresh ORDERS with replicas copies and reports the
// rate; the stream has no consumer, so it is a Limits stream here (an interest stream with
// none would store nothing).
func publishRate(b *testing.B, js jetstream.JetStream, replicas int, async bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg, _ := bus.Stream("ORDERS")
	cfg.Replicas, cfg.Retention, cfg.Discard, cfg.MaxMsgs, cfg.MaxBytes = replicas, jetstream.LimitsPolicy, jetstream.DiscardOld, -1, -1
	_ = js.DeleteStream(ctx, cfg.Name)
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"order_id":"` + strings.Repeat("x", 280) + `"}`)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		id := uuid.NewString()
		var err error
		if async {
			_, err = js.PublishAsync("souk.evt.order.placed."+id, body, jetstream.WithMsgID(id), jetstream.WithStallWait(30*time.Second))
		} else {
			_, err = js.Publish(ctx, "souk.evt.order.placed."+id, body, jetstream.WithMsgID(id))
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	if async {
		select {
		case <-js.PublishAsyncComplete():
		case <-ctx.Done():
			b.Fatal("publishes not acknowledged")
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}
