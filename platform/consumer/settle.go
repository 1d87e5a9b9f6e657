package consumer

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/subjects"
)

// Headers a dead letter carries beside the original message's own (minus its Nats-*
// headers, which JetStream would act on). Its Nats-Msg-Id is "dlq:<consumer>:<event id>",
// so a repeated dead-letter publish is dropped by the DLQ's duplicate window.
const (
	// DLQError is the last error, truncated to 1 KiB.
	DLQError = "Souk-Dlq-Error"
	// DLQSubject is the subject the message was published on.
	DLQSubject = "Souk-Dlq-Subject"
	// DLQStream is the stream it was consumed from.
	DLQStream = "Souk-Dlq-Stream"
	// DLQSequence is its sequence in that stream.
	DLQSequence = "Souk-Dlq-Sequence"
	// DLQConsumer is the durable consumer that gave up on it.
	DLQConsumer = "Souk-Dlq-Consumer"
	// DLQEventID is its event id (its Nats-Msg-Id, or "<stream>:<sequence>").
	DLQEventID = "Souk-Dlq-Event-Id"
)

// maxErrorHeader bounds the error text a dead letter carries.
const maxErrorHeader = 1024

// settle acks the applied and duplicate messages, naks the failed ones with Backoff and
// dead-letters those that are Permanent or out of deliveries. Acks and naks are
// fire-and-forget publishes: a lost ack is a redelivery, which the processed table absorbs.
func (c *Consumer) settle(ctx context.Context, items []*item) {
	var dead []*item
	for _, it := range items {
		out := it.out
		if it.twin != nil {
			out = it.twin.out
		}
		switch {
		case out == applied || out == duplicate:
			_ = it.js.Ack()
		case out == released:
			_ = it.js.Nak()
		case it.twin != nil: // its twin failed and is being retried or dead-lettered
			_ = it.js.NakWithDelay(c.Backoff(it.msg.Delivered))
		case IsPermanent(it.err) || (c.MaxDeliver > 0 && it.msg.Delivered >= c.MaxDeliver):
			c.inst.failure()
			dead = append(dead, it)
		default:
			c.inst.failure()
			delay := c.Backoff(it.msg.Delivered)
			c.Log.Warn().Err(it.err).Str("subject", it.msg.Subject).Str("event_id", it.msg.EventID).
				Int("delivered", it.msg.Delivered).Dur("retry_in", delay).Msg("consumer: message failed; redelivering")
			_ = it.js.NakWithDelay(delay)
		}
	}
	c.deadLetter(ctx, dead)
}

// deadLetter publishes a copy of each item to the DLQ stream, all at once, and terminates
// each original only after its copy was acknowledged. A copy that could not be published
// leaves its original to be redelivered (deadLetterSpare) and dead-lettered again.
func (c *Consumer) deadLetter(ctx context.Context, items []*item) {
	for i, err := range c.publishLetters(ctx, items) {
		if err != nil {
			c.deadLetterFailed(items[i], err)
			continue
		}
		_ = items[i].js.TermWithReason("dead-lettered to " + c.dlqSubject())
	}
}

// dlqSubject is the subject of this consumer's dead letters.
func (c *Consumer) dlqSubject() string { return subjects.DLQSubject(c.Stream, c.Name) }

// publishLetters publishes a copy of each item to the DLQ stream, all at once, and waits for
// their acks (opTimeout at most); it returns each copy's error, nil when it is stored. Its
// Nats-Msg-Id makes a repeated copy a duplicate, which is neither stored nor logged again.
func (c *Consumer) publishLetters(ctx context.Context, items []*item) []error {
	errs := make([]error, len(items))
	if len(items) == 0 {
		return errs
	}
	subject := c.dlqSubject()
	futs := make([]jetstream.PubAckFuture, len(items))
	for i, it := range items {
		futs[i], errs[i] = c.JS.PublishMsgAsync(c.letter(subject, it), jetstream.WithMsgID("dlq:"+c.Name+":"+it.msg.EventID))
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
	defer cancel()
	for i, f := range futs {
		if errs[i] != nil {
			continue
		}
		it := items[i]
		select {
		case ack := <-f.Ok():
			if ack.Duplicate {
				continue // logged when first published
			}
			c.inst.deadLettered(it.cause())
			c.Log.Error().Err(it.err).Str("subject", it.msg.Subject).Str("event_id", it.msg.EventID).
				Uint64("stream_seq", it.msg.Sequence).Int("delivered", it.msg.Delivered).
				Str("dlq_subject", subject).Msg("consumer: dead letter")
		case errs[i] = <-f.Err():
		case <-ctx.Done():
			errs[i] = errors.New("no ack from the DLQ stream")
		}
	}
	return errs
}

// cause is why it is dead-lettered, for the metrics.
func (it *item) cause() string {
	switch {
	case it.js == nil:
		return causeMaxDeliveries // copied from its stream, see copyExhausted
	case it.unsettled != nil:
		return causeUnsettled
	}
	return causeHandler
}

// letter is the dead-letter copy of it.
func (c *Consumer) letter(subject string, it *item) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = it.msg.Data
	for k, vs := range it.msg.Header {
		if !strings.HasPrefix(k, "Nats-") {
			m.Header[k] = vs
		}
	}
	m.Header.Set(DLQError, subjects.CutBytes(it.err.Error(), maxErrorHeader))
	m.Header.Set(DLQSubject, it.msg.Subject)
	m.Header.Set(DLQStream, it.msg.Stream)
	m.Header.Set(DLQSequence, strconv.FormatUint(it.msg.Sequence, 10))
	m.Header.Set(DLQConsumer, c.Name)
	m.Header.Set(DLQEventID, it.msg.EventID)
	return m
}

// deadLetterFailed naks it for another try. On the last delivery the server makes, the
// message stays only in its stream: say so loudly, with where to find it.
func (c *Consumer) deadLetterFailed(it *item, err error) {
	ev, msg := c.Log.Warn(), "consumer: dead-letter publish failed; redelivering"
	if c.MaxDeliver > 0 && it.msg.Delivered >= c.serverMaxDeliver() {
		ev, msg = c.Log.Error(), "consumer: dead-letter publish failed on the last delivery; the message is left in its stream only"
	}
	ev.Err(err).Str("subject", it.msg.Subject).Str("event_id", it.msg.EventID).
		Str("stream", it.msg.Stream).Uint64("stream_seq", it.msg.Sequence).Int("delivered", it.msg.Delivered).
		Str("handler_error", subjects.CutBytes(it.err.Error(), maxErrorHeader)).Msg(msg)
	_ = it.js.NakWithDelay(c.Backoff(it.msg.Delivered))
}
