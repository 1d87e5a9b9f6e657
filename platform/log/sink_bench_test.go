package log_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/nats/natstest"
	soukLog "github.com/souk/souk/platform/log"
)

// BenchmarkAccessLine is the logger's cost of one gateway-like access line: to stdout only,
// and to stdout and a Sink publishing into a real LOGS stream (the stream's own work is on
// the server's goroutines; lines beyond what it takes are dropped, reported as dropped/op).
func BenchmarkAccessLine(b *testing.B) {
	line := func(log zerolog.Logger) {
		log.Info().Str("method", "GET").Str("route", "/v1/products/:id").Int("status", 200).
			Dur("duration", 800*time.Microsecond).Str("request_id", "01J9Z8Q4W5").Str("ip", "203.0.113.9").Msg("http request")
	}
	b.Run("stdout", func(b *testing.B) {
		log, _ := soukLog.New(io.Discard, "info", "json")
		log = log.With().Str("service", "gateway").Logger()
		b.ReportAllocs()
		for b.Loop() {
			line(log)
		}
	})
	b.Run("stdout+sink", func(b *testing.B) {
		_, nc := natstest.Server(b)
		js, err := jetstream.New(nc)
		if err != nil {
			b.Fatal(err)
		}
		if err := bus.EnsureLogs(context.Background(), js, bus.HubDomain, bus.LogLimits{MaxBytes: 256 << 20, MaxAge: time.Hour}); err != nil {
			b.Fatal(err)
		}
		sink := soukLog.NewSink(soukLog.SinkConfig{Origin: bus.HubDomain, Service: "souk", Services: []string{"gateway"}})
		stop := sink.Start(nc)
		lvl, _ := soukLog.ParseLevel("info")
		log, _ := soukLog.NewAt(io.Discard, lvl, "json", sink)
		log = log.With().Str("service", "gateway").Logger()
		b.ReportAllocs()
		for b.Loop() {
			line(log)
		}
		b.StopTimer()
		stop()
		b.ReportMetric(value(sink.Dropped())/float64(b.N), "dropped/op")
	})
}
