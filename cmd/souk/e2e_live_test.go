package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/bus"
)

// TestLiveConfiguration changes a running shop through its config bucket, with `souk
// config` and with a plain KV put (what `nats kv put config …` sends), and sees each change
// take effect without a restart: a feature paused, the log level raised, the per-IP rate
// limit lowered, a bad value refused with the last good one in force, a deleted key back to
// its default.
func TestLiveConfiguration(t *testing.T) {
	s := startShop(t, nil)
	url := embeddedURL(t, s.logs)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	config := func(args ...string) {
		t.Helper()
		var out bytes.Buffer
		if code := cli(ctx, append([]string{"config"}, args...), envOf(map[string]string{"NATS_URL": url}), &out, &out); code != 0 {
			t.Fatalf("souk config %v: exit %d\n%s", args, code, out.String())
		}
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, bus.BucketConfig)
	if err != nil {
		t.Fatal(err)
	}
	const within = 30 * time.Second // a bound for a starved machine; the watch takes milliseconds

	// Checkout paused: a placement is a 503 that says so; back on, it is the order service's.
	token := s.customer("live@souk.test")
	place := func() reply {
		return s.do("POST", "/v1/orders", map[string]any{"shipping_address": address}, token, "Idempotency-Key", "live-1")
	}
	config("set", "features.checkout", "off")
	expect.Within(t, within, func() error {
		if r := place(); r.status != 503 || !strings.Contains(string(r.body), "checkout_paused") {
			return fmt.Errorf("checkout off: %d %s", r.status, r.body)
		}
		return nil
	})
	config("rm", "features.checkout")
	expect.Within(t, within, func() error {
		if r := place(); r.status == 503 {
			return fmt.Errorf("checkout back on: %d %s", r.status, r.body)
		}
		return nil
	})

	// The log level: at error, a request is no longer logged; back to the default, it is.
	config("set", "log.level", "error")
	expect.Within(t, within, func() error { return s.logsRequest(false) })
	config("rm", "log.level")
	expect.Within(t, within, func() error { return s.logsRequest(true) })

	// The per-IP rate, lowered with a plain put; a bad value after it is refused, and the
	// lowered rate stays; deleted, the setting's rate is back.
	put := func(v string) {
		t.Helper()
		if _, err := kv.PutString(ctx, "gateway.rate_ip", v); err != nil {
			t.Fatal(err)
		}
	}
	put("1")
	expect.Within(t, within, func() error { return s.limited(true) })
	put("-5")
	expect.Within(t, within, func() error {
		if !strings.Contains(s.logs.String(), "live config: value refused") {
			return fmt.Errorf("the refusal of gateway.rate_ip -5 is not logged yet")
		}
		return nil
	})
	if err := s.limited(true); err != nil {
		t.Fatalf("after a refused value: %v", err)
	}
	if err := kv.Delete(ctx, "gateway.rate_ip"); err != nil {
		t.Fatal(err)
	}
	expect.Within(t, within, func() error { return s.limited(false) })
}

// logsRequest sends a request and reports whether its access-log line was written as want.
func (s *shop) logsRequest(want bool) error {
	before := strings.Count(s.logs.String(), `"message":"http request"`)
	s.do("GET", "/healthz", nil, "")
	if got := strings.Count(s.logs.String(), `"message":"http request"`) > before; got != want {
		return fmt.Errorf("request logged: %v, want %v", got, want)
	}
	return nil
}

// limited reports whether one of 5 quick requests was a 429 as want. They come from a client
// address the gateway has not seen (127.1.x.y, a loopback address of its own each call), so
// they meet a fresh bucket at the limit in force (burst 2 at gateway.rate_ip 1, 100 at the
// default 50): what the probe measures is that limit, not the tokens its own earlier polls
// spent. From one address, polls every 20 ms drained a bucket refilling at 50/s faster
// than it filled, so "not limited" was never seen on a quick machine.
func (s *shop) limited(want bool) error {
	s.probes++
	local := &net.TCPAddr{IP: net.IPv4(127, 1, byte(s.probes/250), byte(s.probes%250+1))}
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: local, Timeout: 30 * time.Second}).DialContext}
	defer tr.CloseIdleConnections()
	own := s.http
	s.http = &http.Client{Transport: tr, Timeout: own.Timeout}
	defer func() { s.http = own }()
	got := false
	for range 5 {
		if s.do("GET", "/healthz", nil, "").status == 429 {
			got = true
		}
	}
	if got != want {
		return fmt.Errorf("rate limited: %v, want %v", got, want)
	}
	return nil
}
