package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/souk/souk/nats/access"
	"github.com/souk/souk/nats/bus"
	soukLog "github.com/souk/souk/platform/log"
	"github.com/souk/souk/platform/rpc"
	"github.com/souk/souk/subjects"
)

// natsAuth is who the process is to NATS, from its settings; the password file, when the
// password came from one, is read again on every reconnect (a rotation needs no restart).
func natsAuth(cfg Config) bus.Auth {
	return bus.Auth{User: cfg.NATSUser, Password: cfg.NATSPassword, PasswordFile: cfg.NATSPasswordFile,
		CA: cfg.NATSCA, Cert: cfg.NATSCert, Key: cfg.NATSKey}
}

// noSetup says why a process that connects as a NATS user creates no stream or bucket: the
// users of nats/accounts.conf may not create or change any of them (docs/decisions.md, "NATS
// accounts, users and TLS"), so with SOUK_NATS_USER set that is the job of `souk
// nats-setup`, run as admin before the services start.
func noSetup(cfg Config, log zerolog.Logger) {
	log.Info().Str("user", cfg.NATSUser).Msg("JetStream streams and buckets are left to souk nats-setup: this process connects as a NATS user")
}

// ensureJetStream creates or updates the streams, their declared consumers and the buckets,
// with SOUK_NATS_REPLICAS copies each; at an edge site (SOUK_SITE), the site's own.
func ensureJetStream(ctx context.Context, cfg Config, js jetstream.JetStream) error {
	if cfg.Site != "" {
		// A site creates none of the hub's streams: they would capture the hub's events
		// through the leaf (see nats/bus/site.go).
		return errors.Join(bus.EnsureSite(ctx, js, cfg.Site), ensureLogs(ctx, cfg, js))
	}
	replicas := bus.Replicas(cfg.NATSReplicas)
	return errors.Join(bus.EnsureBuckets(ctx, js, replicas), bus.EnsureStreams(ctx, js, replicas), ensureLogs(ctx, cfg, js, replicas))
}

// natsUsers are the NATS users of the shop (nats/accounts.conf): one per service, from its
// declaration, and the gateway, which may call every endpoint that is not internal (a
// service token's only: credentials.verify, principal.get), watch the revocations, hear
// ORDERS' events as they are published (they wake an order's event stream to its
// customer) and ask every service for its stats.
// Every user reads the live configuration (bus.BucketConfig).
func natsUsers() ([]access.User, error) {
	descs, err := descriptions()
	if err != nil {
		return nil, err
	}
	users := make([]access.User, 0, len(descs)+1)
	// Every process follows the live configuration (platform/liveconfig).
	gw := access.User{Name: "gateway", Reads: []string{bus.BucketRevocations, bus.BucketConfig}, Hears: []string{subjects.StreamOrders}, Discovers: true}
	for _, d := range descs {
		u := access.User{Name: d.Name, Calls: d.Calls, Publishes: d.Publishes, Consumes: d.Consumes,
			Buckets: d.Buckets, Reads: append(d.Reads, bus.BucketConfig), Follows: d.Follows, Streams: d.Streams, SiteReads: d.SiteReads}
		u.Serves = append(u.Serves, rpc.LoopsSubject(d.Name)) // rpc.Serve adds it, for operators
		for subject, rule := range d.Endpoints {
			u.Serves = append(u.Serves, subject)
			if rule != string(subjects.PermInternal) {
				gw.Calls = append(gw.Calls, subject)
			}
		}
		users = append(users, u)
	}
	return append(users, gw), nil
}

// natsAccounts prints nats/accounts.conf: the users of natsUsers with their permissions.
func natsAccounts(w io.Writer) error {
	users, err := natsUsers()
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, access.Conf(users))
	return err
}

// natsSetupCommand creates or updates the streams, their declared consumers and the KV
// buckets on the NATS server of NATS_URL, as SOUK_NATS_USER (admin), and exits: the step
// before the services start when they connect as users that may not (docs/operations.md).
func natsSetupCommand(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, _, err := parseConfig("souk nats-setup", args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if cfg.NATSURL == "" {
		return errors.New("souk nats-setup needs NATS_URL: the server to set up")
	}
	log, err := soukLog.New(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	js, closeNC, err := commandJetStream(cfg, "souk nats-setup", stderr)
	if err != nil {
		return err
	}
	defer closeNC()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := ensureJetStream(ctx, cfg, js); err != nil {
		return err
	}
	log.Info().Int("streams", len(bus.Streams)).Int("buckets", len(bus.Buckets)).Msg("JetStream set up")
	return nil
}
