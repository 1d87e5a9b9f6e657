package bus

import (
	"context"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// StorageCollector exports, at each scrape, the JetStream storage the process's account uses
// and the limit that applies, by type (file, memory): the account's own limit, or, when the
// account has none (the embedded server's single account, a server without accounts), the
// limit the embedded server was started with. A full store refuses every publish, the
// outboxes' included, so infra/prometheus alerts well before. One account info request per
// scrape ($JS.API.INFO, which every NATS user of nats/accounts.conf may send).
type StorageCollector struct {
	js jetstream.JetStream
	// server is the process's embedded server; nil when it joins another.
	server      *server.Server
	used, limit *prometheus.Desc
}

// NewStorageCollector returns a StorageCollector reading through js; ns is the process's
// embedded server, or nil.
func NewStorageCollector(js jetstream.JetStream, ns *server.Server) *StorageCollector {
	kind := []string{"type"}
	return &StorageCollector{js: js, server: ns,
		used: prometheus.NewDesc("souk_jetstream_storage_bytes", "JetStream storage the account uses, by type (file, memory).", kind, nil),
		limit: prometheus.NewDesc("souk_jetstream_storage_limit_bytes",
			"The JetStream storage limit that applies, by type: the account's, else the embedded server's; absent when neither is known (a joined server without account limits).", kind, nil),
	}
}

// Describe sends the descriptors of every metric Collect sends.
func (c *StorageCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.used
	ch <- c.limit
}

// Collect asks for the account's info; nothing is sent when JetStream does not answer (the
// lag collector's souk_jetstream_lag_up says so).
func (c *StorageCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), lagTimeout)
	defer cancel()
	info, err := c.js.AccountInfo(ctx)
	if err != nil {
		return
	}
	fileLimit, memLimit := info.Limits.MaxStore, info.Limits.MaxMemory
	if c.server != nil {
		if cfg := c.server.JetStreamConfig(); cfg != nil {
			fileLimit, memLimit = orServer(fileLimit, cfg.MaxStore), orServer(memLimit, cfg.MaxMemory)
		}
	}
	for _, s := range []struct {
		kind  string
		used  uint64
		limit int64
	}{{"file", info.Store, fileLimit}, {"memory", info.Memory, memLimit}} {
		ch <- prometheus.MustNewConstMetric(c.used, prometheus.GaugeValue, float64(s.used), s.kind)
		if s.limit > 0 {
			ch <- prometheus.MustNewConstMetric(c.limit, prometheus.GaugeValue, float64(s.limit), s.kind)
		}
	}
}

// orServer is the account's limit, or the server's when the account has none (-1 or 0).
func orServer(account, server int64) int64 {
	if account > 0 {
		return account
	}
	return server
}
