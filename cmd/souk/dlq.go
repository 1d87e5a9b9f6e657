package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/platform/deadletter"
	soukLog "github.com/souk/souk/platform/log"
	"github.com/souk/souk/subjects"
)

// dlqTimeout bounds one `souk dlq` command, connecting included.
const dlqTimeout = 30 * time.Second

// dlqUsage heads `souk dlq -h`.
const dlqUsage = `souk dlq ls [-consumer NAME] [-n N]   list dead letters, oldest first
souk dlq show SEQ                      one dead letter: where and why it failed, headers, body
souk dlq replay SEQ...                 republish each on its original subject with its event id
souk dlq purge SEQ... | -consumer NAME | -all   remove dead letters`

// dlqCommand reads, replays and removes the dead letters of the DLQ stream
// (platform/deadletter), on the NATS server of NATS_URL (the embedded one's
// SOUK_NATS_LISTEN when it is empty), as the NATS user of SOUK_NATS_USER (admin: it reads
// and deletes in the DLQ and publishes on every service's event subjects).
func dlqCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	sub, args, err := subcommand("dlq", dlqUsage, "ls, show, replay or purge", args, stderr)
	if err != nil {
		return err
	}
	var consumerName string
	var n int
	var all bool
	cfg, rest, err := parseConfig("souk dlq", args, getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&consumerName, "consumer", "", "only the dead letters of this durable consumer (ls, purge)")
		fs.IntVar(&n, "n", 100, "list at most this many (ls)")
		fs.BoolVar(&all, "all", false, "remove every dead letter (purge)")
	})
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	seqs, err := dlqSeqs(sub, rest, consumerName != "" || all)
	if err != nil {
		return err
	}
	js, closeNC, err := commandJetStream(cfg, "souk-dlq", stderr)
	if err != nil {
		return err
	}
	defer closeNC()
	ctx, cancel := context.WithTimeout(ctx, dlqTimeout)
	defer cancel()
	switch sub {
	case "ls":
		return dlqList(ctx, js, consumerName, n, stdout)
	case "show":
		return dlqShow(ctx, js, seqs[0], stdout)
	case "replay":
		return dlqReplay(ctx, js, seqs, stdout)
	default: // purge
		return dlqPurge(ctx, js, seqs, consumerName, stdout)
	}
}

// subcommand splits the arguments of the command name into its subcommand (one of choices,
// "help" for -h) and the rest; none at all is an error, after usage is printed to stderr.
func subcommand(name, usage, choices string, args []string, stderr io.Writer) (string, []string, error) {
	switch {
	case len(args) == 0 || args[0] == "":
		fmt.Fprintln(stderr, usage)
		return "", nil, fmt.Errorf("%s: which one: %s?", name, choices)
	case slices.Contains(helpArgs, args[0]):
		return "help", args, nil
	}
	return args[0], args[1:], nil
}

// commandJetStream connects a command (not a service) named name to the NATS server of
// NATS_URL, or the embedded one's SOUK_NATS_LISTEN when it is empty, as the NATS user of
// SOUK_NATS_USER, and returns JetStream
// on it and the function that closes the connection.
func commandJetStream(cfg Config, name string, stderr io.Writer) (jetstream.JetStream, func(), error) {
	log, err := soukLog.New(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return nil, nil, err
	}
	url := cfg.NATSURL
	if url == "" {
		url = "nats://" + cfg.NATSListen
	}
	// A command, not a service: its own connection's comings and goings are not news.
	nc, err := bus.Connect(url, name, log.Level(zerolog.ErrorLevel), natsAuth(cfg).Options()...)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return js, nc.Close, nil
}

// dlqSeqs checks the subcommand and its positional arguments, and returns them as sequences.
func dlqSeqs(sub string, rest []string, filtered bool) ([]uint64, error) {
	switch {
	case sub == "ls" && len(rest) == 0:
	case sub == "show" && len(rest) == 1:
	case sub == "replay" && len(rest) > 0:
	case sub == "purge" && (len(rest) > 0) != filtered:
	default:
		return nil, fmt.Errorf("dlq %s: wrong arguments %q; usage:\n%s", sub, rest, dlqUsage)
	}
	seqs := make([]uint64, len(rest))
	for i, a := range rest {
		seq, err := strconv.ParseUint(a, 10, 64)
		if err != nil || seq == 0 {
			return nil, fmt.Errorf("dlq %s: %q is not a dead letter's sequence (see souk dlq ls)", sub, a)
		}
		seqs[i] = seq
	}
	return seqs, nil
}

func dlqList(ctx context.Context, js jetstream.JetStream, consumerName string, n int, out io.Writer) error {
	ls, err := deadletter.List(ctx, js, consumerName, n)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "SEQ\tDEAD-LETTERED\tCONSUMER\tSUBJECT\tEVENT ID\tERROR")
	for _, l := range ls {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", l.Seq, l.Time.UTC().Format(time.DateTime), l.Consumer,
			l.Subject, l.EventID, subjects.CutBytes(strings.ReplaceAll(l.Error, "\n", " "), 80))
	}
	return w.Flush()
}

func dlqShow(ctx context.Context, js jetstream.JetStream, seq uint64, out io.Writer) error {
	l, err := deadletter.Get(ctx, js, seq)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "dead letter:   %d, %s\nconsumer:      %s\nsubject:       %s\nstream:        %s, sequence %d\nevent id:      %s\nerror:         %s\n",
		l.Seq, l.Time.UTC().Format(time.RFC3339), l.Consumer, l.Subject, l.Stream, l.StreamSeq, l.EventID, l.Error)
	for k, vs := range l.Header {
		for _, v := range vs {
			fmt.Fprintf(out, "header:        %s: %s\n", k, v)
		}
	}
	fmt.Fprintf(out, "\n%s\n", l.Data)
	return nil
}

func dlqReplay(ctx context.Context, js jetstream.JetStream, seqs []uint64, out io.Writer) error {
	var errs []error
	for _, seq := range seqs {
		r, err := deadletter.Replay(ctx, js, seq)
		switch {
		case err != nil:
			errs = append(errs, err)
		case r.Duplicate:
			// Remembered since the original's publish or an earlier replay: now plus the
			// window is a bound either way.
			errs = append(errs, fmt.Errorf("dead letter %d: dropped as a duplicate: %s still remembers event id %s "+
				"(its duplicate window is %s, since the event or an earlier replay of it was published); "+
				"nothing was delivered; replay again by %s at the latest",
				seq, r.Stream, r.Letter.EventID, r.Window, time.Now().Add(r.Window).UTC().Format(time.DateTime+" MST")))
		default:
			fmt.Fprintf(out, "dead letter %d: replayed on %s, stored in %s as %d; remove it (souk dlq purge %d) once %s has applied it\n",
				seq, r.Letter.Subject, r.Stream, r.Seq, seq, r.Letter.Consumer)
		}
	}
	return errors.Join(errs...)
}

func dlqPurge(ctx context.Context, js jetstream.JetStream, seqs []uint64, consumerName string, out io.Writer) error {
	if len(seqs) == 0 {
		if err := deadletter.Purge(ctx, js, consumerName); err != nil {
			return err
		}
		fmt.Fprintln(out, "purged")
		return nil
	}
	var errs []error
	for _, seq := range seqs {
		if err := deadletter.Delete(ctx, js, seq); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(out, "dead letter %d: removed\n", seq)
	}
	return errors.Join(errs...)
}
