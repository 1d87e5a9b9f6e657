// Package natstest runs a real embedded NATS server with JetStream for a test: a random port,
// storage in t.TempDir(), shut down when the test ends.
package natstest

import (
	"context"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/souk/souk/nats/bus"
)

// Server starts an embedded server for t and returns it with a client connection to it.
func Server(t testing.TB) (*server.Server, *nats.Conn) {
	t.Helper()
	ns, err := bus.StartServer(bus.ServerConfig{Listen: "127.0.0.1:0", StoreDir: t.TempDir(), MaxMemory: 64 << 20, MaxStore: 4 << 30}, zerolog.Nop())
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatalf("natstest: connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return ns, nc
}

// Recorder is the durable consumer JetStream puts on every stream before anything publishes.
// Nothing reads it, so it holds every message: a test still finds an event that every
// service's consumer applied (an interest stream lets it go then) or that no consumer takes
// (an interest stream does not store it). A check of consumers' lag must skip it.
const Recorder = "natstest-recorder"

// JetStream starts an embedded server for t (see Server) with Souk's streams, their declared
// consumers and a Recorder on each (see Streams), and returns a connection and its JetStream
// context; ctx bounds creating them. A test of what the streams keep or drop uses Server
// instead.
func JetStream(t testing.TB, ctx context.Context) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	_, nc, js := JetStreamServer(t, ctx)
	return nc, js
}

// JetStreamServer is JetStream that also returns the server, for a test that changes it
// while it runs (a canary's subject mapping).
func JetStreamServer(t testing.TB, ctx context.Context) (*server.Server, *nats.Conn, jetstream.JetStream) {
	t.Helper()
	ns, nc := Server(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	Streams(t, ctx, js)
	return ns, nc, js
}

// Streams creates Souk's streams on js, as bus.EnsureStreams does with opts (bus.Replicas
// on a Cluster), and a Recorder on each, with the stream's replica count.
func Streams(t testing.TB, ctx context.Context, js jetstream.JetStream, opts ...bus.EnsureOption) {
	t.Helper()
	if err := bus.EnsureStreams(ctx, js, opts...); err != nil {
		t.Fatalf("natstest: %v", err)
	}
	for _, cfg := range bus.Streams {
		_, err := js.CreateConsumer(ctx, cfg.Name, jetstream.ConsumerConfig{Durable: Recorder, Description: "natstest: holds every message for the test to read",
			DeliverPolicy: jetstream.DeliverAllPolicy, AckPolicy: jetstream.AckExplicitPolicy})
		if err != nil {
			t.Fatalf("natstest: recorder on %s: %v", cfg.Name, err)
		}
	}
}

// Bucket starts an embedded server for t (see Server) with Souk's KV buckets, and returns
// JetStream on it and the bucket named bucket; ctx bounds creating them.
func Bucket(t testing.TB, ctx context.Context, bucket string) (jetstream.JetStream, jetstream.KeyValue) {
	t.Helper()
	_, nc := Server(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	if err := bus.EnsureBuckets(ctx, js); err != nil {
		t.Fatalf("natstest: %v", err)
	}
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	return js, kv
}
