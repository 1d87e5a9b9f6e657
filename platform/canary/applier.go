package canary

import (
	"maps"
	"sync"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/souk/souk/platform/liveconfig"
	"github.com/souk/souk/platform/metrics"
	"github.com/souk/souk/subjects"
)

// Applier keeps the canary shares of the live configuration (the keys canary.<service> of
// the config bucket, liveconfig.Canary) applied to an embedded NATS server's account: the
// process that holds the server runs it, and each change is in force for the next request
// published there. A value liveconfig refuses (not a whole number from 0 to 100) leaves the
// share in force. It is safe for concurrent use.
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
		Help: "Share of a service's requests the embedded NATS server sends to its canary instances (canary.<service> in the config bucket), as applied.",
	}, []string{"service"}))
	return &Applier{acc: acc, log: log.With().Str("component", "canary").Logger(), gauge: gauge, shares: map[string]int{}}
}

// Follow applies the canary share of each of services from live, now and on every change.
func (a *Applier) Follow(live *liveconfig.Config, services []string) {
	for _, svc := range services {
		share := liveconfig.Canary(svc).Bind(live, 0)
		// sync reads the share under a.mu, so whichever of the first sync and a change
		// applies last, it applies the value in force.
		sync := func(int) {
			a.mu.Lock()
			defer a.mu.Unlock()
			if err := a.apply(svc, share.Load()); err != nil {
				a.log.Error().Err(err).Str("service", svc).Msg("canary share not applied")
			}
		}
		share.OnChange(sync)
		sync(0)
	}
}

// apply maps svc's requests with share p and records it. Caller holds a.mu.
func (a *Applier) apply(svc string, p int) error {
	if err := Apply(a.acc, svc, p); err != nil {
		return err
	}
	old, had := a.shares[svc]
	a.shares[svc] = p
	a.gauge.WithLabelValues(svc).Set(float64(p))
	if had && old == p {
		return nil
	}
	ev := a.log.Info()
	if !had && p == 0 {
		ev = a.log.Debug() // the quiet start: no canary
	}
	ev.Str("service", svc).Int("percent", p).Int("was", old).Str("from", subjects.Requests(svc)).
		Str("to", subjects.CanaryRequests(svc)).Msg("canary share applied")
	return nil
}

// Shares returns the shares in force, by service.
func (a *Applier) Shares() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.shares)
}
