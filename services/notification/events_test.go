package notification

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/platform/consumer"
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

// A batch of several order events writes webhook deliveries for the types an endpoint
// subscribes to when the batch runs, none for the other types, and its emails whatever
// the endpoints. The subscribed types are read by every batch, not kept: an endpoint
// created after the first batches gets the events of the batches after it.
func TestABatchFansOutToTheTypesSubscribedWhenItRuns(t *testing.T) {
	e := newEnv(t)
	endpoint := func(events ...string) string {
		var id string
		if err := e.db.QueryRow(e.ctx, `insert into notify.webhook_endpoints (url, events, secret)
			values ('https://hooks.example.org/souk', $1, 'a test secret') returning id::text`, events).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	placed := func(user string) string {
		ev := subjects.OrderPlaced{EventID: newID(), OccurredAt: time.Now().UTC(), OrderID: newID(), UserID: user,
			Status: subjects.OrderStatusPending, Total: subjects.Money{Amount: 1000, Currency: "EUR"}}
		e.publish(subjects.EvtOrderPlaced.Subject(ev.OrderID), ev.EventID, ev)
		return ev.EventID
	}
	var mu sync.Mutex
	var sizes []int
	// The service's consumer of the order events, its batches' sizes noted on their way in.
	orders := func() *consumer.Consumer {
		i := slices.IndexFunc(consumers(nil), func(c *consumer.Consumer) bool { return c.Name == "notify-orders" })
		c := consumers(nil)[i]
		prepare := c.Prepare
		c.Prepare = func(ctx context.Context, tx pgx.Tx, batch []consumer.Msg) (context.Context, error) {
			mu.Lock()
			sizes = append(sizes, len(batch))
			mu.Unlock()
			return prepare(ctx, tx, batch)
		}
		return c
	}
	// deliveries waits until the events have their deliveries, and returns the webhook
	// deliveries' endpoints and the emails' count by event.
	deliveries := func(events []string, want int) (hooks map[string][]string, emails map[string]int) {
		t.Helper()
		expect.Within(t, 20*time.Second, func() error {
			hooks, emails = map[string][]string{}, map[string]int{}
			rows, err := e.db.Query(e.ctx, `select event_id, channel, recipient from notify.deliveries where event_id = any($1) order by recipient`, events)
			if err != nil {
				return err
			}
			defer rows.Close()
			n := 0
			for rows.Next() {
				var id, channel, recipient string
				if err := rows.Scan(&id, &channel, &recipient); err != nil {
					return err
				}
				n++
				if channel == subjects.ChannelWebhook {
					hooks[id] = append(hooks[id], recipient)
				} else {
					emails[id]++
				}
			}
			if err := rows.Err(); err != nil {
				return err
			}
			if n != want {
				return fmt.Errorf("%d deliveries of %d events, want %d", n, len(events), want)
			}
			return nil
		})
		return hooks, emails
	}

	paidHook := endpoint("order.paid")
	user := newID()
	var first, paid []string
	for range 8 { // published before the consumer runs: its first batches hold several
		first = append(first, placed(user))
		ev := e.paid(user, 4200)
		first, paid = append(first, ev.EventID), append(paid, ev.EventID)
	}
	run := e.run(orders())
	// Each order.paid: a webhook delivery and the confirmation email; order.placed: nothing.
	hooks, emails := deliveries(first, 16)
	for _, id := range paid {
		if !slices.Equal(hooks[id], []string{paidHook}) || emails[id] != 1 {
			t.Errorf("order.paid %s: webhooks to %v and %d emails, want one to %s and one email", id, hooks[id], emails[id], paidHook)
		}
	}
	if err := run.Stop(); err != nil {
		t.Fatal(err)
	}

	placedHook := endpoint("order.placed", "order.paid")
	var second, placedNow, paidNow []string
	for range 8 {
		id := placed(user)
		ev := e.paid(user, 4200)
		second, placedNow, paidNow = append(second, id, ev.EventID), append(placedNow, id), append(paidNow, ev.EventID)
	}
	e.run(orders())
	// order.placed now goes to the new endpoint; order.paid to both (ids in creation order).
	hooks, _ = deliveries(second, 8+8*3)
	for _, id := range placedNow {
		if !slices.Equal(hooks[id], []string{placedHook}) {
			t.Errorf("order.placed %s after the endpoint was created: webhooks to %v, want one to %s", id, hooks[id], placedHook)
		}
	}
	for _, id := range paidNow {
		if !slices.Equal(hooks[id], []string{paidHook, placedHook}) {
			t.Errorf("order.paid %s after the endpoint was created: webhooks to %v, want %s and %s", id, hooks[id], paidHook, placedHook)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.ContainsFunc(sizes, func(n int) bool { return n > 1 }) {
		t.Errorf("batches of %v events: want one of several, the case the types are read for", sizes)
	}
}
