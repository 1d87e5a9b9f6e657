// Command checkout drives whole checkouts through a running shop's HTTP API and reports how
// many reach paid per second and how long each took from the order's POST to its paid
// event. It is the load half of bench/checkout.sh, which starts the shop and puts the
// figures beside pgbench and the ceilings.
//
// Each of -c customers loops: put a product in the cart, POST /v1/orders with pm_card_visa
// and an Idempotency-Key, wait for the order's paid (or cancelled) event, again. The events
// are read from the shop's NATS server (-nats), where the saga publishes them; the clock of
// an order runs from just before its POST to the moment its paid event arrives here.
//
// With -rate R the checkouts start at R a second whatever the shop answers (the open loop of
// open.go: overload), each with a free one of the -c customers.
//
// With -storm N, N pollers beside them ask for the customers' latest orders every -every
// (the read storm of issue 12), and the storm's answers are reported too.
//
// With -cost-db (and -cost-pid), what the window cost per paid order is printed too: the
// database's commits and row writes, by table, and the shop's CPU time (cost.go).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
)

func main() {
	base := flag.String("base", "http://127.0.0.1:18181", "the shop's HTTP address")
	natsURL := flag.String("nats", nats.DefaultURL, "the shop's NATS server, where the order events are read")
	conns := flag.Int("c", 64, "customers checking out at once")
	secs := flag.Duration("d", 10*time.Second, "how long to measure, after the warm-up")
	warm := flag.Duration("warmup", 3*time.Second, "checkouts before the measurement, not counted")
	products := flag.Int("products", 50, "products the customers spread their carts over")
	admin := flag.String("admin", "admin@souk.test:Sesame-Opens-42!", "admin email:password (SOUK_ADMIN_EMAIL/PASSWORD of the shop)")
	pollers := flag.Int("storm", 0, "pollers of GET /v1/orders/{id} beside the checkouts (the read storm)")
	every := flag.Duration("every", 10*time.Millisecond, "how often each poller asks")
	costDB := flag.String("cost-db", "", "the shop's database URL: count its commits and row writes per paid order over the window (see cost.go)")
	costPID := flag.Int("cost-pid", 0, "the shop's process id, for its CPU time per paid order (with -cost-db)")
	rates := flag.String("rate", "", "open loop: start this many checkouts a second whatever the shop answers, each with a free one of the -c customers; a comma-separated list runs one phase per rate on the same shop and customers (empty: the closed loop, each customer checking out again when its last is paid)")
	outstanding := flag.Int("outstanding", 4096, "open loop: the most arrivals still running (placing or waiting for paid); more are skipped")
	pgbenchDB := flag.String("pgbench-cost", "", "instead of checkouts: read what a transaction of the pgbench running on this database URL costs, over -d after 2 s (see cost.go)")
	flag.Parse()
	if *pgbenchDB != "" {
		if err := pgbenchCost(context.Background(), *pgbenchDB, 2*time.Second, *secs); err != nil {
			fmt.Fprintln(os.Stderr, "checkout: pgbench cost:", err)
			os.Exit(1)
		}
		return
	}
	load := loadShape{outstanding: *outstanding}
	for _, r := range strings.Split(*rates, ",") {
		if r = strings.TrimSpace(r); r == "" {
			continue
		}
		v, err := strconv.ParseFloat(r, 64)
		if err != nil || v <= 0 {
			fmt.Fprintln(os.Stderr, "checkout: -rate: not a positive number:", r)
			os.Exit(2)
		}
		load.rates = append(load.rates, v)
	}
	var cost *costs
	if *costDB != "" {
		cost = newCosts(*costDB, *costPID)
		defer cost.close()
	}
	if err := run(*base, *natsURL, *conns, *products, *warm, *secs, *admin, *pollers, *every, load, cost); err != nil {
		fmt.Fprintln(os.Stderr, "checkout:", err)
		os.Exit(1)
	}
}

// client is an HTTP client of the shop.
type client struct {
	base string
	http *http.Client
}

// call sends body as JSON with token and decodes a 2xx reply into out; another status is an
// error carrying the body.
func (c *client) call(method, path, token string, body, out any, headers ...string) error {
	status, _, b, err := c.do(method, path, token, body, headers...)
	if err != nil {
		return err
	}
	if status/100 != 2 {
		return &statusError{what: method + " " + path, status: status, body: string(b)}
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// do sends body as JSON with token and returns the reply's status, headers and body; err is
// a transport error.
func (c *client) do(method, path, token string, body any, headers ...string) (int, http.Header, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("content-type", "application/json")
	if token != "" {
		req.Header.Set("authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, b, err
}

func (c *client) login(email, password string) (string, error) {
	var pair struct {
		AccessToken string `json:"access_token"`
	}
	err := c.call("POST", "/v1/auth/login", "", map[string]string{"email": email, "password": password}, &pair)
	return pair.AccessToken, err
}

// setup makes the products (stocked far beyond what a run sells) and the customers, and
// returns the products' ids and the signed-in customers.
func setup(c *client, admin string, products, customers int) (ids []string, users []*customer, err error) {
	email, password, _ := strings.Cut(admin, ":")
	staff, err := c.login(email, password)
	if err != nil {
		return nil, nil, fmt.Errorf("admin login: %w", err)
	}
	run := uuid.NewString()[:8]
	if err := c.call("POST", "/v1/categories", staff, map[string]any{"name": "Bench " + run, "slug": "bench-" + run}, nil); err != nil {
		return nil, nil, err
	}
	for i := range products {
		sku := fmt.Sprintf("BENCH-%s-%d", run, i)
		var p struct{ ID string }
		if err := c.call("POST", "/v1/products", staff, map[string]any{"sku": sku, "name": "Bench item " + sku,
			"price": map[string]any{"amount": 1000 + 10*i, "currency": "EUR"}, "category_id": "bench-" + run}, &p); err != nil {
			return nil, nil, err
		}
		if err := c.call("PUT", "/v1/inventory/"+sku, staff, map[string]any{"on_hand": 100_000_000}, nil); err != nil {
			return nil, nil, err
		}
		ids = append(ids, p.ID)
	}
	users = make([]*customer, customers)
	errs := make([]error, customers)
	var wg sync.WaitGroup
	slots := make(chan struct{}, 4) // bcrypt runs two at a time per user service: queue here, not at the gateway
	for i := range customers {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			users[i] = &customer{email: fmt.Sprintf("bench-%s-%d@example.com", run, i)}
			if errs[i] = patiently(func() error {
				return c.call("POST", "/v1/auth/register", "", map[string]string{"email": users[i].email, "password": customerPassword, "name": "Bench"}, nil)
			}); errs[i] == nil {
				errs[i] = users[i].signIn(c)
			}
		})
	}
	wg.Wait()
	return ids, users, errors.Join(errs...)
}

const customerPassword = "correct horse battery"

// customer is a bench customer whose access token is renewed before it expires (access
// tokens live 15 minutes; a soak runs longer).
type customer struct {
	email string
	token atomic.Pointer[string]
}

// signIn logs the customer in and keeps the new token.
func (u *customer) signIn(c *client) error {
	return patiently(func() error {
		tok, err := c.login(u.email, customerPassword)
		if err == nil {
			u.token.Store(&tok)
		}
		return err
	})
}

// bearer is the customer's current access token.
func (u *customer) bearer() string { return *u.token.Load() }

// renew signs every customer in again every period until done is closed.
func renew(c *client, users []*customer, period time.Duration, done chan struct{}) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			for _, u := range users {
				if err := u.signIn(c); err != nil {
					fmt.Fprintln(os.Stderr, "checkout: renew a token:", err)
				}
			}
		}
	}
}

// statusError is a reply that was not 2xx.
type statusError struct {
	what   string
	status int
	body   string
}

func (e *statusError) Error() string { return fmt.Sprintf("%s: %d %s", e.what, e.status, e.body) }

// patiently retries f while the gateway's rate limit of /v1/auth/* (a few a second per
// address, not a setting) refuses it, or a busy user service makes it time out.
func patiently(f func() error) error {
	for {
		err := f()
		var se *statusError
		if !errors.As(err, &se) || se.status != http.StatusTooManyRequests && se.status != http.StatusGatewayTimeout {
			return err
		}
		time.Sleep(time.Second)
	}
}

// outcomes hands each order's final event to the customer waiting for it.
type outcomes struct {
	mu      sync.Mutex
	waiting map[string]chan string
	early   map[string]string // outcomes that arrived before their POST returned
}

func (o *outcomes) wait(id string) chan string {
	ch := make(chan string, 1)
	o.mu.Lock()
	defer o.mu.Unlock()
	if s, ok := o.early[id]; ok {
		delete(o.early, id)
		ch <- s
		return ch
	}
	o.waiting[id] = ch
	return ch
}

func (o *outcomes) seen(m *nats.Msg) {
	parts := strings.Split(m.Subject, ".") // souk.evt.order.<kind>.<id>
	kind, id := parts[3], parts[4]
	o.mu.Lock()
	defer o.mu.Unlock()
	if ch, ok := o.waiting[id]; ok {
		delete(o.waiting, id)
		ch <- kind
		return
	}
	o.early[id] = kind
}

// result is one checkout's outcome.
type result struct {
	start       time.Time
	place, full time.Duration // the POST alone; POST to paid
	paid        bool
	err         error
}

// loadShape says how checkouts start: a closed loop without rates, else one open-loop phase
// per rate.
type loadShape struct {
	rates       []float64
	outstanding int
}

func run(base, natsURL string, conns, products int, warm, secs time.Duration, admin string, pollers int, every time.Duration, load loadShape, cost *costs) error {
	c := &client{base: base, http: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: (conns + pollers) * 2, MaxConnsPerHost: (conns + pollers) * 2}}}
	ids, users, err := setup(c, admin, products, conns)
	if err != nil {
		return err
	}
	nc, err := nats.Connect(natsURL)
	if err != nil {
		return err
	}
	defer nc.Close()
	out := &outcomes{waiting: map[string]chan string{}, early: map[string]string{}}
	for _, kind := range []string{"paid", "cancelled"} {
		if _, err := nc.Subscribe("souk.evt.order."+kind+".*", out.seen); err != nil {
			return err
		}
	}
	if err := nc.Flush(); err != nil {
		return err
	}
	var (
		mu      sync.Mutex
		results []result
		stop    atomic.Bool
		wg      sync.WaitGroup
	)
	fmt.Fprintf(os.Stderr, "checkout: %d customers and %d products ready; warming up %s, then measuring %s\n", conns, products, warm, secs)
	var reads *storm
	if pollers > 0 {
		reads = &storm{c: c, users: users, latest: make([]atomic.Pointer[string], len(users)), every: every}
		reads.run(pollers, &stop, &wg)
	}
	renewed := make(chan struct{})
	defer close(renewed)
	go renew(c, users, 10*time.Minute, renewed)
	if len(load.rates) > 0 {
		begin := time.Now()
		free := shoppers(users)
		for _, rate := range load.rates {
			openLoop(c, out, free, ids, rate, warm, secs, load.outstanding, reads)
		}
		stop.Store(true)
		wg.Wait()
		reads.report(begin.Add(warm), secs)
		return nil
	}
	begin := time.Now()
	for i, u := range users {
		wg.Go(func() {
			cartReady := false
			for n := 0; !stop.Load(); n++ {
				r := checkout(c, out, u.bearer(), ids[(i+n)%len(ids)], cartReady, func(id string) { reads.placed(i, id) })
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
				// A refused placement leaves the cart filled; the customer honours the
				// refusal's Retry-After (1 s here) before placing it again, as a client
				// should: retrying at once would be a storm of its own.
				var se *statusError
				if cartReady = errors.As(r.err, &se) && strings.HasPrefix(se.what, "POST /v1/orders") &&
					(se.status == http.StatusTooManyRequests || se.status == http.StatusServiceUnavailable); cartReady {
					time.Sleep(time.Second)
				}
			}
		})
	}
	time.Sleep(warm)
	var before snapshot
	if cost != nil {
		if before, err = cost.snapshot(context.Background()); err != nil {
			return err
		}
	}
	time.Sleep(time.Until(begin.Add(warm + secs)))
	var after snapshot
	if cost != nil {
		if after, err = cost.snapshot(context.Background()); err != nil {
			return err
		}
	}
	stop.Store(true)
	wg.Wait()
	report(results, begin.Add(warm), secs, conns)
	if cost != nil {
		cost.report(before, after)
	}
	reads.report(begin.Add(warm), secs)
	return nil
}

// checkout is one customer's checkout of product: cart (unless cartReady: a refused
// placement left it filled), order, wait for the outcome. placed learns the order's id as
// soon as it has one.
func checkout(c *client, out *outcomes, token, product string, cartReady bool, placed func(id string)) result {
	r := result{start: time.Now()}
	if !cartReady {
		if r.err = c.call("POST", "/v1/cart/items", token, map[string]any{"product_id": product, "quantity": 1}, nil); r.err != nil {
			return r
		}
	}
	var o struct{ ID string }
	t0 := time.Now()
	body := map[string]any{"payment_method": "pm_card_visa", "shipping_address": map[string]any{
		"name": "Bench", "line1": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"}}
	if r.err = c.call("POST", "/v1/orders", token, body, &o, "Idempotency-Key", uuid.NewString()); r.err != nil {
		return r
	}
	r.place = time.Since(t0)
	placed(o.ID)
	select {
	case kind := <-out.wait(o.ID):
		r.full, r.paid = time.Since(t0), kind == "paid"
		if !r.paid {
			r.err = fmt.Errorf("order %s %s", o.ID, kind)
		}
	case <-time.After(30 * time.Second):
		r.err = fmt.Errorf("order %s: no outcome within 30s", o.ID)
	}
	return r
}

// report prints the checkouts that started inside the measured window.
func report(results []result, from time.Time, secs time.Duration, conns int) {
	var full, place []time.Duration
	var failed int
	var firstErr error
	for _, r := range results {
		if r.start.Before(from) || r.start.After(from.Add(secs)) {
			continue
		}
		if r.err != nil {
			failed++
			if firstErr == nil {
				firstErr = r.err
			}
			continue
		}
		full, place = append(full, r.full), append(place, r.place)
	}
	fmt.Printf("checkouts paid  %8.0f /s   (%d in %s, %d customers, %d failed)\n", float64(len(full))/secs.Seconds(), len(full), secs, conns, failed)
	fmt.Printf("placed → paid   p50 %-9s p95 %-9s p99 %s\n", pct(full, 50), pct(full, 95), pct(full, 99))
	fmt.Printf("POST /v1/orders p50 %-9s p95 %-9s p99 %s\n", pct(place, 50), pct(place, 95), pct(place, 99))
	if firstErr != nil {
		fmt.Printf("first failure: %v\n", firstErr)
	}
}

func pct(ds []time.Duration, p int) string {
	if len(ds) == 0 {
		return "-"
	}
	slices.Sort(ds)
	return ds[(len(ds)-1)*p/100].Round(100 * time.Microsecond).String()
}
