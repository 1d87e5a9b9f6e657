package bus_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/bus"
)

// A consumer whose service is not running shows its lag: the declared inventory-orders has
// the three order.placed events pending, and ORDERS shows how full it is and that it
// refuses publishes when full.
func TestLagCollectorShowsAConsumerThatIsDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js := bare(t)
	if err := bus.EnsureStreams(ctx, js); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := js.Publish(ctx, fmt.Sprintf("souk.evt.order.placed.o%d", i), []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	// A consumer whose handler failed once is handed the message again: redelivered, and
	// not yet acknowledged.
	cons, err := js.CreateOrUpdateConsumer(ctx, "ORDERS", jetstream.ConsumerConfig{Durable: "failing", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	expect.Within(t, 30*time.Second, func() error {
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return err
		}
		for m := range batch.Messages() {
			if md, err := m.Metadata(); err == nil && md.NumDelivered > 1 {
				return nil // redelivered: left unacknowledged
			}
			_ = m.Nak()
		}
		return errors.New("no redelivery yet")
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(bus.NewLagCollector(js))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"souk_jetstream_lag_up", nil, 1},
		{"souk_jetstream_consumer_pending", map[string]string{"stream": "ORDERS", "consumer": "inventory-orders"}, 3},
		{"souk_jetstream_consumer_pending", map[string]string{"stream": "ORDERS", "consumer": "shipping-orders"}, 0},
		{"souk_jetstream_consumer_ack_floor", map[string]string{"stream": "ORDERS", "consumer": "inventory-orders"}, 0},
		{"souk_jetstream_consumer_redelivered", map[string]string{"stream": "ORDERS", "consumer": "failing"}, 1},
		{"souk_jetstream_consumer_redelivered", map[string]string{"stream": "ORDERS", "consumer": "inventory-orders"}, 0},
		{"souk_jetstream_stream_messages", map[string]string{"stream": "ORDERS"}, 3},
		{"souk_jetstream_stream_max_messages", map[string]string{"stream": "ORDERS"}, bus.SagaMaxMsgs},
		{"souk_jetstream_stream_discard_new", map[string]string{"stream": "ORDERS"}, 1},
		{"souk_jetstream_stream_discard_new", map[string]string{"stream": "DLQ"}, 0},
	} {
		if got, ok := gauge(families, c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
}

// gauge returns the value of the gauge name with labels among families.
func gauge(families []*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
					continue metrics
				}
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}
