// Package deadletter is the operator's side of the DLQ stream that platform/consumer fills:
// reading dead letters, replaying one onto its original subject once its cause is fixed,
// and removing them. `souk dlq` is its command line.
//
// A replay republishes the original message (its body and its own headers) on the subject
// it was first published on, into the stream it was consumed from, with its event id as
// the Nats-Msg-Id. Every consumer of that subject sees it again: those that applied it
// find their processed row and acknowledge it without running the handler; the one that
// dead-lettered it (whose processed row was rolled back with the failure) applies it now.
// So a replay applies an event at most once, however often it is replayed.
//
// The stream remembers each Nats-Msg-Id for its duplicate window (bus.DuplicateWindow):
// within it, a replay is dropped as a duplicate of the original and Replay reports so;
// replay again once the window has passed.
package deadletter

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/subjects"
)

// Letter is one dead letter: the original message and where and why it failed.
type Letter struct {
	// Seq is the letter's sequence in the DLQ stream: what Get, Replay and Delete take.
	Seq uint64
	// Time is when it was dead-lettered.
	Time time.Time
	// Subject is the subject the original was published on.
	Subject string
	// Stream and StreamSeq are where the original was stored.
	Stream    string
	StreamSeq uint64
	// Consumer is the durable consumer that gave up on it.
	Consumer string
	// EventID is the original's event id (its Nats-Msg-Id).
	EventID string
	// Error is the handler's last error (at most 1 KiB).
	Error string
	// Header is the original's own headers, without the dead letter's.
	Header nats.Header
	// Data is the original's body.
	Data []byte
}

// ErrNotLetter is returned for a DLQ message that lacks the headers platform/consumer
// writes (published there by hand): it cannot be replayed.
var ErrNotLetter = errors.New("not a dead letter written by platform/consumer")

// dlqHeaders are the headers a dead letter carries beside the original's.
var dlqHeaders = []string{consumer.DLQError, consumer.DLQSubject, consumer.DLQStream,
	consumer.DLQSequence, consumer.DLQConsumer, consumer.DLQEventID}

// List returns at most limit dead letters from the oldest on, those of one durable
// consumer when consumerName is not empty.
func List(ctx context.Context, js jetstream.JetStream, consumerName string, limit int) ([]Letter, error) {
	s, err := js.Stream(ctx, subjects.StreamDLQ)
	if err != nil {
		return nil, fmt.Errorf("DLQ stream: %w", err)
	}
	filter := subjects.DLQPrefix + ".>"
	if consumerName != "" {
		filter = subjects.DLQPrefix + ".*." + consumerName
	}
	var out []Letter
	for seq := uint64(1); len(out) < limit; {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return out, fmt.Errorf("read the DLQ from %d: %w", seq, err)
		}
		out = append(out, letter(m))
		seq = m.Sequence + 1
	}
	return out, nil
}

// Get returns the dead letter at seq.
func Get(ctx context.Context, js jetstream.JetStream, seq uint64) (Letter, error) {
	s, err := js.Stream(ctx, subjects.StreamDLQ)
	if err != nil {
		return Letter{}, fmt.Errorf("DLQ stream: %w", err)
	}
	m, err := s.GetMsg(ctx, seq)
	if err != nil {
		return Letter{}, fmt.Errorf("dead letter %d: %w", seq, err)
	}
	return letter(m), nil
}

// letter reads a stored DLQ message.
func letter(m *jetstream.RawStreamMsg) Letter {
	l := Letter{Seq: m.Sequence, Time: m.Time, Data: m.Data, Header: nats.Header{}}
	for k, vs := range m.Header {
		if !strings.HasPrefix(k, "Nats-") {
			l.Header[k] = vs
		}
	}
	l.Subject, l.Stream = l.Header.Get(consumer.DLQSubject), l.Header.Get(consumer.DLQStream)
	l.StreamSeq, _ = strconv.ParseUint(l.Header.Get(consumer.DLQSequence), 10, 64)
	l.Consumer, l.EventID = l.Header.Get(consumer.DLQConsumer), l.Header.Get(consumer.DLQEventID)
	l.Error = l.Header.Get(consumer.DLQError)
	for _, h := range dlqHeaders {
		l.Header.Del(h)
	}
	return l
}

// Replayed is what became of a replay.
type Replayed struct {
	// Letter is the dead letter replayed.
	Letter Letter
	// Stream and Seq are where the republished message was stored (Seq is the original's
	// stored copy when Duplicate).
	Stream string
	Seq    uint64
	// Duplicate is true when the stream dropped the replay: it still remembers the event id
	// (its duplicate window, Window, has not passed since the original was published), so
	// nothing was delivered. Replay again after Window.
	Duplicate bool
	Window    time.Duration
}

// Replay republishes the dead letter at seq on its original subject, into its original
// stream, with its event id as the Nats-Msg-Id, and leaves the letter in the DLQ (Delete
// it once the replay is applied: a replay that fails again is dead-lettered again, and a
// copy within the DLQ's duplicate window of the first would be dropped had the first gone).
func Replay(ctx context.Context, js jetstream.JetStream, seq uint64) (Replayed, error) {
	l, err := Get(ctx, js, seq)
	if err != nil {
		return Replayed{}, err
	}
	if l.Subject == "" || l.Stream == "" || l.EventID == "" {
		return Replayed{}, fmt.Errorf("dead letter %d: %w", seq, ErrNotLetter)
	}
	m := nats.NewMsg(l.Subject)
	m.Data = l.Data
	for k, vs := range l.Header {
		m.Header[k] = vs
	}
	ack, err := js.PublishMsg(ctx, m, jetstream.WithMsgID(l.EventID), jetstream.WithExpectStream(l.Stream))
	if err != nil {
		return Replayed{}, fmt.Errorf("replay dead letter %d on %s: %w", seq, l.Subject, err)
	}
	r := Replayed{Letter: l, Stream: ack.Stream, Seq: ack.Sequence, Duplicate: ack.Duplicate}
	if s, err := js.Stream(ctx, l.Stream); err == nil {
		r.Window = s.CachedInfo().Config.Duplicates
	}
	return r, nil
}

// Delete removes the dead letter at seq.
func Delete(ctx context.Context, js jetstream.JetStream, seq uint64) error {
	s, err := js.Stream(ctx, subjects.StreamDLQ)
	if err != nil {
		return fmt.Errorf("DLQ stream: %w", err)
	}
	if err := s.DeleteMsg(ctx, seq); err != nil {
		return fmt.Errorf("delete dead letter %d: %w", seq, err)
	}
	return nil
}

// Purge removes every dead letter, or those of one durable consumer when consumerName is
// not empty.
func Purge(ctx context.Context, js jetstream.JetStream, consumerName string) error {
	s, err := js.Stream(ctx, subjects.StreamDLQ)
	if err != nil {
		return fmt.Errorf("DLQ stream: %w", err)
	}
	var opts []jetstream.StreamPurgeOpt
	if consumerName != "" {
		opts = append(opts, jetstream.WithPurgeSubject(subjects.DLQPrefix+".*."+consumerName))
	}
	if err := s.Purge(ctx, opts...); err != nil {
		return fmt.Errorf("purge the DLQ: %w", err)
	}
	return nil
}
