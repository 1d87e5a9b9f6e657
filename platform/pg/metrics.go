package pg

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// sizeEvery is how often PoolCollector asks the database its size: pg_database_size stats
// every file of the database, cheap but not free, and a disk fills in hours, not seconds.
const sizeEvery = time.Minute

// sizeTimeout bounds the size query, so that a scrape during an outage (an exhausted pool,
// a database that does not answer) is late by that much at most.
const sizeTimeout = 2 * time.Second

// PoolCollector exports the process's pool (pgxpool.Stat, read at each scrape) and the size
// of its database. A process has one pool, so the series carry no pool label. Register it
// where the pool is opened (cmd/souk does).
type PoolCollector struct {
	pool                                       *pgxpool.Pool
	conns, maxConns, acquires, empty, canceled *prometheus.Desc
	wait, size                                 *prometheus.Desc
	mu                                         sync.Mutex
	sizeAt                                     time.Time // last time the size was asked
	sizeBytes                                  float64   // last size read; -1 before the first
}

// NewPoolCollector returns a PoolCollector of pool.
func NewPoolCollector(pool *pgxpool.Pool) *PoolCollector {
	return &PoolCollector{
		pool:      pool,
		conns:     prometheus.NewDesc("souk_pg_pool_connections", "Connections of the PostgreSQL pool by state: acquired (in use), idle, constructing.", []string{"state"}, nil),
		maxConns:  prometheus.NewDesc("souk_pg_pool_max_connections", "The most connections the PostgreSQL pool opens (pool_max_conns).", nil, nil),
		acquires:  prometheus.NewDesc("souk_pg_pool_acquires_total", "Connections acquired from the PostgreSQL pool.", nil, nil),
		empty:     prometheus.NewDesc("souk_pg_pool_empty_acquires_total", "Acquires that found no idle connection and waited for one to be opened or released.", nil, nil),
		canceled:  prometheus.NewDesc("souk_pg_pool_canceled_acquires_total", "Acquires given up (their context ended) before a connection was free: the pool is too small or held.", nil, nil),
		wait:      prometheus.NewDesc("souk_pg_pool_acquire_wait_seconds_total", "Time spent waiting for a connection of the PostgreSQL pool, the successful acquires added up (given-up ones count in souk_pg_pool_canceled_acquires_total).", nil, nil),
		size:      prometheus.NewDesc("souk_pg_database_size_bytes", "Size of the database on disk (pg_database_size), read at most once a minute.", nil, nil),
		sizeBytes: -1,
	}
}

// Describe sends the descriptors of every metric Collect sends.
func (c *PoolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.conns, c.maxConns, c.acquires, c.empty, c.canceled, c.wait, c.size} {
		ch <- d
	}
}

// Collect reads the pool's statistics, and the database's size when it is due; the size is
// left out until it was read once.
func (c *PoolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	metric := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, t, v, labels...)
	}
	metric(c.conns, prometheus.GaugeValue, float64(s.AcquiredConns()), "acquired")
	metric(c.conns, prometheus.GaugeValue, float64(s.IdleConns()), "idle")
	metric(c.conns, prometheus.GaugeValue, float64(s.ConstructingConns()), "constructing")
	metric(c.maxConns, prometheus.GaugeValue, float64(s.MaxConns()))
	metric(c.acquires, prometheus.CounterValue, float64(s.AcquireCount()))
	metric(c.empty, prometheus.CounterValue, float64(s.EmptyAcquireCount()))
	metric(c.canceled, prometheus.CounterValue, float64(s.CanceledAcquireCount()))
	metric(c.wait, prometheus.CounterValue, s.AcquireDuration().Seconds())
	if size := c.databaseSize(); size >= 0 {
		metric(c.size, prometheus.GaugeValue, size)
	}
}

// databaseSize returns the database's size, asked again when the last answer is older than
// sizeEvery; the last size read (-1: none yet) when the database does not answer. Scrapes
// at once wait for one query.
func (c *PoolCollector) databaseSize() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.sizeAt) < sizeEvery {
		return c.sizeBytes
	}
	c.sizeAt = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), sizeTimeout)
	defer cancel()
	var n int64
	if err := c.pool.QueryRow(ctx, `select pg_database_size(current_database())`).Scan(&n); err == nil {
		c.sizeBytes = float64(n)
	}
	return c.sizeBytes
}
