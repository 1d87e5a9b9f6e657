package access_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/subjects"
)

// violations collects the permissions violations the server reports to one connection.
type violations struct {
	mu   sync.Mutex
	seen []string
}

func (v *violations) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	if errors.Is(err, nats.ErrPermissionViolation) {
		v.mu.Lock()
		v.seen = append(v.seen, err.Error())
		v.mu.Unlock()
	}
}

// reported waits until the server has refused subject to the connection.
func (v *violations) reported(t *testing.T, subject string) {
	t.Helper()
	expect.Within(t, 30*time.Second, func() error {
		v.mu.Lock()
		defer v.mu.Unlock()
		for _, s := range v.seen {
			if strings.Contains(s, `"`+subject+`"`) {
				return nil
			}
		}
		return fmt.Errorf("no permissions violation on %s yet (seen %q)", subject, v.seen)
	})
}

// TestServiceRefusedOutsideItsPermissions connects services to the shipped config as their
// own users and has catalog step outside its permissions: its request to an order endpoint
// is refused and never reaches the order service's handler, while the gateway's reaches it;
// its order event is refused and never stored, while the order service's is; its
// subscription to an order endpoint and its pull from another service's consumer are
// refused.
func TestServiceRefusedOutsideItsPermissions(t *testing.T) {
	certs := natstest.NewCerts(t)
	hub := natstest.StartHub(t, certs, false)
	ns, passwords := hub.Server, hub.Passwords
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	admin, err := jetstream.New(connect(t, ns.ClientURL(), "admin", passwords["admin"], certs))
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(bus.EnsureStreams(ctx, admin), bus.EnsureBuckets(ctx, admin)); err != nil {
		t.Fatalf("setup as admin: %v", err)
	}

	order := connect(t, ns.ClientURL(), "order", passwords["order"], certs)
	var handled atomic.Int32
	if _, err := order.QueueSubscribe(subjects.OrderPlace.Subject, "q", func(m *nats.Msg) {
		handled.Add(1)
		_ = m.Respond([]byte(`{}`))
	}); err != nil {
		t.Fatal(err)
	}
	if err := order.Flush(); err != nil {
		t.Fatal(err)
	}
	gateway := connect(t, ns.ClientURL(), "gateway", passwords["gateway"], certs)
	if _, err := gateway.Request(subjects.OrderPlace.Subject, []byte(`{}`), 30*time.Second); err != nil {
		t.Fatalf("the gateway's request to %s: %v", subjects.OrderPlace.Subject, err)
	}

	var refused violations
	catalog := connect(t, ns.ClientURL(), "catalog", passwords["catalog"], certs,
		nats.ErrorHandler(refused.handler), nats.PermissionErrOnSubscribe(true))
	if err := catalog.PublishRequest(subjects.OrderPlace.Subject, catalog.NewRespInbox(), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	refused.reported(t, subjects.OrderPlace.Subject)
	// The server refused the publish before it routed it (and said so after): once the
	// violation is here, the request is gone for good.
	if err := order.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := handled.Load(); n != 1 {
		t.Fatalf("the order handler ran %d times, want 1 (the gateway's request only)", n)
	}

	event := subjects.EvtOrderPlaced.Subject("o-1")
	catalogJS, err := jetstream.New(catalog)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := catalogJS.PublishAsync(event, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	refused.reported(t, event)
	orderJS, err := jetstream.New(order)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := orderJS.Publish(ctx, event, []byte(`{}`)); err != nil {
		t.Fatalf("the order service's own event: %v", err)
	}
	stream, err := admin.Stream(ctx, subjects.StreamOrders)
	if err != nil {
		t.Fatal(err)
	}
	if msgs := stream.CachedInfo().State.Msgs; msgs != 1 {
		t.Fatalf("ORDERS holds %d messages, want 1: the order service's event, not the catalog's", msgs)
	}

	sub, err := catalog.SubscribeSync(subjects.OrderGet.Subject)
	if err != nil {
		t.Fatal(err)
	}
	expect.Within(t, 30*time.Second, func() error {
		if _, err := sub.NextMsg(100 * time.Millisecond); !errors.Is(err, nats.ErrPermissionViolation) {
			return fmt.Errorf("subscription to %s: %v, want a permissions violation", subjects.OrderGet.Subject, err)
		}
		return nil
	})

	pull := "$JS.API.CONSUMER.MSG.NEXT." + subjects.StreamOrders + ".inventory-orders"
	if err := catalog.PublishRequest(pull, catalog.NewRespInbox(), []byte(`{"batch":1}`)); err != nil {
		t.Fatal(err)
	}
	refused.reported(t, pull)
	if n := len(hub.Refused()); n != 4 {
		t.Fatalf("the server refused %d times, want 4 (a request, an event, a subscription, a pull): %q", n, hub.Refused())
	}
}
