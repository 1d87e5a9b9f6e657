package canary

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/souk/souk/platform/metrics"
)

// Applier keeps the canary shares of the live configuration applied to an embedded NATS
// server's account: the process that holds the server runs it, and each change of a key
// canary.<service> is in force for the next request published there. A value that is not a
// share is refused and the last good share kept. It is safe for concurrent use.
type Applier struct {
	acc   *server.Account
	log   zerolog.Logger
	gauge *prometheus.GaugeVec

	mu     sync.Mutex
	shares map[string]int
}

// NewApplier returns the Applier of acc (the embedded server's account Souk's connections
// use: server.Server.GlobalAccount when it configures none). It measures the shares in force
// as souk_canary_share_percent{service} on reg (nil: not measured).
func NewApplier(acc *server.Account, log zerolog.Logger, reg prometheus.Registerer) *Applier {
	gauge := metrics.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "souk_canary_share_percent",
		Help: "Share of a service's requests the NATS server sends to its canary instances (canary.<service> in the config bucket), as applied.",
	}, []string{"service"}))
	return &Applier{acc: acc, log: log.With().Str("component", "canary").Logger(), gauge: gauge, shares: map[string]int{}}
}

// Set applies the value of the configuration key canary.<service>: an integer percent. A bad
// value is refused (the error says why) and the share in force stays.
func (a *Applier) Set(service, value string) error {
	p, err := ParseShare(value)
	if err == nil {
		err = a.apply(service, p)
	}
	if err != nil {
		a.log.Warn().Err(err).Str("service", service).Msg("canary share refused; the last good share stays")
		return err
	}
	return nil
}

// Delete applies the removal of the key canary.<service>: no canary share, every request to
// the stable instances.
func (a *Applier) Delete(service string) error { return a.apply(service, 0) }

// SetKey is Set for a configuration key (canary.<service>); false when key is not a canary
// share, which is left alone.
func (a *Applier) SetKey(key, value string) (bool, error) {
	service, ok := strings.CutPrefix(key, KeyPrefix)
	if !ok {
		return false, nil
	}
	return true, a.Set(service, value)
}

// apply maps service's requests with share p and records it.
func (a *Applier) apply(service string, p int) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := Apply(a.acc, service, p); err != nil {
		return err
	}
	old, had := a.shares[service]
	a.shares[service] = p
	a.gauge.WithLabelValues(service).Set(float64(p))
	if !had || old != p {
		a.log.Info().Str("service", service).Int("percent", p).Int("was", old).
			Str("canary_subjects", fmt.Sprintf("%d%% of souk.%s.v1.> to souk.%s.canary.v1.>", p, service, service)).Msg("canary share applied")
	}
	return nil
}

// Shares returns the shares in force, by service; a service never set is absent (0).
func (a *Applier) Shares() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.shares)
}

// Watch applies every canary share of kv (the config bucket) as it is now and as it changes,
// until ctx ends (nil then); an error when the watch cannot start or ends early, for a
// supervisor to restart it.
func (a *Applier) Watch(ctx context.Context, kv jetstream.KeyValue) error {
	w, err := kv.Watch(ctx, KeyPrefix+"*")
	if err != nil {
		return fmt.Errorf("canary: watch %s*: %w", KeyPrefix, err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("canary: the watch of the config bucket ended")
			}
			if e == nil {
				continue // the bucket's current values are all in
			}
			if e.Operation() != jetstream.KeyValuePut {
				_ = a.Delete(strings.TrimPrefix(e.Key(), KeyPrefix))
				continue
			}
			_, _ = a.SetKey(e.Key(), string(e.Value())) // a refusal is logged; the last share stays
		}
	}
}
