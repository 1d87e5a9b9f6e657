package bus_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/subjects"
)

// SOUK_NATS_REPLICAS on a cluster: streams and buckets made by a release with one copy are
// scaled to three when the shop starts with Replicas(3), keeping what they hold, their
// declared consumers follow, and ensuring again sends no update. Scaling back down works
// the same way.
func TestEnsureScalesReplicas(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := natstest.NewCluster(t, 3)
	expect.Within(t, time.Minute, c.Formed)
	nc := c.Connect(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// SITE_SALES, made by the inventory once a site has a quota, follows the count too.
	if err := errors.Join(ensureAll(ctx, js), bus.EnsureSiteSales(ctx, js, []string{"s1"})); err != nil {
		t.Fatal(err)
	}
	replicasAre(t, ctx, js, 1)
	const held = 20 // events the declared consumers of ORDERS have not applied
	for i := range held {
		if _, err := js.Publish(ctx, fmt.Sprintf("%s.%d", subjects.EvtOrderPlaced.Kind, i), []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}

	if err := ensureAll(ctx, js, bus.Replicas(3)); err != nil {
		t.Fatal(err)
	}
	if err := bus.EnsureSiteSales(ctx, js, []string{"s1"}, bus.Replicas(3)); err != nil {
		t.Fatal(err)
	}
	replicasAre(t, ctx, js, 3)
	s, err := js.Stream(ctx, subjects.StreamOrders)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.CachedInfo().State.Msgs; n != held {
		t.Fatalf("ORDERS holds %d events after scaling, want %d", n, held)
	}
	noUpdate(t, nc, func() error { return ensureAll(ctx, js, bus.Replicas(3)) })

	if err := errors.Join(ensureAll(ctx, js, bus.Replicas(1)), bus.EnsureSiteSales(ctx, js, []string{"s1"})); err != nil {
		t.Fatal(err)
	}
	replicasAre(t, ctx, js, 1)
}

// replicasAre waits until every stream and bucket has n copies, all current, and every
// declared consumer as many.
func replicasAre(t *testing.T, ctx context.Context, js jetstream.JetStream, n int) {
	t.Helper()
	names := []string{}
	for _, cfg := range bus.Streams {
		names = append(names, cfg.Name)
	}
	for _, b := range bus.Buckets {
		names = append(names, "KV_"+b.Bucket)
	}
	names = append(names, subjects.StreamSiteSales)
	expect.Within(t, time.Minute, func() error {
		for _, name := range names {
			if err := natstest.StreamCurrent(ctx, js, name); err != nil {
				return err
			}
			s, err := js.Stream(ctx, name)
			if err != nil {
				return err
			}
			if got := s.CachedInfo().Config.Replicas; got != n {
				return fmt.Errorf("stream %s has %d replicas, want %d", name, got, n)
			}
		}
		for _, dc := range bus.Consumers {
			cons, err := js.Consumer(ctx, dc.Stream, dc.Name)
			if err != nil {
				return err
			}
			cl := cons.CachedInfo().Cluster
			if cl == nil || cl.Leader == "" {
				return fmt.Errorf("consumer %s on %s has no leader", dc.Name, dc.Stream)
			}
			if got := 1 + len(cl.Replicas); got != n {
				return fmt.Errorf("consumer %s on %s: %d copies, want %d", dc.Name, dc.Stream, got, n)
			}
		}
		return nil
	})
}
