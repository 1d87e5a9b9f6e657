package gateway_test

import (
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/souk/souk/gateway"
	"github.com/souk/souk/subjects"
)

// A read storm (issue 12 item 12): with the signed-in reads' bound taken by reads the order
// service is still answering, further reads are refused at once with 503 and Retry-After,
// without reaching the service, while a checkout (a write) still goes through; once the
// held reads are answered, reads are let in again.
func TestAReadStormIsShedWhileACheckoutCompletes(t *testing.T) {
	// Every refusal at once: the held retries have their own test.
	h := newHarness(t, gateway.Config{Admission: gateway.Admission{MaxReads: 2, HeldRetries: -1}})
	tok := "Bearer " + h.token("u1", "customer")
	release := make(chan struct{})
	arrived := make(chan struct{}, 64)
	var reads atomic.Int32
	// The order service holds the first two reads until release; any later read it is
	// asked for is answered at once, so a gateway that lets it through shows a 200.
	sub, err := h.nc.Subscribe(subjects.OrderGet.Subject, func(m *nats.Msg) {
		n := reads.Add(1)
		arrived <- struct{}{}
		if n > 2 {
			_ = m.Respond([]byte(`{"id":"o1"}`))
			return
		}
		go func() { <-release; _ = m.Respond([]byte(`{"id":"o1"}`)) }()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	var placed atomic.Int32
	place, err := h.nc.Subscribe(subjects.OrderPlace.Subject, func(m *nats.Msg) {
		placed.Add(1)
		_ = m.Respond([]byte(`{"id":"o2"}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer place.Unsubscribe()

	held := make(chan response, 2)
	for range 2 {
		go func() { held <- h.do("GET", "/v1/orders/o1", nil, "Authorization", tok) }()
	}
	<-arrived
	<-arrived // both held reads are at the service: the bound is full

	for i := range 20 {
		r := h.do("GET", "/v1/orders/o"+strconv.Itoa(i), nil, "Authorization", tok)
		if r.status != 503 {
			t.Fatalf("storm read %d past the bound answered %d: %s", i, r.status, r.body)
		}
		if r.header.Get("Retry-After") == "" {
			t.Fatalf("503 without Retry-After: %v", r.header)
		}
	}
	if strings.Contains(h.logs.String(), "request failed") {
		t.Errorf("a refusal was logged as a failure: a storm would write a line per request:\n%s", h.logs.String())
	}
	if n := reads.Load(); n != 2 {
		t.Fatalf("the order service was asked %d reads, want only the 2 held", n)
	}
	r := h.do("POST", "/v1/orders", map[string]any{"payment_method": "pm_card_visa"}, "Authorization", tok, "Idempotency-Key", "k1")
	if r.status != 201 || placed.Load() != 1 {
		t.Fatalf("checkout during the storm: %d %s (placed %d)", r.status, r.body, placed.Load())
	}

	close(release)
	for range 2 {
		if r := <-held; r.status != 200 {
			t.Fatalf("held read: %d %s", r.status, r.body)
		}
	}
	if r := h.do("GET", "/v1/orders/o1", nil, "Authorization", tok); r.status != 200 {
		t.Fatalf("a read after the storm: %d %s", r.status, r.body)
	}
}

// A poller that ignores Retry-After: its first refusal comes at once, but the next one, asked
// before that Retry-After (1 s) is up, is answered only when it is up, still a 503 with
// Retry-After; so a storm of such pollers sends two requests a second each, not a hundred.
func TestARefusalAskedAgainTooSoonIsHeldUntilItsRetryAfter(t *testing.T) {
	h := newHarness(t, gateway.Config{Admission: gateway.Admission{MaxReads: 1}})
	tok := "Bearer " + h.token("u1", "customer")
	release := make(chan struct{})
	defer close(release)
	arrived := make(chan struct{}, 1)
	sub, err := h.nc.Subscribe(subjects.OrderGet.Subject, func(m *nats.Msg) {
		arrived <- struct{}{}
		go func() { <-release; _ = m.Respond([]byte(`{"id":"o1"}`)) }()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	held := make(chan response, 1)
	go func() { held <- h.do("GET", "/v1/orders/o1", nil, "Authorization", tok) }()
	<-arrived // the one slot is taken

	before := time.Now()
	for i := range 2 {
		r := h.do("GET", "/v1/orders/o2", nil, "Authorization", tok)
		if r.status != 503 || r.header.Get("Retry-After") != "1" {
			t.Fatalf("refusal %d: want 503 with Retry-After 1, got %d %v %s", i, r.status, r.header, r.body)
		}
	}
	if took := time.Since(before); took < time.Second {
		t.Fatalf("two refusals, the second asked before the first's Retry-After, took %s: the second was not held", took)
	}
}
