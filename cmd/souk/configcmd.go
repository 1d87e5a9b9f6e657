package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/platform/liveconfig"
)

// configTimeout bounds one `souk config` command, connecting included.
const configTimeout = 15 * time.Second

// configUsage heads `souk config -h`.
const configUsage = `souk config ls                 every key: its value in the bucket, or the default, and whether it is refused
souk config get KEY            one key
souk config set KEY VALUE      check VALUE against the key's declaration, then put it: every process applies it within a second
souk config rm KEY             delete the key: every process returns to its default (its setting)`

// configCommand reads and changes the live configuration (platform/liveconfig) in the
// bucket bus.BucketConfig, on the NATS server of NATS_URL (the embedded one's
// SOUK_NATS_LISTEN when it is empty). set refuses a value the processes would refuse, so
// that a typo is caught at the door; `nats kv put` skips that check, and the processes
// refuse the value themselves.
func configCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	sub, args, err := subcommand("config", configUsage, "ls, get, set or rm", args, stderr)
	if err != nil {
		return err
	}
	cfg, rest, err := parseConfig("souk config", args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	key, err := configArgs(sub, rest)
	if err != nil {
		return err
	}
	js, closeNC, err := commandJetStream(cfg, "souk-config", stderr)
	if err != nil {
		return err
	}
	defer closeNC()
	ctx, cancel := context.WithTimeout(ctx, configTimeout)
	defer cancel()
	kv, err := js.KeyValue(ctx, bus.BucketConfig)
	if err != nil {
		return fmt.Errorf("config bucket: %w", err)
	}
	switch sub {
	case "ls":
		return configList(ctx, kv, stdout)
	case "get":
		return configGet(ctx, kv, key, stdout)
	case "set":
		if _, err := kv.PutString(ctx, key.Name(), rest[1]); err != nil {
			return fmt.Errorf("put %s: %w", key.Name(), err)
		}
		fmt.Fprintf(stdout, "%s = %s: every process applies it within a second\n", key.Name(), strings.TrimSpace(rest[1]))
		return nil
	default: // rm
		if err := kv.Delete(ctx, key.Name()); err != nil {
			return fmt.Errorf("delete %s: %w", key.Name(), err)
		}
		fmt.Fprintf(stdout, "%s deleted: every process returns to its default\n", key.Name())
		return nil
	}
}

// configArgs checks the subcommand and its arguments, and returns the key named (nil for
// ls). A value for set is checked against the key here, before anything is connected.
func configArgs(sub string, rest []string) (liveconfig.Declared, error) {
	switch {
	case sub == "ls" && len(rest) == 0:
		return nil, nil
	case (sub == "get" || sub == "rm") && len(rest) == 1, sub == "set" && len(rest) == 2:
	default:
		return nil, fmt.Errorf("config: want one of\n%s", configUsage)
	}
	key, ok := liveconfig.Lookup(rest[0])
	if !ok {
		return nil, fmt.Errorf("config: no key %q; `souk config ls` lists them", rest[0])
	}
	if sub == "set" {
		if err := key.Check(rest[1]); err != nil {
			return nil, fmt.Errorf("config: %s: %w; nothing was put", key.Name(), err)
		}
	}
	return key, nil
}

// configList prints every declared key and every canary key in the bucket.
func configList(ctx context.Context, kv jetstream.KeyValue, w io.Writer) error {
	keys := liveconfig.Keys()
	names, err := kv.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("list config keys: %w", err)
	}
	for name := range names.Keys() {
		if k, ok := liveconfig.Lookup(name); ok && !slices.ContainsFunc(keys, func(d liveconfig.Declared) bool { return d.Name() == name }) {
			keys = append(keys, k)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tVALUE\tSTATE")
	for _, k := range keys {
		if strings.Contains(k.Name(), "<") {
			continue // the family line of the canary keys: its members are listed
		}
		value, state, err := configState(ctx, kv, k)
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", k.Name(), value, state)
	}
	return tw.Flush()
}

// configGet prints one key, what a valid value is, and what it changes.
func configGet(ctx context.Context, kv jetstream.KeyValue, k liveconfig.Declared, w io.Writer) error {
	value, state, err := configState(ctx, kv, k)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s = %s (%s)\n  a %s: %s\n", k.Name(), value, state, k.Kind(), k.Help())
	return nil
}

// configState is k's value in the bucket and what the processes make of it: in force,
// refused (and why), or not set (the default, and the setting that gives it).
func configState(ctx context.Context, kv jetstream.KeyValue, k liveconfig.Declared) (value, state string, err error) {
	def := "the default"
	if k.Env() != "" {
		def = "the default, from " + k.Env()
	}
	e, err := kv.Get(ctx, k.Name())
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return "-", def, nil
	case err != nil:
		return "", "", fmt.Errorf("get %s: %w", k.Name(), err)
	}
	value = string(e.Value())
	if cerr := k.Check(value); cerr != nil {
		return value, fmt.Sprintf("REFUSED at revision %d (%v): every process keeps its last good value", e.Revision(), cerr), nil
	}
	return value, fmt.Sprintf("in force since %s", e.Created().UTC().Format(time.RFC3339)), nil
}
