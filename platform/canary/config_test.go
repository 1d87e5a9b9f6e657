package canary_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/platform/canary"
)

// The mappings block `souk canary` prints is a valid nats-server config, included in the
// block of the account Souk's users belong to, and a reload moves the share: 25 % (within
// the binomial band), then 100 %, then 0 %, on one running server.
func TestConfigBlockMovesTheShareOnReload(t *testing.T) {
	dir := t.TempDir()
	include := filepath.Join(dir, "canary.conf")
	writeShares(t, include, map[string]int{"catalog": 25, "order": 0})
	conf := filepath.Join(dir, "nats.conf")
	body := "listen: 127.0.0.1:-1\naccounts {\n  SOUK {\n    users: [{user: souk, password: souk}]\n    include canary.conf\n  }\n}\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatalf("the generated block is not a server config: %v", err)
	}
	opts.NoSigs, opts.NoLog = true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	nc, err := nats.Connect(ns.ClientURL(), nats.UserInfo("souk", "souk"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)

	const n = 400
	lo, hi := band(n, 0.25)
	if got := published(t, nc, n); got < lo || got > hi {
		t.Fatalf("share 25 %%: %d of %d to the canary subjects, want [%d, %d]", got, n, lo, hi)
	}
	for _, share := range []int{100, 0} {
		writeShares(t, include, map[string]int{"catalog": share})
		if err := ns.Reload(); err != nil {
			t.Fatalf("reload: %v", err)
		}
		if got := published(t, nc, 50); got != share/2 {
			t.Fatalf("share %d %%: %d of 50 to the canary subjects", share, got)
		}
	}
}

func writeShares(t *testing.T, path string, shares map[string]int) {
	t.Helper()
	block, err := canary.Config(shares)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(block), 0o600); err != nil {
		t.Fatal(err)
	}
}

// published publishes n catalog requests and returns how many reached the canary subjects
// (every one reaches one of the two).
func published(t *testing.T, nc *nats.Conn, n int) int {
	t.Helper()
	return publishedWith(t, nc, nc, n, func() {})
}

// publishedWith is published with the subscribers on sub and the publisher on pub; ready
// returns once pub's server sees the subscriptions.
func publishedWith(t *testing.T, sub, pub *nats.Conn, n int, ready func()) int {
	t.Helper()
	stable, err := sub.SubscribeSync("souk.catalog.v1.>")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stable.Unsubscribe() }()
	canaried, err := sub.SubscribeSync("souk.catalog.canary.v1.>")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = canaried.Unsubscribe() }()
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}
	ready()
	for range n {
		if err := pub.Publish("souk.catalog.v1.product.get", nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	var s, c int
	expect.Within(t, 10*time.Second, func() error {
		s, _, _ = stable.Pending()
		c, _, _ = canaried.Pending()
		if s+c < n {
			return fmt.Errorf("%d of %d messages delivered", s+c, n)
		}
		return nil
	})
	if s+c != n {
		t.Fatalf("%d stable + %d canary messages of %d published", s, c, n)
	}
	return c
}
