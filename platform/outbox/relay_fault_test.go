package outbox_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/platform/outbox"
)

// lostAcks is a TCP proxy between a client and the NATS server that can drop every byte the
// server sends (publish acks included) while the connection stays open: a reply lost in a
// cluster, without a disconnect for the client to notice.
type lostAcks struct{ proxy *toxiproxy.Proxy }

func newLostAcks(t *testing.T, upstream string) *lostAcks {
	t.Helper()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "nats", "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return &lostAcks{proxy: p}
}

func (l *lostAcks) url() string { return "nats://" + l.proxy.Listen }

// start drops everything the server sends from now on (a timeout toxic of 0 never closes).
func (l *lostAcks) start(t *testing.T) {
	t.Helper()
	_, err := l.proxy.Toxics.AddToxicJson(strings.NewReader(`{"name":"lost-acks","type":"timeout","stream":"downstream","attributes":{"timeout":0}}`))
	if err != nil {
		t.Fatal(err)
	}
}

func (l *lostAcks) stop(t *testing.T) {
	t.Helper()
	if err := l.proxy.Toxics.RemoveToxic(context.Background(), "lost-acks"); err != nil {
		t.Fatal(err)
	}
}

// claimable counts the unsent rows when no relay holds the outbox's lock (0 while one does).
func claimable(ctx context.Context, db *pgxpool.Pool) (int, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx)
	var n int
	err = tx.QueryRow(ctx, `select count(*) from users.outbox_pending
		where pg_try_advisory_xact_lock(hashtext('souk.outbox'), hashtext('users'))`).Scan(&n)
	return n, err
}

// idleInTransaction counts the sessions of this database idle inside a transaction.
func idleInTransaction(ctx context.Context, db *pgxpool.Pool) (int, error) {
	var n int
	err := db.QueryRow(ctx, `select count(*) from pg_stat_activity
		where datname = current_database() and state like 'idle in transaction%'`).Scan(&n)
	return n, err
}

// waitingOnAcks waits until the relay holds a batch in a transaction, waiting for its acks.
func waitingOnAcks(t *testing.T, ctx context.Context, db *pgxpool.Pool) {
	t.Helper()
	expect.Within(t, 30*time.Second, func() error {
		n, err := idleInTransaction(ctx, db)
		if err == nil && n == 0 {
			err = fmt.Errorf("the relay is not waiting on a batch")
		}
		return err
	})
}

// Publish acks lost without a disconnect. The relay neither hangs nor loses anything: its
// rows are released while the acks are missing, it recovers by itself when they flow again,
// it stops promptly when cancelled in the middle of the fault, and in the end every event is
// in the stream exactly once with no transaction left open.
func TestRelaySurvivesLostPublishAcks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	url, db := migrated(t, ctx)
	nc, js := natstest.JetStream(t, ctx)
	fault := newLostAcks(t, strings.TrimPrefix(nc.ConnectedUrl(), "nats://"))
	pnc, err := nats.Connect(fault.url(), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pnc.Close)
	// No WithPublishAsyncTimeout: the relay must bound its own waits.
	pjs, err := jetstream.New(pnc)
	if err != nil {
		t.Fatal(err)
	}

	relay := startRelay(t, ctx, url, pjs)
	var ids []string
	ids = append(ids, addEvents(t, ctx, db, 100)...)
	expect.Within(t, 20*time.Second, func() error { return holdsExactly(ctx, js, ids) })

	reconnects := pnc.Stats().Reconnects
	fault.start(t)
	batch := addEvents(t, ctx, db, 100)
	ids = append(ids, batch...)
	waitingOnAcks(t, ctx, db)
	expect.Within(t, 30*time.Second, func() error {
		n, err := claimable(ctx, db)
		if err == nil && n != len(batch) {
			err = fmt.Errorf("%d of %d unsent rows free: the relay holds the outbox while acks are lost", n, len(batch))
		}
		return err
	})
	if pnc.Stats().Reconnects != reconnects || !pnc.IsConnected() {
		t.Fatal("the connection dropped during the fault: acks must be lost without a disconnect")
	}
	fault.stop(t) // closes the connections it holds: the client reconnects
	expect.Within(t, 60*time.Second, func() error { return holdsExactly(ctx, js, ids) })
	expect.Within(t, 20*time.Second, func() error { return allSent(ctx, db) })

	// Again, and the relay is stopped while it waits for acks that will never come.
	fault.start(t)
	ids = append(ids, addEvents(t, ctx, db, 50)...)
	waitingOnAcks(t, ctx, db)
	relay.stop(t) // fails the test unless Run returns within 15 s
	fault.stop(t)

	startRelay(t, ctx, url, pjs)
	expect.Within(t, 60*time.Second, func() error { return holdsExactly(ctx, js, ids) })
	expect.Within(t, 20*time.Second, func() error { return allSent(ctx, db) })
	expect.Within(t, 20*time.Second, func() error {
		n, err := idleInTransaction(ctx, db)
		if err == nil && n > 0 {
			err = fmt.Errorf("%d sessions idle in a transaction", n)
		}
		return err
	})
}

// syncBuffer is a log sink safe for the relay's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Count(s.b.Bytes(), []byte("\n"))
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A stream that refuses messages (DiscardNew at its limit) pushes back into the outbox: the
// refused events stay unsent and are retried with back-off, not in a loop and not with a log
// line per try, and they all go out, once, when the stream has room again.
func TestFullStreamHoldsEventsInTheOutbox(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, db := migrated(t, ctx)
	nc, js := natstest.JetStream(t, ctx)
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	cfg.MaxMsgs, cfg.Discard = 10, jetstream.DiscardNew
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	ids := addEvents(t, ctx, db, 30)
	// Every try reaches plain subscribers whether the stream keeps it or not: count the
	// tries of the last event.
	var tries atomic.Int64
	last := "souk.evt.user.registered." + ids[len(ids)-1]
	sub, err := nc.Subscribe(last, func(*nats.Msg) { tries.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	logs := &syncBuffer{}
	relay := outbox.NewRelay(schema, db, js, zerolog.New(logs).Level(zerolog.WarnLevel))
	reg := prometheus.NewRegistry()
	relay.Metrics = reg
	running := expect.Start(t, relay.Run)
	expect.Within(t, 30*time.Second, func() error {
		if n := tries.Load(); n < 4 {
			return fmt.Errorf("the refused events were tried %d times, want a retry at least 4", n)
		}
		return nil
	})
	if n, err := unsent(ctx, db); err != nil || n != 20 {
		t.Fatalf("%d events unsent (err %v), want the 20 the full stream refused", n, err)
	}
	if n := logs.lines(); n > 2 {
		t.Fatalf("%d warnings logged for %d tries of one refusal, want at most 2:\n%s", n, tries.Load(), logs)
	}
	// Held back, but not silently.
	expect.Within(t, 20*time.Second, func() error {
		failing, oldest := gauge(reg, "souk_outbox_failing"), gauge(reg, "souk_outbox_oldest_unsent_seconds")
		if failing != 1 || oldest <= 0 {
			return fmt.Errorf("souk_outbox_failing %v, souk_outbox_oldest_unsent_seconds %v: want 1 and > 0", failing, oldest)
		}
		if backlog := gauge(reg, "souk_outbox_backlog"); backlog != 20 || relay.Backlog() != 20 {
			return fmt.Errorf("souk_outbox_backlog %v, Backlog %d: want the 20 unsent", backlog, relay.Backlog())
		}
		return nil
	})

	cfg.MaxMsgs = 100
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	expect.Within(t, 60*time.Second, func() error { return holdsExactly(ctx, js, ids) })
	expect.Within(t, 20*time.Second, func() error { return allSent(ctx, db) })
	if failing := gauge(reg, "souk_outbox_failing"); failing != 0 {
		t.Fatalf("souk_outbox_failing %v after the stream took everything", failing)
	}
	expect.Within(t, 20*time.Second, func() error {
		if backlog := gauge(reg, "souk_outbox_backlog"); backlog != 0 || relay.Backlog() != 0 {
			return fmt.Errorf("souk_outbox_backlog %v, Backlog %d after everything was sent", backlog, relay.Backlog())
		}
		return nil
	})
	if err := running.Stop(); err != nil {
		t.Fatal(err)
	}
}

// gauge reads the value of a gauge with one series from reg; -1 when it is not there.
func gauge(reg *prometheus.Registry, name string) float64 {
	families, err := reg.Gather()
	if err != nil {
		return -1
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return -1
}
