package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/logtest"
	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/platform/pg"
)

// opsGet is one answer of the ops listener: its status and body.
func opsGet(c *http.Client, url string) (int, string, error) {
	res, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), err
}

// readyzMissing is what a 503 of /readyz names as missing.
func readyzMissing(t *testing.T, body string) []string {
	t.Helper()
	var p struct{ Missing []string }
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("readyz body %q: %v", body, err)
	}
	return p.Missing
}

// `souk run catalog` against a NATS server of its own serves /healthz, /readyz and /metrics
// on SOUK_OPS_ADDR: alive while it starts, not ready until the catalog serves (its
// migration held back here by the lock another instance's migration would hold), ready
// after, not ready while NATS is cut off, ready again once it is back; /metrics is the
// process's registry with the kit's instruments.
func TestOpsListener(t *testing.T) {
	ns, _ := natstest.Server(t)
	proxy := toxiproxy.NewProxy(toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop()),
		"nats", "127.0.0.1:0", strings.TrimPrefix(ns.ClientURL(), "nats://"))
	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Stop)
	env := shopEnv(t)
	env["NATS_URL"] = "nats://" + proxy.Listen
	env["SOUK_OPS_ADDR"] = freeAddr(t)
	ops := "http://" + env["SOUK_OPS_ADDR"]
	client := &http.Client{Timeout: 30 * time.Second}

	// Hold the catalog's migration lock, as an instance migrating the schema would.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	lock, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Exec(ctx, `select pg_advisory_xact_lock($1)`, pg.MigrationLock("catalog")); err != nil {
		t.Fatal(err)
	}

	logs := &logtest.Buffer{}
	run := expect.Start(t, func(ctx context.Context) error {
		if code := cli(ctx, []string{"run", "catalog"}, func(k string) string { return env[k] }, io.Discard, logs); code != 0 {
			return fmt.Errorf("souk run catalog exited %d; logs:\n%s", code, logs.String())
		}
		return nil
	})
	answers := func(path string, want int, check func(body string) error) {
		t.Helper()
		expect.Within(t, 90*time.Second, func() error {
			if exited, err := run.Exited(); exited {
				t.Fatalf("souk run catalog exited: %v", err)
			}
			code, body, err := opsGet(client, ops+path)
			if err != nil {
				return err
			}
			if code != want {
				return fmt.Errorf("%s: %d %s, want %d", path, code, body, want)
			}
			if check != nil {
				return check(body)
			}
			return nil
		})
	}
	names := func(what string) func(string) error {
		return func(body string) error {
			if m := readyzMissing(t, body); !slices.Contains(m, what) {
				return fmt.Errorf("readyz names %v, want %q among them", m, what)
			}
			return nil
		}
	}

	answers("/healthz", 200, nil)
	answers("/readyz", 503, names("catalog")) // alive, migrating: not ready
	// souk probe, the image's health check, in this environment.
	probe := func(path string) int {
		return cli(ctx, []string{"probe", path}, func(k string) string { return env[k] }, io.Discard, io.Discard)
	}
	if probe("/healthz") != 0 || probe("/readyz") != 1 {
		t.Fatalf("souk probe: /healthz %d, /readyz %d while migrating; want 0 and 1", probe("/healthz"), probe("/readyz"))
	}
	if err := lock.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	answers("/readyz", 200, nil)
	if code := probe("/readyz"); code != 0 {
		t.Fatalf("souk probe /readyz: %d once ready, want 0", code)
	}
	answers("/metrics", 200, func(body string) error {
		for _, family := range []string{"souk_loop_up{", "souk_rpc_requests_in_flight", "souk_outbox_", "go_goroutines"} {
			if !strings.Contains(body, family) {
				return fmt.Errorf("/metrics has no %s", family)
			}
		}
		return nil
	})

	proxy.Stop() // NATS is cut off: the connection is down and reconnects fail
	answers("/readyz", 503, names("nats"))
	answers("/healthz", 200, nil) // alive all the same: a restart would not bring NATS back
	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	answers("/readyz", 200, nil)
}
