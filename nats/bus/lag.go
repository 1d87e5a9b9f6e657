package bus

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/souk/souk/subjects"
)

// lagTimeout bounds the JetStream calls of one scrape.
const lagTimeout = 3 * time.Second

// LagCollector exports, at each scrape, how far every durable consumer of Souk's streams is
// behind, how often it had to be redelivered, how full each stream is, and how far a stream
// that sources or mirrors another (the hub's SITE_SALES, a site's mirrors of the hub) is
// behind its origin, read from JetStream (stream info and consumer info). A consumer that is
// down or slow shows as pending messages and a still ack floor; a saga stream that reaches
// its limits refuses publishes, and the saga waits in the outboxes.
// infra/prometheus/rules.yml alerts on both. Register it once per process that has a
// JetStream connection (cmd/souk does).
type LagCollector struct {
	js jetstream.JetStream
	// streams are read at each scrape; an optional one may be missing without the scrape
	// counting as failed (SITE_SALES exists once the hub knows a site).
	streams  []string
	optional map[string]bool

	up, pending, ackPending, ackFloor, redelivered *prometheus.Desc
	msgs, maxMsgs, bytes, maxBytes, refuse         *prometheus.Desc
	sourceLag                                      *prometheus.Desc
}

// NewLagCollector returns the LagCollector of the hub, reading through js: every stream of
// Streams, and SITE_SALES when there is one.
func NewLagCollector(js jetstream.JetStream) *LagCollector {
	names := make([]string, 0, len(Streams)+1)
	for _, cfg := range Streams {
		names = append(names, cfg.Name)
	}
	names = append(names, subjects.StreamSiteSales)
	return newLagCollector(js, names, subjects.StreamSiteSales)
}

// NewSiteLagCollector returns the LagCollector of the edge site id, reading through js (the
// site's domain): its own streams and its mirrors of the hub's buckets.
func NewSiteLagCollector(js jetstream.JetStream, id string) *LagCollector {
	var names []string
	for _, cfg := range SiteStreams(id) {
		names = append(names, cfg.Name)
	}
	for _, cfg := range SiteBuckets() {
		if cfg.Mirror != nil {
			names = append(names, "KV_"+cfg.Bucket)
		}
	}
	return newLagCollector(js, names)
}

func newLagCollector(js jetstream.JetStream, streams []string, optional ...string) *LagCollector {
	consumer := []string{"stream", "consumer"}
	stream := []string{"stream"}
	c := &LagCollector{
		js:          js,
		streams:     streams,
		optional:    map[string]bool{},
		up:          prometheus.NewDesc("souk_jetstream_lag_up", "1 when the last scrape read every stream and consumer, 0 when JetStream did not answer.", nil, nil),
		pending:     prometheus.NewDesc("souk_jetstream_consumer_pending", "Messages of the stream the durable consumer has not been delivered yet (NumPending).", consumer, nil),
		ackPending:  prometheus.NewDesc("souk_jetstream_consumer_ack_pending", "Messages delivered to the durable consumer and not acknowledged yet (NumAckPending).", consumer, nil),
		ackFloor:    prometheus.NewDesc("souk_jetstream_consumer_ack_floor", "Stream sequence up to which the durable consumer acknowledged everything: still while it is stuck.", consumer, nil),
		redelivered: prometheus.NewDesc("souk_jetstream_consumer_redelivered", "Messages of the durable consumer delivered more than once and not yet acknowledged (NumRedelivered): failing or timing-out handlers.", consumer, nil),
		msgs:        prometheus.NewDesc("souk_jetstream_stream_messages", "Messages the stream holds.", stream, nil),
		maxMsgs:     prometheus.NewDesc("souk_jetstream_stream_max_messages", "The stream's MaxMsgs limit (0: none).", stream, nil),
		bytes:       prometheus.NewDesc("souk_jetstream_stream_bytes", "Bytes the stream holds.", stream, nil),
		maxBytes:    prometheus.NewDesc("souk_jetstream_stream_max_bytes", "The stream's MaxBytes limit (0: none).", stream, nil),
		refuse:      prometheus.NewDesc("souk_jetstream_stream_discard_new", "1 when a full stream refuses publishes (DiscardNew) rather than dropping its oldest messages.", stream, nil),
		sourceLag: prometheus.NewDesc("souk_jetstream_source_lag",
			"Messages a stream that sources or mirrors another is behind it, as last reported (source: the origin stream, @domain when in another JetStream domain).",
			[]string{"stream", "source"}, nil),
	}
	for _, name := range optional {
		c.optional[name] = true
	}
	return c
}

// Describe sends the descriptors of every metric Collect sends.
func (c *LagCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.pending, c.ackPending, c.ackFloor, c.redelivered, c.msgs, c.maxMsgs, c.bytes, c.maxBytes, c.refuse, c.sourceLag} {
		ch <- d
	}
}

// Collect reads every stream of the collector and its durable consumers (ephemeral ones,
// such as an SSE stream's, come and go and are left out). A stream JetStream does not answer
// for is left out and souk_jetstream_lag_up is 0.
func (c *LagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), lagTimeout)
	defer cancel()
	up := 1.0
	for _, name := range c.streams {
		err := c.collectStream(ctx, ch, name)
		if err != nil && !(c.optional[name] && errors.Is(err, jetstream.ErrStreamNotFound)) {
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
	for _, src := range append([]*jetstream.StreamSourceInfo{info.Mirror}, info.Sources...) {
		if src != nil {
			gauge(c.sourceLag, float64(src.Lag), name, sourceLabel(src))
		}
	}
	consumers := s.ListConsumers(ctx)
	for ci := range consumers.Info() {
		if ci.Config.Durable == "" {
			continue
		}
		gauge(c.pending, float64(ci.NumPending), name, ci.Name)
		gauge(c.ackPending, float64(ci.NumAckPending), name, ci.Name)
		gauge(c.ackFloor, float64(ci.AckFloor.Stream), name, ci.Name)
		gauge(c.redelivered, float64(ci.NumRedelivered), name, ci.Name)
	}
	return consumers.Err()
}

// sourceLabel names a source: its stream, with @domain when it is read through another
// domain's API ($JS.<domain>.API), so that the hub's sources of each site's SALES differ.
func sourceLabel(src *jetstream.StreamSourceInfo) string {
	if src.External == nil {
		return src.Name
	}
	domain := strings.TrimSuffix(strings.TrimPrefix(src.External.APIPrefix, "$JS."), ".API")
	return src.Name + "@" + domain
}
