package main

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/platform/trace"
)

// The client's own span, the parent of the checkout's trace: a browser or a proxy in front
// that traces.
const (
	clientTraceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientSpanID      = "00f067aa0ba902b7"
	clientTraceparent = "00-" + clientTraceID + "-" + clientSpanID + "-01"
)

// servicesOfACheckout are the services one checkout touches, each of which must have spans
// in its trace: the gateway's request, the order's placement and its calls (the cart), the
// inventory's reservation, the payment, the shipment staff move to delivered, and the
// customer's emails.
var servicesOfACheckout = []string{"gateway", "order", "cart", "inventory", "payment", "shipping", "notification"}

// One checkout, from POST /v1/orders to delivered, is one trace: every span of every service
// it touched is in it, each the child of a span of the trace (the only exception is the
// gateway's span of the placement, the child of the client's), every event's consumer span is
// the child of the span that wrote it to the outbox, and the steps that came from requests of
// their own (staff moving the shipment) continue the trace, linked to those requests.
func TestCheckoutIsOneTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tracing := trace.With(trace.Config{Instance: "test"}, nil, sdktrace.NewSimpleSpanProcessor(exp))
	s, stop := launchShopIn(context.WithValue(context.Background(), tracingKey{}, tracing), t, shopEnv(t))
	t.Cleanup(stop)
	id := checkoutToDelivered(s, "traced@example.com", clientTraceparent)

	var spans tracetest.SpanStubs
	expect.Within(t, 60*time.Second, func() error {
		spans = spansOf(exp.GetSpans(), clientTraceID)
		emails := 0
		for _, sp := range spans {
			if serviceOf(sp) == "notification" && sp.Name == "notification.email" {
				emails++
			}
		}
		if emails < 3 {
			return fmt.Errorf("order %s: %d of its emails (paid, shipped, delivered) sent in the trace yet (%d spans)", id, emails, len(spans))
		}
		return nil
	})
	checkTraceShape(t, spans, clientSpanID)
	checkResumed(t, spans, exp.GetSpans())
}

// checkoutToDelivered places an order as a new customer, its request carrying traceparent,
// and has staff ship it and deliver it; it returns the order's id once the order is delivered.
func checkoutToDelivered(s *shop, email, traceparent string) string {
	t := s.t
	admin, _ := s.login(adminEmail, adminPassword)
	mug := s.mug(admin, "MUG-T", 3)
	tok := s.customer(email)
	expect.Within(t, 30*time.Second, func() error { // the cart prices from the catalog, which learns the stock from events
		if r := s.do("POST", "/v1/cart/items", map[string]any{"product_id": mug, "quantity": 1}, tok); r.status != 200 {
			return fmt.Errorf("add to cart: %d %s", r.status, r.body)
		}
		return nil
	})
	r := s.do("POST", "/v1/orders", map[string]any{"shipping_address": address, "payment_method": "pm_card_visa"}, tok, "traceparent", traceparent)
	s.expect(r, 201, "place order")
	id := r.json(t)["id"].(string)
	s.deliver(id, tok, admin)
	s.await(id, tok, "delivered")
	return id
}

// spansOf are the spans of trace id.
func spansOf(all tracetest.SpanStubs, id string) tracetest.SpanStubs {
	var out tracetest.SpanStubs
	for _, sp := range all {
		if sp.SpanContext.TraceID().String() == id {
			out = append(out, sp)
		}
	}
	return out
}

func serviceOf(sp tracetest.SpanStub) string {
	v, _ := sp.Resource.Set().Value("service.name")
	return v.AsString()
}

// checkTraceShape checks that spans are one tree under the client's span root: every parent
// recorded, one span (the gateway's placement) the client's child; every service of a
// checkout present; every consumer span the child of a span of another service or of its
// own publisher (the outbox carried the context), never a root.
func checkTraceShape(t *testing.T, spans tracetest.SpanStubs, root string) {
	t.Helper()
	byID := map[string]tracetest.SpanStub{}
	for _, sp := range spans {
		byID[sp.SpanContext.SpanID().String()] = sp
	}
	services := map[string]int{}
	var rooted []string
	for _, sp := range spans {
		services[serviceOf(sp)]++
		parent := sp.Parent.SpanID().String()
		if !sp.Parent.IsValid() {
			t.Errorf("%s %q is a root of its own", serviceOf(sp), sp.Name)
			continue
		}
		if parent == root {
			rooted = append(rooted, serviceOf(sp)+" "+sp.Name)
			continue
		}
		p, ok := byID[parent]
		if !ok {
			t.Errorf("%s %q: its parent %s is not in the trace", serviceOf(sp), sp.Name, parent)
			continue
		}
		if sp.SpanKind == oteltrace.SpanKindConsumer && p.SpanKind == oteltrace.SpanKindClient {
			t.Errorf("%s %q: a consumer span whose parent is the client span %q", serviceOf(sp), sp.Name, p.Name)
		}
	}
	if !slices.Equal(rooted, []string{"gateway POST /v1/orders"}) {
		t.Errorf("the client's span's children: %v, want the gateway's placement alone", rooted)
	}
	for _, name := range servicesOfACheckout {
		if services[name] == 0 {
			t.Errorf("no span of %s in the checkout's trace; services: %v", name, services)
		}
	}
	// The order.placed event's consumer in the inventory is the child of the order service's
	// span of the placement request: the outbox row carried it.
	placed := find(spans, "inventory", "souk.evt.order.placed")
	if placed == nil {
		t.Fatalf("no inventory span of order.placed; spans:\n%s", describe(spans))
	}
	if p := byID[placed.Parent.SpanID().String()]; serviceOf(p) != "order" || p.SpanKind != oteltrace.SpanKindServer || !strings.Contains(p.Name, "order.place") {
		t.Errorf("the inventory's order.placed span's parent is %s %q (%v), want the order service's placement", serviceOf(p), p.Name, p.SpanKind)
	}
	if t.Failed() {
		t.Logf("spans:\n%s", describe(spans))
	}
}

// checkResumed checks that staff's moves of the shipment are spans of the checkout's trace,
// each linked to the span of the request that made it (in a trace of its own), and that the
// payment's outcome, which a background worker records, is in the trace too.
func checkResumed(t *testing.T, spans, all tracetest.SpanStubs) {
	t.Helper()
	ids := map[string]tracetest.SpanStub{}
	for _, sp := range all {
		ids[sp.SpanContext.SpanID().String()] = sp
	}
	moves := 0
	for _, sp := range spans {
		if sp.Name != "shipping.move" {
			continue
		}
		moves++
		if len(sp.Links) != 1 {
			t.Errorf("shipping.move has links %v, want the staff request's span", sp.Links)
			continue
		}
		req, ok := ids[sp.Links[0].SpanContext.SpanID().String()]
		if !ok || req.SpanContext.TraceID() == sp.SpanContext.TraceID() || serviceOf(req) != "shipping" {
			t.Errorf("shipping.move's link leads to %s %q in trace %s", serviceOf(req), req.Name, req.SpanContext.TraceID())
		}
	}
	if moves != 4 {
		t.Errorf("%d shipping.move spans in the checkout's trace, want 4 (packed, shipped, in_transit, delivered)", moves)
	}
	if find(spans, "payment", "payment.record") == nil {
		t.Errorf("the payment's outcome is not recorded in the checkout's trace")
	}
}

func find(spans tracetest.SpanStubs, svc, name string) *tracetest.SpanStub {
	for i, sp := range spans {
		if serviceOf(sp) == svc && sp.Name == name {
			return &spans[i]
		}
	}
	return nil
}

// describe lists spans as service, name, kind, id and parent, for a failure's log.
func describe(spans tracetest.SpanStubs) string {
	lines := make([]string, 0, len(spans))
	for _, sp := range spans {
		lines = append(lines, fmt.Sprintf("%s %-12s %-40s %-8v %s <- %s", sp.StartTime.Format("15:04:05.000000"), serviceOf(sp), sp.Name, sp.SpanKind,
			sp.SpanContext.SpanID(), sp.Parent.SpanID()))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
