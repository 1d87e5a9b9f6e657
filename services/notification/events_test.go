package notification

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/subjects"
)

// Every webhook type is routed, and nothing else of ORDERS, PAYMENTS and SHIPPING: a type
// added to the contract without a route here would never reach a webhook.
func TestEveryWebhookTypeIsRouted(t *testing.T) {
	var routed []string
	for _, c := range consumers(nil) {
		for _, r := range c.On {
			if r.Kind().Stream != subjects.StreamUsers {
				routed = append(routed, typeOf(r.Kind()))
			}
		}
	}
	want := slices.Clone(subjects.WebhookEventTypes)
	slices.Sort(routed)
	slices.Sort(want)
	if !slices.Equal(routed, want) {
		t.Fatalf("routed %v,\nwebhook types %v", routed, want)
	}
}

// Each consumer takes the kinds it routes, not its whole stream: the filters the service
// runs with are its routes', even over the declaration of an older deployment.
func TestConsumersTakeTheKindsTheyRoute(t *testing.T) {
	e := newEnv(t)
	e.start(fast())
	for _, c := range consumers(nil) {
		want := c.Filters()
		if len(want) == 0 || slices.Contains(want, subjects.StreamSubjects[c.StreamName()]) {
			t.Fatalf("consumer %s routes %v: want its kinds, not the whole stream", c.Name, want)
		}
		expect.Within(t, 10*time.Second, func() error {
			cons, err := e.js.Consumer(e.ctx, c.StreamName(), c.Name)
			if err != nil {
				return err
			}
			cfg := cons.CachedInfo().Config
			got := cfg.FilterSubjects
			if cfg.FilterSubject != "" {
				got = []string{cfg.FilterSubject}
			}
			if cfg.Description == bus.DeclaredDescription || !slices.Equal(got, want) {
				return fmt.Errorf("consumer %s runs with filter %v (%q), want %v", c.Name, got, cfg.Description, want)
			}
			return nil
		})
	}
}

// An order event whose payload is not its kind's (an order_id that is a number) is a poison
// message: dead-lettered, and no delivery is written for it.
func TestAnUnreadableEventIsDeadLettered(t *testing.T) {
	e := newEnv(t)
	e.start(fast())
	order, id := newID(), newID()
	bad := json.RawMessage(`{"event_id":"` + id + `","occurred_at":"2026-12-05T10:00:00Z","order_id":42}`)
	e.publish(subjects.EvtOrderPlaced.Subject(order), id, bad)
	m := e.deadLetter(subjects.StreamOrders, "notify-orders")
	if string(m.Data) != string(bad) {
		t.Fatalf("dead letter %s: %s, want the event as published", m.Subject, m.Data)
	}
	var rows int
	if err := e.db.QueryRow(e.ctx, `select count(*) from notify.deliveries where event_id = $1`, id).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("%d deliveries (%v), want none", rows, err)
	}
}
