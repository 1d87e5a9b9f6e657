package main

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// The open loop (-rate): checkouts start at a fixed rate whatever the shop answers, as
// customers arrive at a shop that does not wait for the previous one to finish, so an
// overloaded shop meets more work than it can do instead of slowing its clients down (a
// closed loop hides overload: its clients wait). Each arrival takes a free customer of the
// registered ones: it puts a product in the cart (unless a refused placement left one there)
// and places the order; the customer is free again when the POST is answered, and the
// arrival waits for the order's paid event on its own. An arrival that finds no free
// customer, or -outstanding arrivals still waiting, is not sent and counted as skipped: the
// generator's own bound, so it cannot blow up when the shop stops answering.

// shopper is a registered customer as the open loop uses it; held by one arrival at a time.
type shopper struct {
	i int
	u *customer
	// cartReady says the cart holds a product already (the last placement was refused).
	cartReady bool
}

// arrival is one open-loop checkout's outcome.
type arrival struct {
	start time.Time
	// cart is the status of the cart's POST (0: a transport error; 200 when not needed).
	cart int
	// status is the status of POST /v1/orders (0: a transport error or not sent).
	status int
	// problem says a 429 or 503 came as problem+json with a Retry-After.
	problem   bool
	place     time.Duration // the POST alone
	full      time.Duration // POST to paid
	paid      bool
	undecided bool // admitted but no outcome within 30 s
}

// shoppers puts users in the pool of free customers.
func shoppers(users []*customer) chan *shopper {
	free := make(chan *shopper, len(users))
	for i, u := range users {
		free <- &shopper{i: i, u: u}
	}
	return free
}

// openLoop starts checkouts at rate per second for warm+secs with the customers of free,
// waits until every one started has its outcome (or gave up on it), and reports those started
// within secs after warm.
func openLoop(c *client, out *outcomes, free chan *shopper, ids []string, rate float64, warm, secs time.Duration,
	outstanding int, reads *storm) {
	var (
		mu       sync.Mutex
		arrivals []arrival
		skipped  int
		running  atomic.Int64
		wg       sync.WaitGroup
	)
	begin := time.Now()
	from, end := begin.Add(warm), begin.Add(warm+secs)
	gap := time.Duration(float64(time.Second) / rate)
	for n := 0; ; n++ {
		at := begin.Add(time.Duration(n) * gap)
		if !at.Before(end) {
			break
		}
		time.Sleep(time.Until(at)) // late wake-ups catch up: the schedule, not the sleeps, sets the rate
		var s *shopper
		select {
		case s = <-free:
		default:
		}
		if s == nil || running.Load() >= int64(outstanding) {
			if s != nil {
				free <- s
			}
			if !at.Before(from) {
				mu.Lock()
				skipped++
				mu.Unlock()
			}
			continue
		}
		running.Add(1)
		product := ids[n%len(ids)]
		wg.Go(func() {
			defer running.Add(-1)
			a := arrive(c, out, s, product, free, reads)
			mu.Lock()
			arrivals = append(arrivals, a)
			mu.Unlock()
		})
	}
	wg.Wait()
	reportOpen(arrivals, skipped, from, secs, rate)
}

// arrive is one arrival: the cart (unless ready), the placement, and the wait for its
// outcome. s goes back to free as soon as the placement is answered.
func arrive(c *client, out *outcomes, s *shopper, product string, free chan<- *shopper, reads *storm) arrival {
	a := arrival{start: time.Now(), cart: 200}
	if !s.cartReady {
		var err error
		if a.cart, _, _, err = c.do("POST", "/v1/cart/items", s.u.bearer(), map[string]any{"product_id": product, "quantity": 1}); err != nil {
			a.cart = 0
		}
		if a.cart/100 != 2 {
			free <- s
			return a
		}
		s.cartReady = true
	}
	body := map[string]any{"payment_method": "pm_card_visa", "shipping_address": map[string]any{
		"name": "Bench", "line1": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"}}
	t0 := time.Now()
	status, h, b, err := c.do("POST", "/v1/orders", s.u.bearer(), body, "Idempotency-Key", uuid.NewString())
	a.place = time.Since(t0)
	if err != nil {
		status = 0
	}
	a.status = status
	if status == 429 || status == 503 {
		a.problem = h.Get("Retry-After") != "" && strings.HasPrefix(h.Get("Content-Type"), "application/problem+json")
	}
	var id string
	if status/100 == 2 {
		s.cartReady = false // the order claimed the cart
		id = orderID(b)
	}
	i := s.i
	free <- s
	if id == "" {
		return a
	}
	reads.placed(i, id)
	select {
	case kind := <-out.wait(id):
		a.full, a.paid = time.Since(t0), kind == "paid"
	case <-time.After(30 * time.Second):
		a.undecided = true
	}
	return a
}

// orderID picks the id out of an order's JSON without a struct per reply.
func orderID(b []byte) string {
	_, rest, ok := strings.Cut(string(b), `"id":"`)
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, `"`)
	return id
}

// reportOpen prints the arrivals started inside the measured window: how the placements were
// answered, how fast the refusals came, and the admitted ones' latency and outcome; then a
// summary line for bench/overload.sh.
func reportOpen(arrivals []arrival, skipped int, from time.Time, secs time.Duration, rate float64) {
	var (
		sent, ok2xx, r429, r503, other, transport, cartFailed, bare, unpaid, undecided, errs int
		refusals, place, full                                                                []time.Duration
	)
	for _, a := range arrivals {
		if a.start.Before(from) || a.start.After(from.Add(secs)) {
			continue
		}
		sent++
		switch {
		case a.cart/100 != 2:
			cartFailed++
			if a.cart != 429 && a.cart != 503 { // a refusal at the cart is no error
				errs++
			}
		case a.status/100 == 2:
			ok2xx++
			place = append(place, a.place)
			switch {
			case a.paid:
				full = append(full, a.full)
			case a.undecided:
				undecided++
			default:
				unpaid++
			}
		case a.status == 429 || a.status == 503:
			if a.status == 429 {
				r429++
			} else {
				r503++
			}
			if !a.problem {
				bare++
			}
			refusals = append(refusals, a.place)
		case a.status == 0:
			transport++
		default:
			other++
		}
	}
	s := secs.Seconds()
	errs += other + transport + undecided + unpaid + bare
	errPct := 0.0
	if sent > 0 {
		errPct = 100 * float64(errs) / float64(sent)
	}
	fmt.Printf("open loop       %8.0f /s offered, %.0f /s sent, %d skipped (no free customer or %s)\n", rate, float64(sent)/s, skipped, "the outstanding bound")
	fmt.Printf("POST /v1/orders 2xx %d · 429 %d · 503 %d · other %d · transport errors %d · cart refused or failed %d\n",
		ok2xx, r429, r503, other, transport, cartFailed)
	fmt.Printf("refusals        p50 %-9s p99 %-9s (%d without problem+json and Retry-After)\n", pct(refusals, 50), pct(refusals, 99), bare)
	fmt.Printf("admitted POST   p50 %-9s p95 %-9s p99 %s\n", pct(place, 50), pct(place, 95), pct(place, 99))
	fmt.Printf("placed → paid   p50 %-9s p95 %-9s p99 %s   (%d not paid, %d undecided after 30 s)\n", pct(full, 50), pct(full, 95), pct(full, 99), unpaid, undecided)
	fmt.Printf("checkouts paid  %8.0f /s\n", float64(len(full))/s)
	fmt.Printf("summary rate=%.0f sent=%.0f paid=%.0f ok=%d r429=%d r503=%d errors=%d errpct=%.2f refusal_p99=%s post_p99=%s paid_p50=%s paid_p95=%s paid_p99=%s\n",
		rate, float64(sent)/s, float64(len(full))/s, ok2xx, r429, r503, errs, errPct, pct(refusals, 99), pct(place, 99), pct(full, 50), pct(full, 95), pct(full, 99))
}
