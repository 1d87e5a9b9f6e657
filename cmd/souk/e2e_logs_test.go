package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/souk/souk/internal/expect"
)

// TestShopLogsInTheStream: a running shop's lines reach LOGS without a shipper, each under
// the service that logged it, and souk logs reads them by service: the services' start-up
// lines, and the gateway's line of a request made by the test.
func TestShopLogsInTheStream(t *testing.T) {
	s := startShop(t, nil)
	url := embeddedURL(t, s.logs)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s.expect(s.do("GET", "/v1/products/no-such-product", nil, ""), 404, "unknown product")

	expect.Within(t, time.Minute, func() error {
		lines := soukLogs(t, ctx, url, "-service", "gateway", "-level", "info")
		for _, l := range lines {
			if l.Service != "gateway" {
				return fmt.Errorf("a line of %q in the gateway's: %+v", l.Service, l)
			}
		}
		if !strings.Contains(fmt.Sprint(messages(lines)), "http request") {
			return fmt.Errorf("no request line in %q", messages(lines))
		}
		return nil
	})
	seen := map[string]bool{}
	for _, l := range soukLogs(t, ctx, url, "-service", "order,payment") {
		if l.Service != "order" && l.Service != "payment" {
			t.Errorf("souk logs -service order,payment printed a line of %q: %+v", l.Service, l)
		}
		seen[l.Service] = true
	}
	if !seen["order"] || !seen["payment"] {
		t.Errorf("souk logs -service order,payment: lines of %v, want both", seen)
	}
	m := string(s.do("GET", "/metrics", nil, "").body)
	if !strings.Contains(m, `souk_log_lines_total{level="info"}`) || !strings.Contains(m, "souk_log_dropped_total 0") {
		t.Errorf("/metrics lacks the sink's counters (or it dropped lines):\n%s", grepLines(m, "souk_log_"))
	}
}

// grepLines are the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
