package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/souk/souk/gateway"
	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/subjects"
)

// sseEnv is a gateway serving HTTP on a port, the streams, and an order service that answers
// with an order the test changes.
type sseEnv struct {
	t     *testing.T
	ctx   context.Context
	h     *harness
	js    jetstream.JetStream
	base  string
	mu    sync.Mutex
	order subjects.Order
}

func newSSEEnv(t *testing.T, statuses ...string) *sseEnv {
	t.Helper()
	return newSSEEnvWith(t, gateway.Config{}, statuses...)
}

// newSSEEnvWith is newSSEEnv with a gateway configured by cfg.
func newSSEEnvWith(t *testing.T, cfg gateway.Config, statuses ...string) *sseEnv {
	t.Helper()
	return newSSEEnvOn(t, newHarness(t, cfg), statuses)
}

// newSSEEnvOn is newSSEEnv on the gateway of h, its streams made with opts.
func newSSEEnvOn(t *testing.T, h *harness, statuses []string, opts ...bus.EnsureOption) *sseEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	e := &sseEnv{t: t, ctx: ctx, h: h, order: subjects.Order{ID: "0190aaaa-0000-7000-8000-000000000001", UserID: "u1"}}
	var err error
	if e.js, err = jetstream.New(e.h.nc); err != nil {
		t.Fatal(err)
	}
	if err := bus.EnsureStreams(ctx, e.js, opts...); err != nil {
		t.Fatal(err)
	}
	for _, s := range statuses {
		e.order.History = append(e.order.History, subjects.OrderStatus{Status: s, At: time.Now().UTC()})
	}
	serve(t, e.h.nc, "order", subjects.OrderGet.Subject, func(req micro.Request) {
		e.mu.Lock()
		b, _ := json.Marshal(e.order)
		e.mu.Unlock()
		_ = req.Respond(b)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = e.h.g.App().Listener(ln) }()
	t.Cleanup(func() { _ = e.h.g.App().ShutdownWithTimeout(time.Second) })
	e.base = "http://" + ln.Addr().String()
	return e
}

// move appends status to the order's history and publishes its event, as the order service
// does: the row first, then the event through the outbox.
func (e *sseEnv) move(status string) {
	e.t.Helper()
	e.mu.Lock()
	e.order.History = append(e.order.History, subjects.OrderStatus{Status: status, At: time.Now().UTC()})
	e.mu.Unlock()
	subject := subjects.EvtOrder.Kind + "." + status + "." + e.order.ID
	if _, err := e.js.Publish(e.ctx, subject, []byte(`{"status":"`+status+`"}`), jetstream.WithMsgID(nats.NewInbox())); err != nil {
		e.t.Fatal(err)
	}
}

type sseEvent struct{ id, name, data string }

// open opens the order's event stream and returns its events as they arrive; the channel
// closes when the stream ends.
func (e *sseEnv) open(lastEventID string) <-chan sseEvent {
	e.t.Helper()
	req, _ := http.NewRequestWithContext(e.ctx, "GET", e.base+"/v1/orders/"+e.order.ID+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+e.h.token("u1", "customer"))
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	// The stream's headers come at once (the only wait before them is one read of the order,
	// bounded by the gateway's RequestTimeout): a stream that does not start fails here with
	// the goroutines, the gateway's among them.
	ctx, cancel := context.WithCancel(e.ctx)
	w := expect.Watch(2*gateway.DefaultRequestTimeout, cancel)
	res, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		w.Fail(e.t, "the stream's headers", err)
	}
	w.Stop()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		e.t.Fatalf("order events: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	out := make(chan sseEvent, 16)
	go func() {
		defer close(out)
		defer cancel()
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					out <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.name = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[6:]
			}
		}
	}()
	return out
}

// next returns the stream's next event.
func (e *sseEnv) next(events <-chan sseEvent) sseEvent {
	e.t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			e.t.Fatal("the stream ended")
		}
		return ev
	case <-time.After(15 * time.Second):
		e.t.Fatal("no event within 15s")
	}
	return sseEvent{}
}

// ephemeral returns the names of the consumers on ORDERS that are not declared durables.
func (e *sseEnv) ephemeral() ([]string, error) {
	s, err := e.js.Stream(e.ctx, "ORDERS")
	if err != nil {
		return nil, err
	}
	var out []string
	names := s.ListConsumers(e.ctx)
	for c := range names.Info() {
		if c.Config.Durable == "" {
			out = append(out, c.Name)
		}
	}
	return out, names.Err()
}

// An order's stream sends its history from the order (the interest stream no longer holds
// the events every service applied; here it never held pending's), then each change live,
// woken by one subscription to the order's events for the stream's whole life, gone when the
// order ends, and with no consumer on ORDERS: with R3 streams the server refuses an ordered
// consumer of an interest stream.
func TestOrderEventsSendHistoryThenFollowWithoutAConsumer(t *testing.T) {
	e := newSSEEnv(t, subjects.OrderStatusPending)
	created, err := e.h.nc.SubscribeSync("$JS.EVENT.ADVISORY.CONSUMER.CREATED.ORDERS.>")
	if err != nil {
		t.Fatal(err)
	}
	before := e.h.nc.NumSubscriptions()
	events := e.open("")
	if ev := e.next(events); ev.id != "1" || ev.name != "pending" || !strings.Contains(ev.data, `"status":"pending"`) {
		t.Fatalf("first event %+v, want id 1 pending with its history entry", ev)
	}
	if n := e.h.nc.NumSubscriptions(); n != before+1 {
		t.Fatalf("%d subscriptions while the stream is open, want %d", n, before+1)
	}
	e.move(subjects.OrderStatusReserved)
	if ev := e.next(events); ev.id != "2" || ev.name != "reserved" {
		t.Fatalf("live event %+v, want id 2 reserved", ev)
	}
	e.move(subjects.OrderStatusPaid)
	e.move(subjects.OrderStatusCancelled)
	var got []string
	for ev := range events {
		got = append(got, ev.id+" "+ev.name)
	}
	if fmt.Sprint(got) != "[3 paid 4 cancelled]" {
		t.Fatalf("after reserved: %v, then the end", got)
	}
	expect.Within(t, 10*time.Second, func() error {
		if n := e.h.nc.NumSubscriptions(); n != before {
			return fmt.Errorf("%d subscriptions after the stream ended, want %d", n, before)
		}
		return nil
	})
	if names, err := e.ephemeral(); err != nil || len(names) != 0 {
		t.Fatalf("consumers on ORDERS: %v (%v), want none", names, err)
	}
	if m, err := created.NextMsg(0); err == nil {
		t.Fatalf("a consumer was created on ORDERS: %s", m.Subject)
	}
}

// Events of the order that arrive while the stream's subscription is being confirmed (the
// flush of follow: a round trip on the gateway's shared connection, long on a busy machine)
// do not stall the stream: it starts at once and follows the order. The gateway's PINGs are
// held here while the order's events keep coming. Before, the handler then blocked for good
// on its own wake, sent to the channel the events had filled: no headers, no access line,
// and the shutdown waited for the request (docs/decisions.md, "The order's event stream
// under load").
func TestOrderEventsStartWhileEventsArriveDuringTheSubscription(t *testing.T) {
	srv, direct := natstest.Server(t)
	proxy := newPingDelay(t, srv.Addr().String(), 500*time.Millisecond)
	nc, err := nats.Connect("nats://" + proxy.addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	e := newSSEEnvOn(t, newHarnessOn(t, nc, nil, gateway.Config{}), []string{subjects.OrderStatusPending})
	subject := subjects.EvtOrder.Kind + "." + subjects.OrderStatusPending + "." + e.order.ID
	stop, flooded := make(chan struct{}), make(chan struct{})
	go func() { // events the subscription sees during each delayed flush
		defer close(flooded)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				_ = direct.Publish(subject, []byte(`{"status":"pending"}`))
			}
		}
	}()
	stopFlood := sync.OnceFunc(func() { close(stop); <-flooded })
	defer stopFlood()
	proxy.armed.Store(true)
	events := e.open("")
	if ev := e.next(events); ev.id != "1" || ev.name != "pending" {
		t.Fatalf("first event %+v, want id 1 pending", ev)
	}
	stopFlood()
	e.move(subjects.OrderStatusReserved)
	if ev := e.next(events); ev.id != "2" || ev.name != "reserved" {
		t.Fatalf("live event %+v, want id 2 reserved", ev)
	}
}

// pingDelay is a TCP proxy in front of a NATS server that, once armed, holds each PING its
// client sends for delay before passing it on (with what follows it): the client's flushes
// take that long, while everything the server sends it passes at once.
type pingDelay struct {
	ln    net.Listener
	delay time.Duration
	armed atomic.Bool
	mu    sync.Mutex
	conns []net.Conn
}

func newPingDelay(t *testing.T, upstream string, delay time.Duration) *pingDelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pingDelay{ln: ln, delay: delay}
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			_ = c.Close()
		}
	})
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.DialTimeout("tcp", upstream, 5*time.Second)
			if err != nil {
				_ = client.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, client, server)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(client, server) }()
			go p.forward(server, client)
		}
	}()
	return p
}

func (p *pingDelay) addr() string { return p.ln.Addr().String() }

// forward copies src to dst, holding each PING once armed.
func (p *pingDelay) forward(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		chunk := buf[:n]
		if i := bytes.Index(chunk, []byte("PING\r\n")); i >= 0 && p.armed.Load() {
			if _, err := dst.Write(chunk[:i]); err != nil {
				return
			}
			<-time.After(p.delay) // the fault: a slow round trip
			chunk = chunk[i:]
		}
		if _, werr := dst.Write(chunk); werr != nil || err != nil {
			return
		}
	}
}

// With SOUK_NATS_REPLICAS=3 an order's stream still follows the order live: the gateway
// makes no consumer of the R3 interest stream ORDERS, where an ordered one is refused.
func TestOrderEventsOnAnR3Cluster(t *testing.T) {
	c := natstest.NewCluster(t, 3)
	expect.Within(t, time.Minute, c.Formed)
	e := newSSEEnvOn(t, newHarnessOn(t, c.Connect(t), nil, gateway.Config{}), []string{subjects.OrderStatusPending}, bus.Replicas(3))
	events := e.open("")
	if ev := e.next(events); ev.name != "pending" {
		t.Fatalf("first event %+v, want pending", ev)
	}
	e.move(subjects.OrderStatusReserved)
	if ev := e.next(events); ev.id != "2" || ev.name != "reserved" {
		t.Fatalf("live event %+v, want id 2 reserved", ev)
	}
}

// Last-Event-ID n resumes after the n-th status, and an order that has ended gets its
// history and the end, with no consumer on the stream at all.
func TestOrderEventsResumeAfterLastEventID(t *testing.T) {
	e := newSSEEnv(t, subjects.OrderStatusPending, subjects.OrderStatusReserved, subjects.OrderStatusCancelled)
	var got []string
	for ev := range e.open("2") {
		got = append(got, ev.id+" "+ev.name)
	}
	if fmt.Sprint(got) != "[3 cancelled]" {
		t.Fatalf("resumed after 2: %v", got)
	}
	got = got[:0]
	for ev := range e.open("not-a-position") {
		got = append(got, ev.id+" "+ev.name)
	}
	if fmt.Sprint(got) != "[1 pending 2 reserved 3 cancelled]" {
		t.Fatalf("with an id of no position: %v", got)
	}
	if names, err := e.ephemeral(); err != nil || len(names) != 0 {
		t.Fatalf("consumers created for an order that had ended: %v (%v)", names, err)
	}
}

// stream opens the order's event stream as user until ctx ends, and returns the answer; the
// body of a 200 stays open.
func (e *sseEnv) stream(ctx context.Context, user string) *http.Response {
	e.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.base+"/v1/orders/"+e.order.ID+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+e.h.token(user, "customer"))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = res.Body.Close() })
	return res
}

// An account holds at most SSEPerUser streams open; the next is a 429 problem with
// Retry-After, and a stream the client closes frees its slot at once.
func TestOrderEventsPerUserAreCapped(t *testing.T) {
	e := newSSEEnvWith(t, gateway.Config{RateLimit: limits(func(l *gateway.RateLimits) { l.SSEPerUser = 2 })},
		subjects.OrderStatusPending)
	first, closeFirst := context.WithCancel(e.ctx)
	defer closeFirst()
	for _, ctx := range []context.Context{first, e.ctx} {
		if res := e.stream(ctx, "u1"); res.StatusCode != 200 {
			t.Fatalf("stream within the cap: %d", res.StatusCode)
		}
	}
	res := e.stream(e.ctx, "u1")
	if res.StatusCode != 429 {
		t.Fatalf("a stream beyond the cap: %d, want 429", res.StatusCode)
	}
	b, _ := io.ReadAll(res.Body)
	r := response{status: res.StatusCode, header: res.Header, body: b}
	r.problem(t, 429)
	if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || s < 1 {
		t.Fatalf("Retry-After %q", res.Header.Get("Retry-After"))
	}
	// Another account has slots of its own.
	if res := e.stream(e.ctx, "u2"); res.StatusCode != 200 {
		t.Fatalf("another account's stream: %d", res.StatusCode)
	}
	// The client hangs up: the slot is free well before a keep-alive would notice.
	closeFirst()
	expect.Within(t, hangUpNoticed, func() error {
		ctx, cancel := context.WithCancel(e.ctx)
		res := e.stream(ctx, "u1")
		if res.StatusCode != 200 {
			cancel()
			return fmt.Errorf("after a stream closed: %d", res.StatusCode)
		}
		t.Cleanup(cancel)
		return nil
	})
}

// hangUpNoticed is how soon a closed stream's slot must be free: a third of the keep-alive
// interval, which is how the slot would be noticed without watching the connection.
const hangUpNoticed = gateway.SSEKeepAlive / 3
