package consumer

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// maxDeliveriesAdvisory is the prefix of the subject on which the server announces that a
// consumer gave up on a message: MaxDeliver deliveries, none of them settled.
const maxDeliveriesAdvisory = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES."

// exhaustedAdvisory is the part of the server's io.nats.jetstream.advisory.v1.max_deliver
// advisory the watcher reads.
type exhaustedAdvisory struct {
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries int    `json:"deliveries"`
}

// watchExhausted copies to the DLQ every message the server gives up on for this consumer,
// until ctx ends; wg tracks its goroutine. The kit dead-letters a failing message itself on
// its MaxDeliver-th delivery, before the server's limit (deadLetterSpare later); the server
// gives up only on a message nobody settled: a process that crashed or hung on it every
// time, or a dead-letter publish that failed to the last. Without this copy such a message
// would stay in its stream, unseen.
//
// Every instance listens (a plain subscription, not a queue group): a copy is made as long
// as one of them is up when the advisory comes (AckWait after the last delivery; advisories
// are not stored), and the DLQ's Nats-Msg-Id, dlq:<consumer>:<event id>, the one the kit
// uses, drops the others' copies. MSG_TERMINATED advisories are not followed: the kit
// terminates a message only after its copy is stored.
func (c *Consumer) watchExhausted(ctx context.Context, wg *sync.WaitGroup) error {
	// Room for a burst (a crash loop across many messages): an advisory that does not fit
	// is dropped by the client as a slow consumer, and its message left in its stream.
	advisories := make(chan *nats.Msg, 1024)
	sub, err := c.JS.Conn().ChanSubscribe(maxDeliveriesAdvisory+c.Stream+"."+c.Name, advisories)
	if err != nil {
		return fmt.Errorf("consumer %s: listen for exhausted messages: %w", c.Name, err)
	}
	wg.Go(func() {
		defer func() { _ = sub.Unsubscribe() }()
		for {
			select {
			case <-ctx.Done():
				return
			case m := <-advisories:
				c.copyExhausted(ctx, m.Data)
			}
		}
	})
	return nil
}

// copyExhausted copies the message an advisory names to the DLQ, from its stream.
func (c *Consumer) copyExhausted(ctx context.Context, advisory []byte) {
	var a exhaustedAdvisory
	if err := json.Unmarshal(advisory, &a); err != nil || a.StreamSeq == 0 {
		c.Log.Error().Err(err).Msg("consumer: unreadable max-deliveries advisory")
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
	defer cancel()
	it, err := c.storedItem(ctx, a.StreamSeq, a.Deliveries)
	if err == nil {
		err = c.publishLetters(ctx, []*item{it})[0]
	}
	if err != nil {
		c.Log.Error().Err(err).Str("stream", c.Stream).Uint64("stream_seq", a.StreamSeq).Int("delivered", a.Deliveries).
			Msg("consumer: a message exceeded its deliveries and could not be copied to the DLQ; it is left in its stream only")
	}
}

// storedItem reads the message at seq from the stream, as a failed item to dead-letter.
func (c *Consumer) storedItem(ctx context.Context, seq uint64, deliveries int) (*item, error) {
	s, err := c.JS.Stream(ctx, c.Stream)
	if err != nil {
		return nil, err
	}
	m, err := s.GetMsg(ctx, seq)
	if err != nil {
		return nil, fmt.Errorf("get message %d: %w", seq, err)
	}
	id := m.Header.Get(jetstream.MsgIDHeader)
	if id == "" {
		id = fmt.Sprintf("%s:%d", c.Stream, seq)
	}
	return &item{
		msg: Msg{
			Subject: m.Subject, Data: m.Data, Header: m.Header, EventID: id,
			Delivered: deliveries, Stream: c.Stream, Sequence: seq,
		},
		out: failed,
		err: fmt.Errorf("exceeded its %d deliveries without being settled: a process crashed or hung on it "+
			"every time, or its dead-letter copy failed", deliveries),
	}, nil
}
