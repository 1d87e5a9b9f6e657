// Package natstest runs a real embedded NATS server with JetStream for a test: a random port,
// storage in t.TempDir(), shut down when the test ends.
package natstest

import (
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	bus "github.com/souk/souk/nats"
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
