package outbox_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/nats/natstest"
)

// A relay killed, and its NATS server losing the unsynced tail with it; the next relay starts
// 10 minutes later (the clock moved by backdating). The events the dead relay had sent
// within the resend window before its last activity are back in the stream, once each;
// older ones, which a server syncing every 2 minutes had on disk, are not sent again.
func TestRestartLongAfterKillResendsTheDeadRelaysWindow(t *testing.T) {
	resendsOnlyTheDeadRelaysWindow(t, false)
}

// resendsOnlyTheDeadRelaysWindow: a relay sends 20 events, which then count as sent 5
// minutes earlier (outside the 3-minute window), and 80 more; it is killed, and the next
// relay starts 10 minutes later on a server that lost the stream. Only the 80 come back.
// With holdHorizon, a transaction holds the horizon while the first 20 go out: they are
// marked sent one by one, and the watermark passes over them with the 80.
func resendsOnlyTheDeadRelaysWindow(t *testing.T, holdHorizon bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url, db := migrated(t, ctx)
	_, js := natstest.JetStream(t, ctx)
	dead := startRelay(t, ctx, url, js)

	var long pgx.Tx
	if holdHorizon {
		long = begin(t, ctx, open(t, ctx, url))
	}
	old := addEvents(t, ctx, db, 20)
	expect.Within(t, 20*time.Second, func() error { return holdsExactly(ctx, js, old) })
	expect.Within(t, 20*time.Second, func() error { return allSent(ctx, db) })
	if long != nil {
		if err := long.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
	}
	sentAgo(t, ctx, db, 5*time.Minute)
	atRisk := addEvents(t, ctx, db, 80)
	expect.Within(t, 20*time.Second, func() error { return holdsExactly(ctx, js, append(atRisk, old...)) })
	expect.Within(t, 20*time.Second, func() error { return allSent(ctx, db) })
	dead.kill(t)

	backdate(t, ctx, db, 10*time.Minute)
	loseStream(t, ctx, js)

	startRelay(t, ctx, url, js)
	expect.Within(t, 20*time.Second, func() error { return holdsExactly(ctx, js, atRisk) })
	expect.Within(t, 20*time.Second, func() error { return allSent(ctx, db) })
}

// Two relays on one outbox: one killed, the other stopped cleanly afterwards. The clean stop
// must not erase the other's crash: the next relay sends the killed relay's window again,
// and not the cleanly stopped one's.
func TestCleanStopOfOneRelayKeepsTheKilledOnesWindow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url, db := migrated(t, ctx)
	_, js := natstest.JetStream(t, ctx)

	killed := startRelay(t, ctx, url, js)
	byKilled := addEvents(t, ctx, db, 100)
	expect.Within(t, 20*time.Second, func() error { return holdsExactly(ctx, js, byKilled) })
	expect.Within(t, 20*time.Second, func() error { return allSent(ctx, db) })
	clean := startRelay(t, ctx, url, js)
	killed.kill(t)
	byClean := addEvents(t, ctx, db, 50)
	expect.Within(t, 20*time.Second, func() error { return holdsExactly(ctx, js, append(byClean, byKilled...)) })
	expect.Within(t, 20*time.Second, func() error { return allSent(ctx, db) })
	clean.stop(t)

	backdate(t, ctx, db, 10*time.Minute)
	loseStream(t, ctx, js)
	startRelay(t, ctx, url, js)
	expect.Within(t, 20*time.Second, func() error { return holdsExactly(ctx, js, byKilled) })
	expect.Within(t, 20*time.Second, func() error { return allSent(ctx, db) })
}

// The NATS server restarts without the tail it had not synced (its store is gone) while the
// relay keeps running. The relay notices (a new server, a stream behind what it saw acked)
// and sends its recent window again: the lost events are back, once each, and events
// written after the restart go out too.
func TestNATSServerLosingItsTailWhileRelayRunsGetsTheEventsBack(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url, db := migrated(t, ctx)
	dir := t.TempDir()
	cfg := bus.ServerConfig{Listen: "127.0.0.1:0", StoreDir: dir, MaxMemory: 64 << 20, MaxStore: 4 << 30}
	ns, err := bus.StartServer(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	cfg.Listen = ns.Addr().String() // the same port after the restart
	nc, err := nats.Connect(ns.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.EnsureStreams(ctx, js); err != nil {
		t.Fatal(err)
	}

	// The first 20 were sent 10 minutes ago: synced long before the crash, not at risk.
	old := addEvents(t, ctx, db, 20)
	startRelay(t, ctx, url, js)
	expect.Within(t, 20*time.Second, func() error { return holdsExactly(ctx, js, old) })
	expect.Within(t, 20*time.Second, func() error { return allSent(ctx, db) })
	sentAgo(t, ctx, db, 10*time.Minute)
	atRisk := addEvents(t, ctx, db, 80)
	expect.Within(t, 20*time.Second, func() error { return holdsExactly(ctx, js, append(atRisk, old...)) })
	expect.Within(t, 20*time.Second, func() error { return allSent(ctx, db) })

	ns.Shutdown()
	ns.WaitForShutdown()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if ns, err = bus.StartServer(cfg, zerolog.Nop()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	expect.Within(t, 20*time.Second, func() error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return bus.EnsureStreams(ctx, js)
	})

	later := addEvents(t, ctx, db, 10)
	expect.Within(t, 30*time.Second, func() error { return holdsExactly(ctx, js, append(atRisk, later...)) })
	expect.Within(t, 20*time.Second, func() error { return allSent(ctx, db) })
}
