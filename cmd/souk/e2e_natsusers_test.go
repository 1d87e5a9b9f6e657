package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/logtest"
	"github.com/souk/souk/nats/natstest"
)

// TestShopAsNATSUsers runs the whole shop against the shipped NATS config (accounts.conf's
// generated permissions, TLS with client certificates), every service and the gateway in a
// `souk run` of its own, connected as its own NATS user, after `souk nats-setup` as admin:
// a checkout completes. A permission its declaration leaves out (a call, a bucket, a
// consumer) is refused by the server, and the request or the consumer fails.
func TestShopAsNATSUsers(t *testing.T) {
	certs := natstest.NewCerts(t)
	hub := natstest.StartHub(t, certs, true)
	ns, passwords := hub.Server, hub.Passwords
	base := shopEnv(t)
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	base["NATS_URL"] = ns.ClientURL()
	base["DATABASE_URL"] += map[bool]string{true: "&", false: "?"}[strings.Contains(base["DATABASE_URL"], "?")] + "pool_max_conns=3"
	base["SOUK_SECRET_KEY"] = base64.StdEncoding.EncodeToString(key)
	base["SOUK_NATS_CA"], base["SOUK_NATS_CERT"], base["SOUK_NATS_KEY"] = certs.CA, certs.ClientCert, certs.ClientKey
	as := func(user string) map[string]string {
		env := map[string]string{"SOUK_NATS_USER": user, "SOUK_NATS_PASSWORD_FILE": filepath.Join(t.TempDir(), "password")}
		if err := os.WriteFile(env["SOUK_NATS_PASSWORD_FILE"], []byte(passwords[user]+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		for k, v := range base {
			env[k] = v
		}
		return env
	}
	setup := &logtest.Buffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if code := cli(ctx, []string{"nats-setup"}, mapEnv(as("admin")), io.Discard, setup); code != 0 {
		t.Fatalf("souk nats-setup exited %d: %s", code, setup.String())
	}
	for _, name := range serviceNames() {
		runPart(t, as(name), name)
	}
	s, stop := launchShop(t, as("gateway"), "gateway")
	t.Cleanup(stop)

	admin, _ := s.login(adminEmail, adminPassword)
	mug := s.mug(admin, "MUG-NATS", 3)
	expect.Within(t, 60*time.Second, func() error {
		if p := s.do("GET", "/v1/products/"+mug, nil, "").json(t); p["in_stock"] != true {
			return fmt.Errorf("in_stock still %v", p["in_stock"])
		}
		return nil
	})
	tok := s.customer("nats-user@example.com")
	s.expect(s.do("POST", "/v1/cart/items", map[string]any{"product_id": mug, "quantity": 2}, tok), 200, "add to cart")
	r := s.do("POST", "/v1/orders", map[string]any{"shipping_address": address, "payment_method": "pm_card_visa"}, tok)
	s.expect(r, 201, "place order")
	id := r.json(t)["id"].(string)
	if names := s.follow(id, tok, "paid"); names[len(names)-1] != "paid" {
		t.Fatalf("the order's events: %v", names)
	}
	expect.Within(t, 60*time.Second, func() error {
		if on, res, av := s.stock("MUG-NATS", admin); on != 1 || res != 0 || av != 1 {
			return fmt.Errorf("stock after a paid order of 2: on_hand %d reserved %d available %d", on, res, av)
		}
		return nil
	})
	// The gateway's metrics read JetStream with its user's permissions (stream, consumer and
	// account info) and show when the certificates it loads expire.
	expect.Within(t, 30*time.Second, func() error {
		sc, err := s.scrapeMetrics()
		if err != nil {
			return err
		}
		if sc.sum("souk_jetstream_lag_up") != 1 || sc.sum("souk_jetstream_storage_bytes", `type="file"`) <= 0 {
			return fmt.Errorf("JetStream not read as the gateway user: lag_up %v, file storage %v",
				sc.sum("souk_jetstream_lag_up"), sc.sum("souk_jetstream_storage_bytes", `type="file"`))
		}
		for _, purpose := range []string{"nats_ca", "nats_client"} {
			at := sc.sum("souk_tls_certificate_expiry_timestamp_seconds", `purpose="`+purpose+`"`)
			if at < float64(time.Now().Unix()) || at > float64(time.Now().Add(25*time.Hour).Unix()) {
				return fmt.Errorf("%s certificate expires at %v, want within the test CA's day", purpose, at)
			}
		}
		return nil
	})
	// Beyond the checkout: what each service did on its own (its loops endpoint, a bucket it
	// writes), the server refused none of it.
	if refused := hub.Refused(); len(refused) > 0 {
		t.Fatalf("the server refused %d publishes or subscriptions: a declaration misses them:\n%s", len(refused), strings.Join(refused, "\n"))
	}
}

// mapEnv is a getenv of env.
func mapEnv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// runPart runs `souk run part` in-process with env until the test ends, then stops it and
// fails the test unless it exits cleanly; it returns its log.
func runPart(t *testing.T, env map[string]string, part string) *logtest.Buffer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &logtest.Buffer{}
	exited := make(chan int, 1)
	go func() { exited <- cli(ctx, []string{"run", part}, mapEnv(env), io.Discard, logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-exited:
			if code != 0 {
				t.Errorf("souk run %s exited %d; logs:\n%s", part, code, logs.String())
			}
		case <-time.After(30 * time.Second):
			t.Errorf("souk run %s did not exit within 30 s of the signal", part)
		}
	})
	return logs
}
