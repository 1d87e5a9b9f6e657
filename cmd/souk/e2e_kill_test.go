package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/logtest"
)

// childEnv marks the test binary started as `souk run` by TestCheckoutSurvivesKill.
const childEnv = "SOUK_TEST_CHILD"

// childTargets, when set in a child's environment, are the targets of its `souk run`
// ("gateway": a second gateway joined to another process's NATS server).
const childTargets = "SOUK_TEST_CHILD_TARGETS"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "run" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := cli(ctx, append([]string{"run"}, strings.Fields(os.Getenv(childTargets))...), os.Getenv, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// process is `souk run` in a process of its own, so that it can be killed with SIGKILL.
type process struct {
	cmd  *exec.Cmd
	logs *logtest.Buffer
	done chan struct{} // closed when the process has exited, with err set
	err  error
}

// startProcess starts s as `souk run` in a process of its own (spawn) and waits until its
// gateway is ready.
func startProcess(t *testing.T, s *shop) *process {
	t.Helper()
	p := spawn(t, s.env)
	s.logs = p.logs
	p.waitFor(t, 60*time.Second, func() error {
		res, err := s.http.Get(s.base + "/readyz")
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("readyz %d", res.StatusCode)
		}
		return nil
	})
	return p
}

// spawn starts `souk run` with env (childTargets in it picks the targets) in a process of
// its own and returns at once; it is killed when the test ends.
func spawn(t *testing.T, env map[string]string) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=run")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &process{cmd: cmd, logs: &logtest.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-p.done })
	return p
}

// waitFor polls ready until it succeeds, within d; the test fails at once if the process
// exits meanwhile.
func (p *process) waitFor(t *testing.T, d time.Duration, ready func() error) {
	t.Helper()
	expect.Within(t, d, func() error {
		select {
		case <-p.done:
			t.Fatalf("souk run exited before it was ready: %v\n%s", p.err, p.logs.String())
		default:
		}
		return ready()
	})
}

// natsURL is the embedded server's address, from the process's log.
func (p *process) natsURL(t *testing.T) string { return embeddedURL(t, p.logs) }

func (p *process) kill(t *testing.T) {
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

// placement is one checkout of the kill test: its key and the outcome its method leads to.
type placement struct {
	key, method, want string
	id                string // set once a 201 was seen
}

// Kill the whole shop (SIGKILL) while checkouts are in every state, start it again: every
// order ends where it would have ended, with each of its events, reservations, charges
// published once and the stock adding up.
func TestCheckoutSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the shop twice in processes of its own")
	}
	s := &shop{t: t, env: shopEnv(t), http: &http.Client{Timeout: 90 * time.Second}}
	s.base = "http://" + s.env["SOUK_HTTP_ADDR"]
	s.env["SOUK_RATE_IP"], s.env["SOUK_RATE_ACCOUNT"], s.env["SOUK_SANDBOX_DELAY"] = "100000", "100000", "300ms"
	proc := startProcess(t, s)
	record(t, proc.natsURL(t), checkedStreams...)
	admin, _ := s.login(adminEmail, adminPassword)
	const stock = 40
	mug := s.mug(admin, "MUG-K", stock)

	// A paid order goes on to fulfilling at once: the shipping service makes its shipment.
	methods := []struct{ method, want string }{{"pm_card_visa", "fulfilling"}, {"pm_card_chargeDeclined", "cancelled"}, {"", "reserved"}}
	const customers, each = 8, 3
	plans := make([][]*placement, customers)
	tokens := make([]string, customers)
	for c := range customers {
		tokens[c] = s.customer(fmt.Sprintf("kill-%d@example.com", c))
		for i := range each {
			m := methods[(c+i)%len(methods)]
			plans[c] = append(plans[c], &placement{key: fmt.Sprintf("kill-%d-%d", c, i), method: m.method, want: m.want})
		}
	}
	// Each customer checks out one mug at a time; the shop is killed once a third of the
	// orders are placed, with the rest in flight or not yet sent.
	placedN := make(chan struct{}, customers*each)
	var stopped sync.WaitGroup
	for c := range customers {
		stopped.Add(1)
		go func() {
			defer stopped.Done()
			for _, p := range plans[c] {
				if s.tryPlace(tokens[c], mug, p, true) != nil {
					return
				}
				placedN <- struct{}{}
			}
		}()
	}
	for range customers * each / 3 {
		<-placedN
	}
	proc.kill(t)
	stopped.Wait()

	s.http.CloseIdleConnections()
	proc = startProcess(t, s)
	// Retry what never got its answer, with the same key: the order is made once. A cart
	// still holding its mug was killed between the add and the order (or before the cart was
	// emptied); an empty one needs its mug again.
	for c := range customers {
		for _, p := range plans[c] {
			if p.id == "" {
				empty := len(s.do("GET", "/v1/cart", nil, tokens[c]).json(t)["items"].([]any)) == 0
				if err := s.tryPlace(tokens[c], mug, p, empty); err != nil {
					t.Fatalf("placement %s failed after the restart (cart empty before: %v): %v", p.key, empty, err)
				}
			}
		}
	}
	s.checkSettled(plans, tokens, admin, stock)
	s.checkEventsOnce(proc.natsURL(t), plans)
}

// tryPlace puts one mug in the cart (when add) and places the order; an error saying which
// step the shop did not answer (it was killed) or what it answered instead.
func (s *shop) tryPlace(token, product string, p *placement, add bool) error {
	post := func(path string, body any, want int, headers ...string) (map[string]any, error) {
		r, err := s.send("POST", path, body, token, headers...)
		if err != nil {
			return nil, fmt.Errorf("POST %s: %w", path, err)
		}
		if r.status != want {
			return nil, fmt.Errorf("POST %s: %d %s", path, r.status, r.body)
		}
		return r.json(s.t), nil
	}
	if add {
		if _, err := post("/v1/cart/items", map[string]any{"product_id": product, "quantity": 1}, 200); err != nil {
			return err
		}
	}
	body := map[string]any{"shipping_address": address}
	if p.method != "" {
		body["payment_method"] = p.method
	}
	o, err := post("/v1/orders", body, 201, "Idempotency-Key", p.key)
	if err != nil {
		return err
	}
	p.id = o["id"].(string)
	return nil
}

// checkSettled waits until every order reached what its payment method leads to, then
// checks the stock adds up.
func (s *shop) checkSettled(plans [][]*placement, tokens []string, admin string, stock int64) {
	var paid, held int64
	for c, ps := range plans {
		for _, p := range ps {
			// Generous: an event held by a killed instance comes back after its AckWait (30 s).
			expect.Within(s.t, 60*time.Second, func() error {
				if o := s.order(p.id, tokens[c]); o.Status != p.want {
					return fmt.Errorf("order %s (%q): %s, want %s; history %v", p.key, p.method, o.Status, p.want, o.statuses())
				}
				return nil
			})
			switch p.want {
			case "fulfilling":
				paid++
			case "reserved":
				held++
			}
		}
	}
	expect.Within(s.t, 15*time.Second, func() error {
		on, res, av := s.stock("MUG-K", admin)
		if on != stock-paid || res != held || av != on-res {
			return fmt.Errorf("stock: on_hand %d reserved %d available %d; want on_hand %d reserved %d", on, res, av, stock-paid, held)
		}
		return nil
	})
}

// checkedStreams are the streams checkEventsOnce reads.
var checkedStreams = []string{"ORDERS", "PAYMENTS", "INVENTORY", "SHIPPING"}

// recorder holds every message of a stream for checkEventsOnce: an interest stream lets a
// message go once the services' consumers applied it, and skips one no consumer takes.
const recorder = "e2e-recorder"

// record creates the recorder on each of streams, before the checkouts start.
func record(t *testing.T, url string, streams ...string) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, stream := range streams {
		cfg := jetstream.ConsumerConfig{Durable: recorder, DeliverPolicy: jetstream.DeliverAllPolicy, AckPolicy: jetstream.AckExplicitPolicy}
		if _, err := js.CreateConsumer(ctx, stream, cfg); err != nil {
			t.Fatal(err)
		}
	}
}

// checkEventsOnce reads the streams (what the recorder holds): each order has each of its
// events exactly once, and no charge or refund is doubled.
func (s *shop) checkEventsOnce(url string, plans [][]*placement) {
	nc, err := nats.Connect(url)
	if err != nil {
		s.t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	count := map[string]int{}
	for _, stream := range checkedStreams {
		cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
		if err != nil {
			s.t.Fatal(err)
		}
		info, _ := cons.Info(ctx)
		for n := info.NumPending; n > 0; n-- {
			m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
			if err != nil {
				s.t.Fatalf("%s: %v", stream, err)
			}
			count[m.Subject()]++
		}
	}
	for _, ps := range plans {
		for _, p := range ps {
			want := map[string]int{"souk.evt.order.placed": 1, "souk.evt.order.reserved": 1, "souk.evt.inventory.reserved": 1, "souk.evt.payment.refunded": 0}
			switch p.want {
			case "fulfilling":
				want["souk.evt.order.paid"], want["souk.evt.payment.succeeded"], want["souk.evt.inventory.committed"] = 1, 1, 1
				want["souk.evt.shipping.created"], want["souk.evt.order.fulfilling"] = 1, 1
			case "cancelled":
				want["souk.evt.order.cancelled"], want["souk.evt.payment.failed"], want["souk.evt.inventory.released"] = 1, 1, 1
			}
			for kind, n := range want {
				if got := count[kind+"."+p.id]; got != n {
					s.t.Errorf("order %s (%s): %d × %s, want %d", p.key, p.want, got, kind, n)
				}
			}
		}
	}
}
