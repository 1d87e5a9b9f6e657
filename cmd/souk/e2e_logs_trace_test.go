package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/platform/trace"
)

// souk logs -trace <id> shows every line of one checkout: the lines with its trace_id that
// the shop wrote to stdout, every one of them and no other, from the LOGS stream. (A
// checkout that goes well logs little: the gateway's line of the placement, at info.)
func TestCheckoutLinesByTrace(t *testing.T) {
	tracing := trace.With(trace.Config{Instance: "test"}, nil, sdktrace.NewSimpleSpanProcessor(tracetest.NewInMemoryExporter()))
	s, stop := launchShopIn(context.WithValue(context.Background(), tracingKey{}, tracing), t, shopEnv(t))
	t.Cleanup(stop)
	checkoutToDelivered(s, "logged@example.com", clientTraceparent)
	url := embeddedURL(t, s.logs)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	var want, got []string
	expect.Within(t, 90*time.Second, func() error {
		got = nil
		for _, l := range soukLogs(t, ctx, url, "-trace", clientTraceID) {
			got = append(got, l.Service+": "+l.Message)
		}
		want = nil
		for _, l := range s.logs.Lines() {
			if l["trace_id"] == clientTraceID {
				want = append(want, fmt.Sprint(l["service"])+": "+fmt.Sprint(l["message"]))
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			return fmt.Errorf("souk logs -trace shows %d lines:\n%s\nstdout has %d:\n%s", len(got), strings.Join(got, "\n"), len(want), strings.Join(want, "\n"))
		}
		return nil
	})
	if !slices.Contains(got, "gateway: http request") {
		t.Errorf("souk logs -trace lacks the gateway's line of the placement: %q", got)
	}
	t.Logf("the checkout's lines: %q", got)
}
