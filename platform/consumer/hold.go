package consumer

import (
	"context"
	"errors"
	"time"

	"github.com/souk/souk/platform/background"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/platform/pg"
)

// conflictRetries is how many times in a row a batch that lost a race (a serialization
// failure, a deadlock) is run again at once, before it is held with pauses like any other
// transient failure: a conflict almost always clears on the next run.
const conflictRetries = 3

// waiting is the hand-off from the feeder to the loop, plus the messages taken from it while
// a batch was held: their ack timers are kept from running out with the batch's, and they
// are applied after it, in arrival order. It belongs to one Run's loop.
type waiting struct {
	in   <-chan jetstream.Msg
	held []jetstream.Msg
	// touched is when the held messages were last put back in progress.
	touched time.Time
}

// touch puts the held messages back in progress: their ack timers start again.
func (w *waiting) touch() {
	for _, m := range w.held {
		_ = m.InProgress()
	}
	w.touched = time.Now()
}

// keep touches the held messages when half of ackWait has passed since they last were: a
// large backlog held through an outage is applied a batch at a time afterwards, and the
// last batches must not be redelivered meanwhile.
func (w *waiting) keep(ackWait time.Duration) {
	if len(w.held) > 0 && time.Since(w.touched) >= ackWait/2 {
		w.touch()
	}
}

// take appends to batch up to n messages: the held ones first, then whatever has already
// arrived, without waiting.
func (w *waiting) take(batch []jetstream.Msg, n int) []jetstream.Msg {
	k := min(n, len(w.held))
	batch = append(batch, w.held[:k]...)
	w.held = w.held[k:]
	if len(w.held) == 0 {
		w.held = nil // let the backing array go
	}
	for len(batch) < n {
		select {
		case m := <-w.in:
			batch = append(batch, m)
		default:
			return batch
		}
	}
	return batch
}

// handBack naks every message the loop holds or was handed, so that another instance gets
// them now rather than after AckWait. Call it once the feeder has stopped.
func (w *waiting) handBack() {
	for _, m := range w.held {
		_ = m.Nak()
	}
	w.held = nil
	for len(w.in) > 0 {
		_ = (<-w.in).Nak()
	}
}

// applyHeld applies items in one transaction. When that fails and the database is to blame
// (pg.Transient: unreachable, read-only, out of resources or connections, a lost race; or
// a failed ping), the batch is held: InProgress keeps its ack timers and those of the
// messages arriving meanwhile from running out, and it is run again after a pause (a lost
// race at once, a few times), until it goes through or ctx ends (then the messages are
// released). No delivery is spent and nothing is dead-lettered while the database is to
// blame. Otherwise the cause is in the batch (a handler that broke its transaction or ran
// out of time, a conflict at commit): isolate finds which message.
func (c *Consumer) applyHeld(ctx context.Context, items []*item, w *waiting) {
	batch := items // all of it is settled at the end, the part isolate applied included
	defer c.inst.released()
	conflicts := 0
	for attempt := 1; len(items) > 0; {
		err := c.applyOnce(ctx, items, c.txBudget(), false)
		if errors.Is(err, errHandlerFailed) {
			err = c.applyOnce(ctx, items, c.txBudget(), true)
		}
		if err != nil && !c.databaseToBlame(ctx, err) {
			items, err = c.isolate(ctx, items, err)
		}
		if err == nil || len(items) == 0 {
			return
		}
		if pg.Conflict(err) && conflicts < conflictRetries {
			conflicts++
			continue
		}
		conflicts = 0
		pause := background.Doubling(attempt, 250*time.Millisecond, min(10*time.Second, c.AckWait/2))
		attempt++
		c.Log.Warn().Err(err).Int("messages", len(items)).Int("waiting", len(w.held)).Dur("retry_in", pause).
			Msg("consumer: database unavailable; holding the batch")
		c.inst.held()
		if !c.hold(ctx, batch, w, pause) {
			release(items)
			return
		}
	}
}

// databaseToBlame reports whether a failed batch transaction is the database's fault rather
// than its messages': the error says so, or the database does not even answer a ping.
func (c *Consumer) databaseToBlame(ctx context.Context, err error) bool {
	return pg.Transient(err) || !c.reachable(ctx)
}

// hold keeps the batch and the waiting messages in progress for pause, taking every message
// that arrives meanwhile into w.held (in progress too), so no ack timer runs out however
// long the hold lasts. It reports false when ctx ended first.
func (c *Consumer) hold(ctx context.Context, batch []*item, w *waiting, pause time.Duration) bool {
	touch := func() {
		for _, it := range batch {
			_ = it.js.InProgress()
		}
		w.touch()
	}
	touch()
	t := time.NewTimer(pause)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case m := <-w.in:
			_ = m.InProgress()
			w.held = append(w.held, m)
		case <-t.C:
			touch() // the retry may take up to a txBudget
			return true
		}
	}
}

// isolate applies each message of a batch whose transaction failed (err) in a transaction
// of its own: a message that fails alone has failed; the others are applied. All of them
// share one more txBudget, so a handler that hangs costs two budgets per batch, not one per
// message; what does not fit is released. On shutdown the batch is released at once. When
// the database becomes to blame on the way, isolate returns the messages not yet done with
// that error, for the caller to hold.
func (c *Consumer) isolate(ctx context.Context, items []*item, err error) ([]*item, error) {
	if len(items) == 1 {
		items[0].out, items[0].err = failed, err
		return nil, nil
	}
	if ctx.Err() != nil {
		release(items)
		return nil, nil
	}
	c.Log.Warn().Err(err).Int("messages", len(items)).Msg("consumer: batch transaction failed; applying its messages one by one")
	for _, it := range items {
		_ = it.js.InProgress()
	}
	deadline := time.Now().Add(c.txBudget())
	for i, it := range items {
		left := time.Until(deadline)
		if left <= 0 {
			release(items[i:])
			return nil, nil
		}
		if err := c.applyOnce(ctx, []*item{it}, left, true); err != nil {
			if c.databaseToBlame(ctx, err) {
				return items[i:], err
			}
			it.out, it.err = failed, err
		}
	}
	return nil, nil
}

// release marks items to be handed back unapplied, for another try at once.
func release(items []*item) {
	for _, it := range items {
		it.out = released
	}
}

// txBudget is the time a batch transaction gets: most of AckWait, leaving the rest to commit
// and ack (or to send InProgress and isolate) before JetStream redelivers.
func (c *Consumer) txBudget() time.Duration { return c.AckWait * 4 / 5 }

// reachable reports whether the database answers a ping.
func (c *Consumer) reachable(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
	defer cancel()
	return c.DB.Ping(ctx) == nil
}
