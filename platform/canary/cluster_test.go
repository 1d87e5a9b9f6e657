package canary_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/platform/canary"
)

// A mapping is applied by the server the publisher is connected to, not the subscriber's: in
// a cluster of two where only one server maps, requests published on the other all reach the
// stable subjects; once both map, both give the canary its share. So every server of a
// cluster needs the block (docs/operations.md).
func TestEveryServerOfAClusterNeedsTheMapping(t *testing.T) {
	c := natstest.NewCluster(t, 2)
	a, b := c.Server(0), c.Server(1)
	expect.Within(t, 30*time.Second, func() error {
		if a.NumRoutes() == 0 || b.NumRoutes() == 0 {
			return fmt.Errorf("routes: a %d, b %d", a.NumRoutes(), b.NumRoutes())
		}
		return nil
	})
	onA, onB := connectTo(t, a), connectTo(t, b)
	if err := canary.Apply(a.GlobalAccount(), "catalog", 50); err != nil {
		t.Fatal(err)
	}
	const n = 400
	lo, hi := band(n, 0.5)
	// The subscribers are on b; what a publisher on a sends is mapped at a.
	if got := publishedVia(t, onB, onA, a, n); got < lo || got > hi {
		t.Fatalf("published on the mapping server: %d of %d to the canary, want [%d, %d]", got, n, lo, hi)
	}
	if got := publishedVia(t, onA, onB, b, n); got != 0 {
		t.Fatalf("published on the server without the mapping: %d of %d to the canary, want 0", got, n)
	}
	if err := canary.Apply(b.GlobalAccount(), "catalog", 50); err != nil {
		t.Fatal(err)
	}
	if got := publishedVia(t, onA, onB, b, n); got < lo || got > hi {
		t.Fatalf("once both map: %d of %d to the canary, want [%d, %d]", got, n, lo, hi)
	}
}

func connectTo(t *testing.T, ns *server.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// publishedVia is published with its subscribers on sub's server and n messages published by
// pub, once pub's server (at) sees their interest.
func publishedVia(t *testing.T, sub, pub *nats.Conn, at *server.Server, n int) int {
	t.Helper()
	// A previous call's subscriptions are gone from sub's server, but at may not have heard yet.
	// Were it to see that stale interest as the new one, the route's unsubscribe and
	// subscribe could land while the messages are sent, and some of them would go nowhere.
	expect.Within(t, 10*time.Second, func() error { return interest(at, false) })
	return publishedWith(t, sub, pub, n, func() {
		expect.Within(t, 10*time.Second, func() error { return interest(at, true) })
	})
}

// interest is nil once at sees (or no longer sees) subscribers for both subjects.
func interest(at *server.Server, want bool) error {
	for _, s := range []string{"souk.catalog.v1.x", "souk.catalog.canary.v1.x"} {
		if at.GlobalAccount().SubscriptionInterest(s) != want {
			return fmt.Errorf("%s: interest on %s is not yet %v", s, at.Name(), want)
		}
	}
	return nil
}
