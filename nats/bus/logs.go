package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/subjects"
)

// LogLimits bound a LOGS stream: the oldest lines leave first (DiscardOld) once either is
// reached. Logs are read by whoever comes, never acted on, so dropping the oldest is right
// here, unlike in a saga stream.
type LogLimits struct {
	// MaxBytes is the most the stream keeps (SOUK_LOG_MAX_MB).
	MaxBytes int64
	// MaxAge is how long a line is kept (SOUK_LOG_MAX_AGE).
	MaxAge time.Duration
}

// LogsStream is the LOGS stream of the instances of the JetStream domain origin: HubDomain,
// or SiteDomain(id) at an edge site. It holds their lines only (souk.log.<origin>.>); the
// hub's also holds the sites' lines, sourced (EnsureLogSources).
func LogsStream(origin string, limits LogLimits) jetstream.StreamConfig {
	return jetstream.StreamConfig{Name: subjects.StreamLogs,
		Description: "log lines of the instances of " + origin + " (souk logs); the hub's also sources each site's",
		Subjects:    []string{subjects.LogOriginFilter(origin)}, Storage: jetstream.FileStorage,
		Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardOld, MaxAge: limits.MaxAge, MaxBytes: limits.MaxBytes}
}

// EnsureLogs creates the LOGS stream of origin on js, or brings an existing one's subjects,
// limits and replicas (the Replicas option) to the code's, keeping the sites' sources that
// EnsureLogSources added: it is not in Streams, whose update would drop them (and a source
// added again starts over, copying every line twice).
func EnsureLogs(ctx context.Context, js jetstream.JetStream, origin string, limits LogLimits, opts ...EnsureOption) error {
	want := LogsStream(origin, limits)
	want.Replicas = ensureOptions(opts).replicas
	s, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = js.CreateStream(ctx, want)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return EnsureLogs(ctx, js, origin, limits, opts...) // another instance was first
		}
		if err != nil {
			return fmt.Errorf("stream %s: %w", want.Name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("stream %s: %w", want.Name, err)
	}
	cfg := s.CachedInfo().Config
	if slices.Equal(cfg.Subjects, want.Subjects) && cfg.MaxAge == want.MaxAge && cfg.MaxBytes == want.MaxBytes &&
		cfg.Replicas == want.Replicas && cfg.Discard == want.Discard {
		return nil
	}
	cfg.Description, cfg.Subjects, cfg.MaxAge, cfg.MaxBytes = want.Description, want.Subjects, want.MaxAge, want.MaxBytes
	cfg.Replicas, cfg.Discard = want.Replicas, want.Discard
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("stream %s: update limits: %w", want.Name, err)
	}
	return nil
}

// LogSource is the hub's source of the edge site id's LOGS: the site's own lines, from its
// domain, as far as the link lets them come (a cut site keeps them; they arrive when it
// heals).
func LogSource(id string) *jetstream.StreamSource {
	return &jetstream.StreamSource{Name: subjects.StreamLogs, Domain: SiteDomain(id),
		FilterSubject: subjects.LogOriginFilter(SiteDomain(id))}
}

// EnsureLogSources makes the hub's LOGS source the LOGS of each of sites it does not source
// yet. It does nothing when the hub has no LOGS (SOUK_LOG_STREAM off). It never removes a
// source. The hub knows its sites from the quotas it granted (services/inventory), as for
// SITE_SALES.
func EnsureLogSources(ctx context.Context, js jetstream.JetStream, sites []string) error {
	s, err := js.Stream(ctx, subjects.StreamLogs)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stream %s: %w", subjects.StreamLogs, err)
	}
	want := make([]*jetstream.StreamSource, 0, len(sites))
	for _, id := range sites {
		want = append(want, LogSource(id))
	}
	cfg := s.CachedInfo().Config
	if !addSources(&cfg, want) {
		return nil
	}
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("stream %s: add sources: %w", subjects.StreamLogs, err)
	}
	return nil
}

// addSources appends to cfg each of want whose domain it does not source yet, and reports
// whether it added any. The server keeps a source's domain as its API prefix.
func addSources(cfg *jetstream.StreamConfig, want []*jetstream.StreamSource) bool {
	have := map[string]bool{}
	for _, src := range cfg.Sources {
		if src.External != nil {
			have[src.External.APIPrefix] = true
		}
	}
	added := false
	for _, src := range want {
		if !have["$JS."+src.Domain+".API"] {
			cfg.Sources = append(cfg.Sources, src)
			added = true
		}
	}
	return added
}
