package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/platform/rpc"
	"github.com/souk/souk/platform/seal"
	"github.com/souk/souk/subjects"
)

// topology is the shop as production runs it: a NATS server (here in the test process) and
// one `souk run <target>` process per service and one for the gateway, each joined to the
// server by NATS_URL, and second instances of some services.
type topology struct {
	nc    *nats.Conn
	js    jetstream.JetStream
	shop  *shop                 // the gateway's
	procs map[string][]*process // by target, in start order
	env   map[string]string     // what every process shares
}

// startTopology starts one process per service and one for the gateway, waits until the
// gateway is ready (every service answers), then starts a second instance of each of
// doubled, one at a time, and waits until it answers too.
func startTopology(t *testing.T, extraEnv map[string]string, doubled ...string) *topology {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The streams, their declared consumers and a recorder on each (checkEventsOnce reads
	// the streams), before any service publishes.
	nc, js := natstest.JetStream(t, ctx)
	env := shopEnv(t)
	delete(env, "SOUK_NATS_LISTEN")
	env["NATS_URL"], env["SOUK_SECRET_KEY"] = nc.ConnectedUrl(), seal.Generate()
	// A dozen processes of 8 connections each would take most of the 100 a default
	// PostgreSQL allows, shared with every other test running: 5 each (docs/operations.md,
	// "Scaling a service", has the arithmetic).
	db, err := url.Parse(env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	q := db.Query()
	q.Set("pool_max_conns", "5")
	db.RawQuery = q.Encode()
	env["DATABASE_URL"] = db.String()
	maps.Copy(env, extraEnv)
	top := &topology{nc: nc, js: js, procs: map[string][]*process{}, env: env}
	t.Cleanup(func() {
		if t.Failed() {
			top.logTrouble(t)
		}
	})

	began := time.Now()
	for _, name := range serviceNames() {
		top.spawn(t, name)
	}
	gw := top.spawn(t, "gateway")
	top.shop = &shop{t: t, env: top.env, base: "http://" + env["SOUK_HTTP_ADDR"], http: &http.Client{Timeout: 90 * time.Second}, logs: gw.logs}
	gw.waitFor(t, 120*time.Second, func() error {
		res, err := top.shop.http.Get(top.shop.base + "/readyz")
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("readyz %d", res.StatusCode)
		}
		return nil
	})
	t.Logf("%d processes (each service and the gateway) ready in %s", len(serviceNames())+1, time.Since(began).Round(100*time.Millisecond))
	for _, name := range doubled {
		began := time.Now()
		p := top.spawn(t, name)
		p.waitFor(t, 60*time.Second, func() error {
			// A short window: the poll's, not the instance's, would be the figure.
			if n := len(top.stats(t, name, 2, 200*time.Millisecond)); n < 2 {
				return fmt.Errorf("%d instances of %s answer", n, name)
			}
			return nil
		})
		t.Logf("second instance of %s ready in %s", name, time.Since(began).Round(100*time.Millisecond))
	}
	return top
}

// logTrouble logs the warnings and errors of every process, for a failed test.
func (top *topology) logTrouble(t *testing.T) {
	for target, ps := range top.procs {
		for i, p := range ps {
			for line := range strings.Lines(p.logs.String()) {
				if strings.Contains(line, `"level":"warn"`) || strings.Contains(line, `"level":"error"`) {
					t.Logf("%s#%d: %s", target, i+1, strings.TrimSpace(line))
				}
			}
		}
	}
}

// spawn starts `souk run target` joined to the topology's server.
func (top *topology) spawn(t *testing.T, target string) *process {
	t.Helper()
	env := maps.Clone(top.env)
	env[childTargets] = target
	if target != "gateway" {
		delete(env, "SOUK_HTTP_ADDR")
	}
	p := spawn(t, env)
	top.procs[target] = append(top.procs[target], p)
	return p
}

// instance is what the scale-out test reads of one instance's $SRV.STATS: the requests its
// endpoints handled and its work counters (rpc.Loops.Counters).
type instance struct {
	id       string
	requests int
	bySubj   map[string]int // requests by endpoint subject
	counters map[string]uint64
}

// sum adds up the counters whose series name starts with prefix.
func (in instance) sum(prefix string) uint64 {
	var n uint64
	for k, v := range in.counters {
		if strings.HasPrefix(k, prefix) {
			n += v
		}
	}
	return n
}

// stats asks every instance of service for its $SRV.STATS and returns the replies that came
// within window, or as soon as want did.
func (top *topology) stats(t *testing.T, service string, want int, window time.Duration) []instance {
	t.Helper()
	sub, err := top.nc.SubscribeSync(top.nc.NewRespInbox())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := top.nc.PublishRequest("$SRV.STATS."+service, sub.Subject, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(window)
	var out []instance
	for len(out) < want {
		msg, err := sub.NextMsg(time.Until(deadline))
		if err != nil {
			break
		}
		var st micro.Stats
		if err := json.Unmarshal(msg.Data, &st); err != nil {
			continue // the server's "no responders"
		}
		in := instance{id: st.ID, bySubj: map[string]int{}}
		for _, ep := range st.Endpoints {
			if ep.Name != rpc.LoopsEndpoint {
				in.requests += ep.NumRequests
				in.bySubj[ep.Subject] += ep.NumRequests
				continue
			}
			var l rpc.Loops
			if err := json.Unmarshal(ep.Data, &l); err != nil {
				t.Fatalf("%s loops stats: %v: %s", service, err, ep.Data)
			}
			in.counters = l.Counters
		}
		out = append(out, in)
	}
	return out
}

// checkAppliedOnce checks that the instances of service share its consumers: each runs every
// consumer the service declares, under its declared (shared) name, and per consumer the
// events the instances applied add up to no more than the events its filter took so far
// (the recorder keeps them all), so no event was applied by two.
func (top *topology) checkAppliedOnce(t *testing.T, name string, ins []instance) {
	t.Helper()
	i := slices.IndexFunc(services, func(s service) bool { return s.name == name })
	svc, err := services[i].declare(Config{}, kit.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, c := range svc.Subscribes() {
		series := "souk_consumer_applied_total{consumer=" + strconv.Quote(c.Name) + "}"
		var applied uint64
		for _, in := range ins {
			n, ok := in.counters[series]
			if !ok {
				t.Errorf("%s instance %s does not run the shared consumer %s: %v", name, in.id, c.Name, in.counters)
			}
			applied += n
		}
		stream, err := top.js.Stream(ctx, c.Stream)
		if err != nil {
			t.Fatal(err)
		}
		var events uint64
		for _, f := range c.Subjects {
			info, err := stream.Info(ctx, jetstream.WithSubjectFilter(f))
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range info.State.Subjects {
				events += n
			}
		}
		if applied > events {
			t.Errorf("the %s instances applied %d events of consumer %s, which took %d: some were applied twice", name, applied, c.Name, events)
		}
	}
}

// call is one request of the load: what it asked, when, and whether it failed (no answer,
// or a 5xx: the answer of a request whose instance died).
type call struct {
	what       string
	start, end time.Time // end is zero while it waits for its answer
	failed     bool
	answer     string // of a failed call
}

// load is the customers' traffic and its record.
type load struct {
	s      *shop
	mug    string
	tokens []string
	plans  [][]*placement // each customer's own, appended as it goes

	mu    sync.Mutex
	calls []*call
}

// send is shop.send, recorded from the moment it is sent.
func (l *load) send(method, path string, body any, token string, headers ...string) (reply, bool) {
	c := &call{what: method + " " + path, start: time.Now()}
	l.mu.Lock()
	l.calls = append(l.calls, c)
	l.mu.Unlock()
	r, err := l.s.send(method, path, body, token, headers...)
	failed := err != nil || r.status >= 500
	l.mu.Lock()
	c.end, c.failed = time.Now(), failed
	if failed {
		c.answer = fmt.Sprintf("%d %s %v", r.status, r.body, err)
	}
	l.mu.Unlock()
	return r, !failed
}

// recorded returns the calls made so far.
func (l *load) recorded() []call {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]call, len(l.calls))
	for i, c := range l.calls {
		out[i] = *c
	}
	return out
}

// place adds a mug to customer c's cart and places p with its key; a failed placement is
// sent again with the same key (a failure is an answer lost with its instance) until it is
// answered. The load stops (the test fails) on any other answer.
func (l *load) place(c int, p *placement) error {
	if r, ok := l.send("POST", "/v1/cart/items", map[string]any{"product_id": l.mug, "quantity": 1}, l.tokens[c]); !ok || r.status != 200 {
		return fmt.Errorf("add to cart: %d %s", r.status, r.body)
	}
	body := map[string]any{"shipping_address": address}
	if p.method != "" {
		body["payment_method"] = p.method
	}
	for try := range 3 {
		r, ok := l.send("POST", "/v1/orders", body, l.tokens[c], "Idempotency-Key", p.key)
		if !ok {
			continue
		}
		if r.status != 201 {
			return fmt.Errorf("placement %s: %d %s", p.key, r.status, r.body)
		}
		p.id = r.json(l.s.t)["id"].(string)
		if try > 0 {
			// The first try may have placed the order and died before it emptied the cart:
			// the cart service does when it sees order.placed. The next mug waits for that.
			return expect.Eventually(60*time.Second, func() error {
				r, ok := l.send("GET", "/v1/cart", nil, l.tokens[c])
				if !ok {
					return fmt.Errorf("cart: %d", r.status)
				}
				if items, _ := r.json(l.s.t)["items"].([]any); len(items) > 0 {
					return fmt.Errorf("cart after the retried placement %s: %d %s", p.key, r.status, r.body)
				}
				return nil
			})
		}
		return nil
	}
	return fmt.Errorf("placement %s failed three times", p.key)
}

// Scale-out: every service and the gateway in a process of its own, two instances of order
// and of payment. Customers check out through the gateway; once both order instances have
// served requests, applied events and relayed their outbox ($SRV.STATS), the second one is
// killed (SIGKILL). Only requests in flight at the kill may fail, each retried with its key
// makes one order, every order ends where its payment method leads with each event
// published once, and the stock adds up.
func TestScaleOutSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts every service and the gateway in processes of their own")
	}
	// A request whose order instance is killed gets no answer: the gateway answers 504 once
	// its bound is over. 30 s keeps the test short and is still far above any answer here,
	// busy as the machine may be.
	top := startTopology(t, map[string]string{"SOUK_RATE_IP": "100000", "SOUK_RATE_ACCOUNT": "100000",
		"SOUK_SANDBOX_DELAY": "300ms", "SOUK_REQUEST_TIMEOUT": "30s"}, "order", "payment")
	s := top.shop
	admin, _ := s.login(adminEmail, adminPassword)
	const customers, most = 8, 10
	l := &load{s: s, mug: s.mug(admin, "MUG-K", customers*most), tokens: make([]string, customers), plans: make([][]*placement, customers)}
	for c := range customers {
		l.tokens[c] = s.customer(fmt.Sprintf("scale-%d@example.com", c))
	}

	// Each customer checks out one mug at a time, in turn paid, declined and unpaid, until
	// told to stop (at most `most` orders).
	methods := []struct{ method, want string }{{"pm_card_visa", "fulfilling"}, {"pm_card_chargeDeclined", "cancelled"}, {"", "reserved"}}
	stop := make(chan struct{})
	placed := make(chan int, customers*most)
	errs := make(chan error, customers)
	var stopped sync.WaitGroup
	for c := range customers {
		stopped.Go(func() {
			for i := range most {
				select {
				case <-stop:
					return
				default:
				}
				m := methods[(c+i)%len(methods)]
				p := &placement{key: fmt.Sprintf("scale-%d-%d", c, i), method: m.method, want: m.want}
				l.plans[c] = append(l.plans[c], p)
				if err := l.place(c, p); err != nil {
					errs <- err
					return
				}
				placed <- c
			}
		})
	}

	// (a), (d): before the kill, each order instance has served requests, and each order and
	// payment instance has applied events and published its outbox; no relay sent what
	// another had sent.
	var before map[string][]instance
	expect.Within(t, 60*time.Second, func() error {
		before = map[string][]instance{}
		for _, name := range []string{"order", "payment"} {
			got := top.stats(t, name, 2, 5*time.Second)
			if len(got) != 2 {
				return fmt.Errorf("%d instances of %s answer $SRV.STATS", len(got), name)
			}
			var dups, published, early, failed uint64
			for _, in := range got {
				applied, sent := in.sum("souk_consumer_applied_total"), in.sum("souk_outbox_published_total")
				// Payment serves no request in a checkout: the saga reaches it by events.
				if (name == "order" && in.requests == 0) || applied == 0 || sent == 0 {
					return fmt.Errorf("%s instance %s: %d requests, %d events applied, %d published: not yet sharing", name, in.id, in.requests, applied, sent)
				}
				dups, published = dups+in.sum("souk_outbox_duplicates_total"), published+sent
				early, failed = early+in.sum("souk_outbox_early_total"), failed+in.sum("souk_outbox_publish_failures_total")
			}
			// The relays take turns on one outbox (an advisory lock). A row one instance
			// published early, above the horizon, may be published again when the other
			// instance's watermark passes it; the stream drops that copy (the acks counted here
			// are the server's "duplicate"), so no consumer sees it twice. Every duplicate
			// before the kill is such a copy: no more of them than early publishes. (Their
			// share of all publishes is no measure: with the server's horizon held by the
			// other tests' transactions, nearly every row is early, and 12 of 42 were copies.)
			// Relays that did not take turns would publish rows below the horizon twice too.
			// (A batch whose acks did not come back in time is published again, and may be
			// held already: those copies are excused. The instances' counters are read one
			// after the other, so a copy may be counted before its early publish: looked at
			// again until the 60 s are up.)
			if dups > early && failed == 0 {
				return fmt.Errorf("%s: %d of its instances' %d publishes were events another instance had published, %d published early: relays do not share the outbox", name, dups, published, early)
			}
			before[name] = got
		}
		return nil
	})
	for name, ins := range before {
		top.checkAppliedOnce(t, name, ins)
	}
	// The instances answer a placement each, not every placement both: the queue group.
	place := subjects.OrderPlace.Subject
	sent, handled := 0, before["order"][0].bySubj[place]+before["order"][1].bySubj[place]
	for _, c := range l.recorded() {
		if c.what == "POST /v1/orders" {
			sent++
		}
	}
	if handled > sent {
		t.Errorf("the order instances handled %d placements, %d were sent: an instance handles requests meant for another", handled, sent)
	}
	for name, ins := range before {
		for _, in := range ins {
			t.Logf("before the kill, %s instance %s: %d requests, counters %v", name, in.id, in.requests, in.counters)
		}
	}
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}

	// Kill the second order instance while the customers check out. It is gone once the
	// server no longer routes to it: from the sending of the first $SRV.STATS that only the
	// other answers.
	killAt := time.Now()
	top.procs["order"][1].kill(t)
	var goneAt time.Time
	expect.Within(t, 30*time.Second, func() error {
		asked := time.Now()
		if n := len(top.stats(t, "order", 2, 5*time.Second)); n != 1 {
			return fmt.Errorf("%d order instances answer", n)
		}
		goneAt = asked
		return nil
	})
	// Every customer places two more orders on the surviving instance, then stops.
	after := make([]int, customers)
	for waiting := customers; waiting > 0; {
		select {
		case c := <-placed:
			if time.Now().After(goneAt) {
				if after[c]++; after[c] == 2 {
					waiting--
				}
			}
		case err := <-errs:
			t.Fatal(err)
		case <-time.After(90 * time.Second):
			t.Fatalf("no order placed for 90 s after the kill; placed after it: %v", after)
		}
	}
	close(stop)
	stopped.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// (b): what failed was an order request in flight when the instance died.
	failed, inFlight, atKill := 0, 0, 0
	calls := l.recorded()
	for _, c := range calls {
		order := c.what == "POST /v1/orders"
		if order && c.start.Before(goneAt) && c.end.After(killAt) {
			inFlight++
		}
		if order && c.start.Before(killAt) && c.end.After(killAt) {
			atKill++
		}
		if !c.failed {
			continue
		}
		failed++
		if !order || !c.start.Before(goneAt) || !c.end.After(killAt) {
			t.Errorf("%s (sent %s after the kill, answered %s after) failed: %s; only an order request in flight on the killed instance may fail",
				c.what, c.start.Sub(killAt).Round(time.Millisecond), c.end.Sub(killAt).Round(time.Millisecond), c.answer)
		}
	}
	// Each customer has one request out at a time, so at most `customers` requests can be on
	// the killed instance, below its MaxInFlight (256): the bound a failure count must keep.
	if failed > customers {
		t.Errorf("%d requests failed; at most %d could be in flight on the killed instance", failed, customers)
	}
	t.Logf("%d of %d requests failed; %d order requests were in flight on either order instance at the kill (%d sent until the server "+
		"dropped it, %s after the kill); at most %d could be on the killed one", failed, len(calls), atKill, inFlight,
		goneAt.Sub(killAt).Round(time.Millisecond), customers)

	// (c): every order where it belongs, each once; the stock adds up; no customer has an
	// order beyond those placed (a retried key made none).
	s.checkSettled(l.plans, l.tokens, admin, int64(customers*most))
	s.checkEventsOnce(top.env["NATS_URL"], l.plans)
	for c, ps := range l.plans {
		if items := s.do("GET", "/v1/orders?limit=100", nil, l.tokens[c]).json(t)["items"].([]any); len(items) != len(ps) {
			t.Errorf("customer %d has %d orders, placed %d", c, len(items), len(ps))
		}
	}
	for _, in := range top.stats(t, "order", 2, 5*time.Second) {
		t.Logf("after the load, the surviving order instance %s: %d requests, counters %v", in.id, in.requests, in.counters)
	}
}
