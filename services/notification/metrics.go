package notification

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/souk/souk/platform/metrics"
	"github.com/souk/souk/subjects"
)

// The notification service's business counters: what became of each delivery attempt, by
// channel. An attempt counts once, after the transaction that recorded it committed and only
// if it recorded it (the attempts table's key, delivery and attempt number): an attempt whose
// lease ran out and was taken by another instance meanwhile is recorded by one of them.

// Outcomes of an attempt. Each attempt is exactly one of them.
const (
	// outcomeSent: the email went out (email's label).
	outcomeSent = "sent"
	// outcomeDelivered: the receiver answered 2xx (webhook's label).
	outcomeDelivered = "delivered"
	// outcomeFailed: the attempt failed; the delivery is tried again later.
	outcomeFailed = "failed"
	// outcomeRefused: the egress rule refused the webhook's address (a private one); tried
	// again later, as DNS may change.
	outcomeRefused = "refused"
	// outcomeDead: the delivery was given up (a permanent failure, or its last attempt).
	outcomeDead = "dead"
)

var (
	emailOutcomes   = []string{outcomeSent, outcomeFailed, outcomeDead}
	webhookOutcomes = []string{outcomeDelivered, outcomeFailed, outcomeRefused, outcomeDead}
)

// counts are the worker's counters.
type counts struct {
	// attempts is the older, operational series: attempts by channel and resulting status.
	attempts         *prometheus.CounterVec
	emails, webhooks *prometheus.CounterVec
}

// newCounts registers the counters on reg, every outcome at 0.
func newCounts(reg prometheus.Registerer) *counts {
	c := &counts{
		attempts: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "souk_notification_attempts_total", Help: "Delivery attempts by channel and resulting status (sent, pending: to be retried, failed: given up).",
		}, []string{"channel", "status"})),
		emails: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "souk_notification_emails_total", Help: "Email attempts by outcome: sent, failed (tried again later), dead (given up).",
		}, []string{"outcome"})),
		webhooks: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "souk_notification_webhooks_total", Help: "Webhook attempts by outcome: delivered, failed (tried again later), refused (private address, tried again later), dead (given up).",
		}, []string{"outcome"})),
	}
	for _, o := range emailOutcomes {
		c.emails.WithLabelValues(o)
	}
	for _, o := range webhookOutcomes {
		c.webhooks.WithLabelValues(o)
	}
	return c
}

// count counts one recorded attempt of d that led to status.
func (c *counts) count(d Delivery, o outcome, status string) {
	c.attempts.WithLabelValues(d.Channel, status).Inc()
	var f failure
	switch {
	case d.Channel == subjects.ChannelEmail && status == subjects.DeliverySent:
		c.emails.WithLabelValues(outcomeSent).Inc()
	case d.Channel == subjects.ChannelWebhook && status == subjects.DeliverySent:
		c.webhooks.WithLabelValues(outcomeDelivered).Inc()
	case status == subjects.DeliveryFailed:
		c.by(d.Channel).WithLabelValues(outcomeDead).Inc()
	case d.Channel == subjects.ChannelWebhook && errors.As(o.err, &f) && f.reason == reasonPrivate:
		c.webhooks.WithLabelValues(outcomeRefused).Inc()
	default:
		c.by(d.Channel).WithLabelValues(outcomeFailed).Inc()
	}
}

// by is the counter of channel (the email one for any channel but webhook: a delivery of an
// unknown channel is given up at once, and counts as a dead email).
func (c *counts) by(channel string) *prometheus.CounterVec {
	if channel == subjects.ChannelWebhook {
		return c.webhooks
	}
	return c.emails
}
