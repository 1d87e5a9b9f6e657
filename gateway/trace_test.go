package gateway_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/micro"

	"github.com/souk/souk/gateway"
	"github.com/souk/souk/subjects"
)

// With tracing off, a client's traceparent still travels on: the service is asked with the
// client's trace (a span of the gateway's, which records nothing, in between), and the
// access log line names the trace, so a trace begun in front of Souk can be followed into it.
func TestTraceparentTravelsWithTracingOff(t *testing.T) {
	h := newHarness(t, gateway.Config{})
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	got := make(chan string, 1)
	serve(t, h.nc, "auth", subjects.AuthJWKS.Subject, func(req micro.Request) {
		got <- req.Headers().Get(subjects.HeaderTraceparent)
		_ = req.Respond([]byte(`{"keys":[]}`))
	})
	r := h.do("GET", "/.well-known/jwks.json", nil, "traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if tp := <-got; !strings.HasPrefix(tp, "00-"+traceID+"-") {
		t.Fatalf("the service got traceparent %q, want one of trace %s", tp, traceID)
	}
	var line map[string]any
	for l := range strings.SplitSeq(strings.TrimSpace(h.logs.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["message"] == "http request" {
			line = m
		}
	}
	if line["trace_id"] != traceID || line["request_id"] == "" {
		t.Fatalf("access log line %v, want trace_id %s and a request_id", line, traceID)
	}
}
