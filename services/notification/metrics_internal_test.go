package notification

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/souk/souk/subjects"
)

// An attempt counts as exactly one outcome of its channel: a webhook refused by the egress
// rule and retried is refused, any delivery given up is dead, whatever its last failure.
func TestAttemptOutcomes(t *testing.T) {
	c := newCounts(prometheus.NewRegistry())
	email, hook := Delivery{Channel: subjects.ChannelEmail}, Delivery{Channel: subjects.ChannelWebhook}
	private := outcome{err: failure{reason: reasonPrivate, cause: errPrivate}}
	c.count(hook, private, subjects.DeliveryPending)
	c.count(hook, private, subjects.DeliveryFailed)
	c.count(hook, outcome{err: failure{reason: "http 500"}}, subjects.DeliveryPending)
	c.count(email, outcome{err: permanent(errors.New("template data"))}, subjects.DeliveryFailed)
	c.count(email, outcome{}, subjects.DeliverySent)
	for _, w := range []struct {
		vec     *prometheus.CounterVec
		outcome string
		want    float64
	}{
		{c.webhooks, outcomeRefused, 1}, {c.webhooks, outcomeDead, 1}, {c.webhooks, outcomeFailed, 1}, {c.webhooks, outcomeDelivered, 0},
		{c.emails, outcomeDead, 1}, {c.emails, outcomeSent, 1}, {c.emails, outcomeFailed, 0},
	} {
		var m dto.Metric
		if err := w.vec.WithLabelValues(w.outcome).Write(&m); err != nil || m.GetCounter().GetValue() != w.want {
			t.Errorf("%s = %v (%v), want %v", w.outcome, m.GetCounter().GetValue(), err, w.want)
		}
	}
}
