package bus

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// lagTimeout bounds the JetStream calls of one scrape.
const lagTimeout = 3 * time.Second

// LagCollector exports, at each scrape, how far every durable consumer of Souk's streams is
// behind and how full each stream is, read from JetStream (stream info and consumer info).
// A consumer that is down or slow shows as pending messages and a still ack floor; a saga
// stream that reaches its limits refuses publishes, and the saga waits in the outboxes.
// infra/prometheus/rules.yml alerts on both. Register it once per process that has a
// JetStream connection (cmd/souk does).
type LagCollector struct {
	js                                     jetstream.JetStream
	up, pending, ackPending, ackFloor      *prometheus.Desc
	msgs, maxMsgs, bytes, maxBytes, refuse *prometheus.Desc
}

// NewLagCollector returns a LagCollector reading through js.
func NewLagCollector(js jetstream.JetStream) *LagCollector {
	consumer := []string{"stream", "consumer"}
	stream := []string{"stream"}
	return &LagCollector{
		js:         js,
		up:         prometheus.NewDesc("souk_jetstream_lag_up", "1 when the last scrape read every stream and consumer, 0 when JetStream did not answer.", nil, nil),
		pending:    prometheus.NewDesc("souk_jetstream_consumer_pending", "Messages of the stream the durable consumer has not been delivered yet (NumPending).", consumer, nil),
		ackPending: prometheus.NewDesc("souk_jetstream_consumer_ack_pending", "Messages delivered to the durable consumer and not acknowledged yet (NumAckPending).", consumer, nil),
		ackFloor:   prometheus.NewDesc("souk_jetstream_consumer_ack_floor", "Stream sequence up to which the durable consumer acknowledged everything: still while it is stuck.", consumer, nil),
		msgs:       prometheus.NewDesc("souk_jetstream_stream_messages", "Messages the stream holds.", stream, nil),
		maxMsgs:    prometheus.NewDesc("souk_jetstream_stream_max_messages", "The stream's MaxMsgs limit (0: none).", stream, nil),
		bytes:      prometheus.NewDesc("souk_jetstream_stream_bytes", "Bytes the stream holds.", stream, nil),
		maxBytes:   prometheus.NewDesc("souk_jetstream_stream_max_bytes", "The stream's MaxBytes limit (0: none).", stream, nil),
		refuse:     prometheus.NewDesc("souk_jetstream_stream_discard_new", "1 when a full stream refuses publishes (DiscardNew) rather than dropping its oldest messages.", stream, nil),
	}
}

// Describe sends the descriptors of every metric Collect sends.
func (c *LagCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.pending, c.ackPending, c.ackFloor, c.msgs, c.maxMsgs, c.bytes, c.maxBytes, c.refuse} {
		ch <- d
	}
}

// Collect reads every stream of Streams and its durable consumers (ephemeral ones, such as
// an SSE stream's, come and go and are left out). A stream JetStream does not answer for
// is left out and souk_jetstream_lag_up is 0.
func (c *LagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), lagTimeout)
	defer cancel()
	up := 1.0
	for _, cfg := range Streams {
		if err := c.collectStream(ctx, ch, cfg.Name); err != nil {
			up = 0
		}
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up)
}

func (c *LagCollector) collectStream(ctx context.Context, ch chan<- prometheus.Metric, name string) error {
	s, err := c.js.Stream(ctx, name)
	if err != nil {
		return err
	}
	info := s.CachedInfo()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(c.msgs, float64(info.State.Msgs), name)
	gauge(c.maxMsgs, float64(max(info.Config.MaxMsgs, 0)), name)
	gauge(c.bytes, float64(info.State.Bytes), name)
	gauge(c.maxBytes, float64(max(info.Config.MaxBytes, 0)), name)
	refuse := 0.0
	if info.Config.Discard == jetstream.DiscardNew {
		refuse = 1
	}
	gauge(c.refuse, refuse, name)
	consumers := s.ListConsumers(ctx)
	for ci := range consumers.Info() {
		if ci.Config.Durable == "" {
			continue
		}
		gauge(c.pending, float64(ci.NumPending), name, ci.Name)
		gauge(c.ackPending, float64(ci.NumAckPending), name, ci.Name)
		gauge(c.ackFloor, float64(ci.AckFloor.Stream), name, ci.Name)
	}
	return consumers.Err()
}
