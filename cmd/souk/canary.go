package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/platform/canary"
	"github.com/souk/souk/platform/liveconfig"
)

// runCanary keeps the canary shares of the live configuration (canary.<service>) applied to
// the process's embedded NATS server until ctx ends: every service's, whichever run here,
// since the server maps what any client publishes on it. An edge site applies none: its site
// service answers the catalog's subjects itself, and a share sent to the hub's canary would
// fail while the site is cut off.
func runCanary(ctx context.Context, e *env) error {
	canary.NewApplier(e.server.GlobalAccount(), e.log, e.registry).Follow(e.live, serviceNames())
	<-ctx.Done()
	return nil
}

// canaryCommand prints the canary shares as a nats-server mappings block, for the servers
// of a cluster (docs/operations.md): the shares given as <service>=<percent>, or else those of
// the config bucket at NATS_URL.
func canaryCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, rest, err := parseConfig("souk canary", args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	shares := map[string]int{}
	for _, name := range serviceNames() {
		shares[name] = 0
	}
	if len(rest) == 0 {
		if err := bucketShares(ctx, cfg, shares); err != nil {
			return err
		}
	}
	for _, a := range rest {
		name, value, ok := strings.Cut(a, "=")
		if _, known := shares[name]; !ok || !known {
			return fmt.Errorf("%q: want <service>=<percent>, a service of %s", a, strings.Join(serviceNames(), ", "))
		}
		if shares[name], err = liveconfig.Canary(name).Parse(value); err != nil {
			return fmt.Errorf("%s: %w", a, err)
		}
	}
	block, err := canary.Config(shares)
	if err != nil {
		return err
	}
	_, err = io.WriteString(stdout, block)
	return err
}

// bucketShares reads the canary keys of the config bucket at cfg's NATS_URL into shares.
func bucketShares(ctx context.Context, cfg Config, shares map[string]int) error {
	if cfg.NATSURL == "" {
		return errors.New("souk canary: give the shares (catalog=10 order=0) or NATS_URL, whose config bucket holds them")
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	js, closeNC, err := commandJetStream(cfg, "souk-canary", io.Discard)
	if err != nil {
		return err
	}
	defer closeNC()
	kv, err := js.KeyValue(ctx, bus.BucketConfig)
	if err != nil {
		return fmt.Errorf("config bucket: %w", err)
	}
	for name := range shares {
		key := liveconfig.Canary(name)
		e, err := kv.Get(ctx, key.Name())
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", key.Name(), err)
		}
		if shares[name], err = key.Parse(string(e.Value())); err != nil {
			return fmt.Errorf("%s in the config bucket: %w (put a good value first)", key.Name(), err)
		}
	}
	return nil
}
