// Package liveconfig is Souk's live configuration: settings an operator changes while the
// shop runs, with `nats kv put config <key> <value>` (or `souk config set`), and every
// instance applies within a second, without a restart.
//
// Each key is declared once (keys.go) with its name, its parser and bounds, and the setting
// of the process that gives its default. Code that uses one binds it to the process's
// Config (Key.Bind) and reads the returned Value on every use: an atomic load. Config
// follows the bucket bus.BucketConfig with a watch (platform/kvwatch), run as a supervised
// loop. A value that does not parse or is out of bounds is refused: the last good value
// stays in force, the refusal is logged once (key, revision, reason) and counted in
// souk_config_rejected_total{key}, and `souk config get` shows it. Deleting the key returns
// to the default.
package liveconfig

import (
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/platform/kvwatch"
	"github.com/souk/souk/platform/metrics"
)

// Config is one process's view of the config bucket. Build it with New, run it (its
// embedded Follower's Run) in a supervised loop, and bind the keys the process uses. A nil
// *Config is valid: every key bound to it keeps its default (tests, tools).
type Config struct {
	// Follower watches the bucket: Run, WaitLoaded, Loaded.
	*kvwatch.Follower
	log     zerolog.Logger
	refused *prometheus.CounterVec

	mu sync.Mutex
	// bound are the keys bound in this process, by name.
	bound map[string]binding
	// last is the latest entry of every key in the bucket, bound or not, so that a key bound
	// after the bucket loaded starts from the bucket's value.
	last map[string]jetstream.KeyValueEntry
}

// binding is a bound key, whatever its type.
type binding interface {
	// take applies the bucket's entry (nil: none, the default) and returns why it was
	// refused, nil when it is in force.
	take(e jetstream.KeyValueEntry) (refused error, changed bool)
}

// New returns the Config of the bucket bus.BucketConfig on js. Refusals and changes are
// logged on log; refusals counted on reg.
func New(js jetstream.JetStream, log zerolog.Logger, reg prometheus.Registerer) *Config {
	c := &Config{log: log.With().Str("component", "liveconfig").Logger(), refused: Refusals(reg),
		bound: map[string]binding{}, last: map[string]jetstream.KeyValueEntry{}}
	c.Follower = kvwatch.New(js, bus.BucketConfig, c.apply)
	return c
}

// Refusals is the counter souk_config_rejected_total{key} on reg: the values put in the
// config bucket that the process refused (unparsable or out of bounds). Registered once per
// registry: a second call returns the first counter.
func Refusals(reg prometheus.Registerer) *prometheus.CounterVec {
	return metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "souk_config_rejected_total",
		Help: "Values put in the config bucket that this process refused (unparsable or out of bounds), by key; the last good value stayed in force.",
	}, []string{"key"}))
}

// apply takes one entry of the watch.
func (c *Config) apply(e jetstream.KeyValueEntry) {
	key := e.Key()
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.Operation() == jetstream.KeyValuePut {
		c.last[key] = e
	} else { // deleted or purged: back to the default
		delete(c.last, key)
		e = nil
	}
	if b, ok := c.bound[key]; ok {
		_, _ = b.take(e)
	}
}

// Value is the live value of one key in one process. Load is safe for concurrent use.
type Value[T comparable] struct {
	key Key[T]
	def T
	cur atomic.Pointer[T]
	// c is the process's Config; nil for a value that keeps its default.
	c *Config

	// The fields below are the watch's (taken under c.mu).
	revision uint64 // of the entry in force (or refused last); 0: the default
	refused  error  // why the bucket's latest value is not in force; nil when it is
	onChange []func(T)
}

// Bind returns the live value of k in the process whose Config is c, def while the bucket
// holds no valid value for it (the process's setting: its environment or flag). Binding a
// key twice in one process returns the first binding (the second def is ignored: both
// come from the same settings). With a nil c the value is def, forever.
func (k Key[T]) Bind(c *Config, def T) *Value[T] {
	v := &Value[T]{key: k, def: def, c: c}
	v.cur.Store(&def)
	if c == nil {
		return v
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.bound[k.name]; ok {
		if same, ok := b.(*Value[T]); ok {
			return same
		}
		panic("liveconfig: key " + k.name + " bound with two types") // a programming error
	}
	c.bound[k.name] = v
	c.refused.WithLabelValues(k.name) // at zero from the start, for rate()
	if e, ok := c.last[k.name]; ok {
		_, _ = v.take(e)
	}
	return v
}

// Load is the value in force.
func (v *Value[T]) Load() T { return *v.cur.Load() }

// Key is the key of v.
func (v *Value[T]) Key() Key[T] { return v.key }

// OnChange calls f with each new value in force, in the watch's goroutine, after Load
// returns it: for what must be rebuilt on a change (a circuit breaker), not read on each
// use. f must not block.
func (v *Value[T]) OnChange(f func(T)) {
	if v.c == nil {
		return
	}
	v.c.mu.Lock()
	defer v.c.mu.Unlock()
	v.onChange = append(v.onChange, f)
}

// take applies e (nil: the key is not in the bucket). Caller holds v.c.mu.
func (v *Value[T]) take(e jetstream.KeyValueEntry) (error, bool) {
	next, rev := v.def, uint64(0)
	if e != nil {
		rev = e.Revision()
		n, err := v.key.Parse(string(e.Value()))
		if err != nil {
			if v.revision != rev || v.refused == nil { // once per value put, not per watch restart
				v.refused, v.revision = err, rev
				v.c.refused.WithLabelValues(v.key.name).Inc()
				v.c.log.Error().Str("key", v.key.name).Uint64("revision", rev).Err(err).
					Str("in_force", v.key.Format(v.Load())).Msg("live config: value refused; the last good value stays in force")
			}
			return err, false
		}
		next = n
	}
	v.refused, v.revision = nil, rev
	if next == v.Load() {
		return nil, false
	}
	v.cur.Store(&next)
	from := "bucket"
	if e == nil {
		from = "default"
	}
	v.c.log.Info().Str("key", v.key.name).Str("value", v.key.Format(next)).Str("from", from).Msg("live config: changed")
	for _, f := range v.onChange {
		f(next)
	}
	return nil, true
}
