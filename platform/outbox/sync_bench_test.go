package outbox_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/platform/outbox"
)

// What `sync_interval: always` costs on this machine (issue 12 item 5): JetStream publish
// throughput of outbox-sized events with the default sync (every 2 min) and with SyncAlways
// (fsync per write), raw and through the relay (claim, async publish, acks, mark sent).
//
//	go test -run '^$' -bench 'Sync' -benchtime 20000x -count 3 ./platform/outbox/

// payload is the size of a typical saga event (order.placed with a few lines, ~500 B).
var payload = []byte(`{"order_id":"0190a7c2-0000-7000-8000-000000000000","user_id":"0190a7c2-0000-7000-8000-000000000001",` +
	`"currency":"EUR","total":12990,"lines":[` + strings.Repeat(`{"sku":"SKU-000123","quantity":1,"unit_price":4330},`, 5) +
	`{"sku":"SKU-000124","quantity":1,"unit_price":0}],"occurred_at":"2026-12-05T06:00:00Z"}`)

// syncServer starts an embedded JetStream server with Souk's streams, fsyncing every write
// when always.
func syncServer(b *testing.B, always bool) (*nats.Conn, jetstream.JetStream) {
	b.Helper()
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true,
		JetStream: true, StoreDir: b.TempDir(), JetStreamMaxMemory: 64 << 20, JetStreamMaxStore: 4 << 30,
		SyncAlways: always,
	})
	if err != nil {
		b.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		b.Fatal("nats not ready")
	}
	b.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bus.EnsureStreams(ctx, js); err != nil {
		b.Fatal(err)
	}
	return nc, js
}

var syncModes = []struct {
	name   string
	always bool
}{{"sync=default", false}, {"sync=always", true}}

// BenchmarkSyncJetStreamPublish publishes b.N events with at most 256 acks outstanding, as
// the relay's batches do, and reports events/s.
func BenchmarkSyncJetStreamPublish(b *testing.B) {
	for _, mode := range syncModes {
		b.Run(mode.name, func(b *testing.B) {
			_, js := syncServer(b, mode.always)
			futures := make([]jetstream.PubAckFuture, 0, 256)
			start := time.Now()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				id := outbox.NewID().String()
				f, err := js.PublishAsync("souk.evt.order.placed."+id, payload, jetstream.WithMsgID(id))
				if err != nil {
					b.Fatal(err)
				}
				if futures = append(futures, f); len(futures) == cap(futures) || i == b.N-1 {
					for _, f := range futures {
						select {
						case <-f.Ok():
						case err := <-f.Err():
							b.Fatal(err)
						case <-time.After(30 * time.Second):
							b.Fatal("no ack in 30s")
						}
					}
					futures = futures[:0]
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// BenchmarkSyncRelay relays b.N committed events from PostgreSQL to the stream and reports
// events/s: the relay's whole path, claim to mark.
func BenchmarkSyncRelay(b *testing.B) {
	for _, mode := range syncModes {
		b.Run(mode.name, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			_, js := syncServer(b, mode.always)
			_, db := migrated(b, ctx)
			if err := outbox.Migrate(ctx, db, "orders"); err != nil {
				b.Fatal(err)
			}
			for done := 0; done < b.N; {
				n := min(1000, b.N-done)
				evs := make([]outbox.Event, n)
				for i := range evs {
					id := outbox.NewID()
					evs[i] = outbox.Event{ID: id, Subject: "souk.evt.order.placed." + id.String(), Payload: rawJSON(payload)}
				}
				if err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error { return outbox.Add(ctx, tx, "orders", evs...) }); err != nil {
					b.Fatal(err)
				}
				done += n
			}
			rctx, stop := context.WithCancel(ctx)
			defer stop()
			start := time.Now()
			b.ResetTimer()
			go outbox.NewRelay("orders", db, js, zerolog.Nop()).Run(rctx)
			for {
				var n int
				if err := db.QueryRow(ctx, `select count(*) from orders.outbox where sent_at is null`).Scan(&n); err != nil {
					b.Fatal(err)
				}
				if n == 0 {
					break
				}
				<-time.After(5 * time.Millisecond)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// rawJSON is a payload already encoded.
type rawJSON []byte

func (r rawJSON) MarshalJSON() ([]byte, error) { return r, nil }
