package bus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

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
