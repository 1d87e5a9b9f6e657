package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"

	"github.com/souk/souk/gateway"
	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/platform/background"
	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/pgtest"
	"github.com/souk/souk/platform/rpc"
)

// A consumer whose start fails (its stream does not exist yet) is down: /readyz answers 503
// naming it, and so do the service's micro stats and its gauge. Once the stream is created
// the loop comes back by itself, with no restart of the service, applies an event, and
// /readyz answers 200.
func TestReadyzNamesALoopThatIsDownUntilItRecovers(t *testing.T) {
	f := newLateConsumer(t)
	f.notReady(10 * time.Second)

	// An operator sees it in the micro stats of every instance, with the cause, and in the
	// gauge.
	stats := loopStats(t, f.h.nc, "thing")
	if !slices.Equal(stats.Down, []string{"consumer thing-late"}) || len(stats.Loops) != 1 ||
		!strings.Contains(stats.Loops[0].Error, "LATE") || stats.Loops[0].Since.IsZero() {
		t.Fatalf("micro stats of the loops: %+v", stats)
	}
	loopUp(t, f.reg, "thing", "consumer thing-late", 0)

	// The cause is fixed: the stream appears, and an event is published on it.
	f.fixAndApply("evt-late-1")
	if got := loopStats(t, f.h.nc, "thing"); len(got.Down) != 0 || got.Loops[0].Restarts == 0 {
		t.Fatalf("micro stats after recovery: %+v", got)
	}
	loopUp(t, f.reg, "thing", "consumer thing-late", 1)
}

// lateConsumer is a service "thing" whose one loop is a platform/consumer of the stream
// LATE, which does not exist until fixAndApply creates it, behind a gateway.
type lateConsumer struct {
	t   *testing.T
	h   *harness
	ctx context.Context
	db  *pgxpool.Pool
	js  jetstream.JetStream
	reg *prometheus.Registry
}

func newLateConsumer(t *testing.T) *lateConsumer {
	h := newHarness(t, gateway.Config{}, "thing")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	db := pgtest.Pool(t, ctx)
	if err := consumer.Migrate(ctx, db, "shop"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `create table shop.applied (event_id text primary key)`); err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(h.nc)
	if err != nil {
		t.Fatal(err)
	}
	// The default back-off (250 ms doubling to 30 s, up again 15 s after a restart) would make
	// the test wait for seconds after the fix; the bounds are background's to test, the
	// recovery is this test's.
	g := background.Start(ctx, zerolog.Nop(), background.WithBackoff(background.Backoff{Min: 50 * time.Millisecond, Max: 400 * time.Millisecond, Settle: 200 * time.Millisecond}))
	t.Cleanup(g.Stop)
	late := &consumer.Consumer{Name: "thing-late", Stream: "LATE", Subjects: []string{"souk.evt.late.>"}, Schema: "shop",
		DB: db, JS: js, Log: zerolog.Nop(), Handle: func(ctx context.Context, tx pgx.Tx, m consumer.Msg) error {
			_, err := tx.Exec(ctx, `insert into shop.applied (event_id) values ($1)`, m.EventID)
			return err
		}}
	g.Go("consumer thing-late", late.Run)
	reg := prometheus.NewRegistry()
	svc, err := rpc.New(rpc.Config{Name: "thing", Version: "0.0.1"}, rpc.Deps{Log: zerolog.Nop(), NC: h.nc, Registry: reg, Loops: g})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop(context.Background()) })
	return &lateConsumer{t: t, h: h, ctx: ctx, db: db, js: js, reg: reg}
}

// notReady waits until /readyz answers 503 naming the consumer.
func (f *lateConsumer) notReady(within time.Duration) {
	f.t.Helper()
	const down = "thing: consumer thing-late down"
	expect.Within(f.t, within, func() error {
		r := f.h.do("GET", "/readyz", nil)
		if r.status != 503 {
			return fmt.Errorf("readyz %d %s, want 503 naming %q", r.status, r.body, down)
		}
		if p := r.problem(f.t, 503); !slices.Contains(p.Missing, down) {
			return fmt.Errorf("missing %v, want %q", p.Missing, down)
		}
		return nil
	})
}

// fixAndApply creates the stream LATE, publishes the event id on it, and waits until the
// consumer has applied it once and /readyz answers 200.
func (f *lateConsumer) fixAndApply(id string) {
	f.t.Helper()
	t, ctx := f.t, f.ctx
	if _, err := f.js.CreateStream(ctx, jetstream.StreamConfig{Name: "LATE", Subjects: []string{"souk.evt.late.>"}}); err != nil {
		t.Fatal(err)
	}
	msg := nats.NewMsg("souk.evt.late.happened." + id)
	msg.Header.Set(jetstream.MsgIDHeader, id)
	if _, err := f.js.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
	expect.Within(t, 30*time.Second, func() error {
		var n int
		if err := f.db.QueryRow(ctx, `select count(*) from shop.applied where event_id = $1`, id).Scan(&n); err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("the event was applied %d times, want once", n)
		}
		return nil
	})
	expect.Within(t, 10*time.Second, func() error {
		if r := f.h.do("GET", "/readyz", nil); r.status != 200 {
			return fmt.Errorf("readyz %d %s after the loop recovered", r.status, r.body)
		}
		return nil
	})
}

// A consumer that runs while its stream vanishes keeps retrying inside itself rather than
// return: it reports itself down, so /readyz names it until the stream is back, and then it
// applies what arrives.
func TestReadyzNamesAConsumerWhoseStreamVanished(t *testing.T) {
	f := newLateConsumer(t)
	f.fixAndApply("evt-before")
	if err := f.js.DeleteStream(f.ctx, "LATE"); err != nil {
		t.Fatal(err)
	}
	f.notReady(30 * time.Second)
	f.fixAndApply("evt-after")
}

// loopStats reads the loops of the one instance of service from its micro stats.
func loopStats(t *testing.T, nc *nats.Conn, service string) rpc.Loops {
	t.Helper()
	msg, err := nc.Request("$SRV.STATS."+service, nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var st micro.Stats
	if err := json.Unmarshal(msg.Data, &st); err != nil {
		t.Fatal(err)
	}
	for _, ep := range st.Endpoints {
		if ep.Name == rpc.LoopsEndpoint {
			var l rpc.Loops
			if err := json.Unmarshal(ep.Data, &l); err != nil {
				t.Fatal(err)
			}
			return l
		}
	}
	t.Fatalf("no %s endpoint in the stats: %s", rpc.LoopsEndpoint, msg.Data)
	return rpc.Loops{}
}

// loopUp checks that reg has souk_loop_up{service,loop} at want.
func loopUp(t *testing.T, reg *prometheus.Registry, service, loop string, want float64) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			has := func(name, value string) bool {
				return slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == name && l.GetValue() == value })
			}
			if f.GetName() == "souk_loop_up" && has("service", service) && has("loop", loop) {
				if got := m.GetGauge().GetValue(); got != want {
					t.Fatalf("souk_loop_up{service=%q,loop=%q} = %v, want %v", service, loop, got, want)
				}
				return
			}
		}
	}
	t.Fatalf("no souk_loop_up{service=%q,loop=%q}", service, loop)
}

// Readiness asks every instance: one healthy instance does not hide another whose relay is
// down, and a service without loops (no loops endpoint) is ready when it answers.
func TestReadyzAsksEveryInstance(t *testing.T) {
	h := newHarness(t, gateway.Config{}, "pair", "plain")
	serve(t, h.nc, "plain", "", nil)
	for _, loop := range []func(context.Context) error{
		func(ctx context.Context) error { <-ctx.Done(); return nil },
		func(context.Context) error { return errors.New("recovery failed") },
	} {
		g := background.Start(context.Background(), zerolog.Nop(), background.WithBackoff(background.Backoff{Min: time.Hour}))
		t.Cleanup(g.Stop)
		g.Go("outbox relay", loop)
		svc, err := rpc.New(rpc.Config{Name: "pair", Version: "0.0.1"},
			rpc.Deps{Log: zerolog.Nop(), NC: h.nc, Registry: prometheus.NewRegistry(), Loops: g})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = svc.Stop(context.Background()) })
	}
	expect.Within(t, 10*time.Second, func() error {
		if r := h.do("GET", "/readyz", nil); r.status != 503 {
			return fmt.Errorf("readyz %d %s with a relay down", r.status, r.body)
		}
		return nil
	})
	for range 5 { // whichever instance answers first
		if p := h.do("GET", "/readyz", nil).problem(t, 503); !slices.Equal(p.Missing, []string{"pair: outbox relay down"}) {
			t.Fatalf("missing %v", p.Missing)
		}
	}
}

// BenchmarkReadyz measures /readyz over ten services of two instances each, every one with
// loops: the time is the first instance's answer plus StatsWindow for the others.
func BenchmarkReadyz(b *testing.B) {
	names := []string{"s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9"}
	h := newHarness(b, gateway.Config{}, names...)
	for _, name := range names {
		for range 2 {
			g := background.Start(context.Background(), zerolog.Nop())
			b.Cleanup(g.Stop)
			g.Go("outbox relay", func(ctx context.Context) error { <-ctx.Done(); return nil })
			svc, err := rpc.New(rpc.Config{Name: name, Version: "0.0.1"},
				rpc.Deps{Log: zerolog.Nop(), NC: h.nc, Registry: prometheus.NewRegistry(), Loops: g})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = svc.Stop(context.Background()) })
		}
	}
	for b.Loop() {
		if r := h.do("GET", "/readyz", nil); r.status != 200 {
			b.Fatalf("%d %s", r.status, r.body)
		}
	}
}
