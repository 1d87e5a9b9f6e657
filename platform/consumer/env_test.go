package consumer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/platform/pgtest"
)

// payloadMarker is in every test payload; no log line may contain it.
const payloadMarker = "payload-marker-7f3a"

type env struct {
	t   *testing.T
	ctx context.Context
	dsn string
	db  *pgxpool.Pool
	js  jetstream.JetStream
	log *logLines
}

// newEnv opens a fresh database with the processed table and an effects table in schema
// shop, and an embedded NATS server with Souk's streams.
func newEnv(t *testing.T) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	dsn := pgtest.NewDatabase(t)
	db, err := pg.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if err := consumer.Migrate(ctx, db, "shop"); err != nil {
		t.Fatal(err)
	}
	// No unique constraint on event_id: only the processed table may keep an event from
	// being applied twice.
	if _, err := db.Exec(ctx, `create table shop.effects (id bigserial primary key, event_id text not null, delivered int not null)`); err != nil {
		t.Fatal(err)
	}
	_, js := natstest.JetStream(t, ctx)
	e := &env{t: t, ctx: ctx, dsn: dsn, db: db, js: js, log: &logLines{}}
	t.Cleanup(func() {
		if t.Failed() {
			raw, _ := e.log.all("", "")
			t.Logf("consumer log:\n%s", strings.Join(raw, ""))
		}
	})
	return e
}

// consumer returns a Consumer named name of the ORDERS stream with handle.
func (e *env) consumer(name string, handle consumer.Handler) *consumer.Consumer {
	return &consumer.Consumer{
		Name: name, Stream: "ORDERS", Subjects: []string{"souk.evt.order.>"}, Schema: "shop",
		DB: e.db, JS: e.js, Log: zerolog.New(e.log), Handle: handle,
	}
}

// record is the effect of m: one row in shop.effects per application.
func record(ctx context.Context, tx pgx.Tx, m consumer.Msg) error {
	_, err := tx.Exec(ctx, `insert into shop.effects (event_id, delivered) values ($1, $2)`, m.EventID, m.Delivered)
	return err
}

func eventIDs(prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	return ids
}

func subjectOf(id string) string { return "souk.evt.order.placed." + id }
func payloadOf(id string) []byte { return []byte(`{"id":"` + id + `","note":"` + payloadMarker + `"}`) }

// publish publishes one event per id, id as its Nats-Msg-Id, and waits for every ack.
func (e *env) publish(ids ...string) {
	e.t.Helper()
	for _, id := range ids {
		m := nats.NewMsg(subjectOf(id))
		m.Data = payloadOf(id)
		m.Header.Set("Souk-Test", "kept")
		if _, err := e.js.PublishMsgAsync(m, jetstream.WithMsgID(id)); err != nil {
			e.t.Fatal(err)
		}
	}
	select {
	case <-e.js.PublishAsyncComplete():
	case <-time.After(10 * time.Second):
		e.t.Fatal("publish acks timed out")
	}
}

// run starts c.Run; stop (also called at cleanup) ends it and fails the test unless Run
// returned nil.
func (e *env) run(c *consumer.Consumer) (stop func()) {
	r := expect.Start(e.t, c.Run)
	return func() {
		if err := r.Stop(); err != nil {
			e.t.Errorf("Run: %v", err)
		}
	}
}

// effects returns the number of effect rows and of distinct events among them.
func (e *env) effects() (rows, events int) {
	e.t.Helper()
	if err := e.db.QueryRow(e.ctx, `select count(*), count(distinct event_id) from shop.effects`).Scan(&rows, &events); err != nil {
		e.t.Fatal(err)
	}
	return rows, events
}

// settled waits until consumer name has delivered and settled (acked or terminated) every
// one of the first total messages of ORDERS.
func (e *env) settled(name string, total uint64) {
	e.t.Helper()
	waitFor(e.t, func() error {
		c, err := e.js.Consumer(e.ctx, "ORDERS", name)
		if err != nil {
			return err
		}
		info, err := c.Info(e.ctx)
		if err != nil {
			return err
		}
		if info.NumPending != 0 || info.NumAckPending != 0 || info.AckFloor.Stream < total {
			return fmt.Errorf("pending %d, ack pending %d, ack floor %d of %d", info.NumPending, info.NumAckPending, info.AckFloor.Stream, total)
		}
		return nil
	})
}

// waitFor polls check until it returns nil, failing t with its last error after 10 s.
func waitFor(t *testing.T, check func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		<-time.After(10 * time.Millisecond)
	}
}

// logLines keeps the log lines written to it; safe for concurrent use.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, string(p))
	return len(p), nil
}

// all returns the lines written so far, and those of level with message msg, decoded.
func (l *logLines) all(level, msg string) (raw []string, matching []map[string]any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["level"] == level && m["message"] == msg {
			matching = append(matching, m)
		}
	}
	return slices.Clone(l.lines), matching
}

func dlqCount(t *testing.T, e *env) uint64 {
	t.Helper()
	s, err := e.js.Stream(e.ctx, "DLQ")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// readDLQ reads the want messages of the DLQ stream, by the event id they carry.
func readDLQ(t *testing.T, e *env, want int) map[string]*jetstream.RawStreamMsg {
	t.Helper()
	waitFor(t, func() error {
		if n := dlqCount(t, e); n != uint64(want) {
			return fmt.Errorf("DLQ holds %d messages, want %d", n, want)
		}
		return nil
	})
	s, err := e.js.Stream(e.ctx, "DLQ")
	if err != nil {
		t.Fatal(err)
	}
	letters := map[string]*jetstream.RawStreamMsg{}
	for seq := uint64(1); seq <= uint64(want); seq++ {
		m, err := s.GetMsg(e.ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		letters[m.Header.Get(consumer.DLQEventID)] = m
	}
	return letters
}

// proxy forwards TCP to PostgreSQL; cut drops every connection and refuses new ones until
// restore: a database outage as a client sees it.
type proxy struct {
	dsn   string
	mu    sync.Mutex
	down  bool
	conns []net.Conn
}

func startProxy(t *testing.T, dsn string) *proxy {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := u.Host
	u.Host = ln.Addr().String()
	p := &proxy{dsn: u.String()}
	t.Cleanup(func() { _ = ln.Close(); p.cut() })
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			var server net.Conn
			if !p.down {
				server, _ = net.Dial("tcp", target) // a failed dial drops the client below
			}
			if server == nil {
				p.mu.Unlock()
				_ = client.Close()
				continue
			}
			p.conns = append(p.conns, client, server)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(server, client); _ = server.Close() }()
			go func() { _, _ = io.Copy(client, server); _ = client.Close() }()
		}
	}()
	return p
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

func (p *proxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}
