package consumer

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
)

// outcome is what became of one message of a batch.
type outcome int

const (
	pending   outcome = iota
	applied           // the handler's writes and the processed row committed
	duplicate         // the processed row was already there
	failed            // the handler failed (err); its writes were rolled back
	released          // not applied, handed back on shutdown
)

// item is one delivered message on its way through a batch.
type item struct {
	js  jetstream.Msg
	msg Msg
	out outcome
	err error
	// twin is the earlier message of the same batch with the same event id (a redelivery
	// that overtook its ack, a republished event); this one follows its outcome.
	twin *item
	// failedFast is the error of its handler in an unguarded run of its batch: the guarded
	// run that follows takes it as this delivery's outcome instead of calling the handler
	// again, so a handler still runs once per delivery unless a later one's failure rolled
	// its writes back.
	failedFast error
}

// process applies one batch, settles its messages with JetStream, and calls AfterCommit.
func (c *Consumer) process(ctx context.Context, batch []jetstream.Msg) {
	items := make([]*item, 0, len(batch))
	for _, m := range batch {
		md, err := m.Metadata()
		if err != nil { // not a JetStream message: nothing to apply, nothing to dead-letter
			c.Log.Error().Err(err).Str("subject", m.Subject()).Msg("consumer: message without metadata")
			_ = m.Term()
			continue
		}
		id := m.Headers().Get(jetstream.MsgIDHeader)
		if id == "" {
			id = fmt.Sprintf("%s:%d", md.Stream, md.Sequence.Stream)
		}
		items = append(items, &item{js: m, msg: Msg{
			Subject: m.Subject(), Data: m.Data(), Header: m.Headers(), EventID: id,
			Delivered: int(md.NumDelivered), Stream: md.Stream, Sequence: md.Sequence.Stream,
		}})
	}
	c.applyHeld(ctx, items)
	c.settle(ctx, items)
	if c.AfterCommit == nil {
		return
	}
	var done []Msg
	for _, it := range items {
		if it.out == applied {
			done = append(done, it.msg)
		}
	}
	if len(done) > 0 {
		c.AfterCommit(done)
	}
}

// applyHeld applies items in one transaction. When that fails with the database reachable,
// the cause is in the batch (a handler that broke its transaction or ran out of time, a
// conflict at commit): isolate finds which message. When the database is unreachable it
// holds the batch, keeping the ack timers from running out, and retries after a pause until
// the database answers or ctx ends (then the messages are released).
func (c *Consumer) applyHeld(ctx context.Context, items []*item) {
	if len(items) == 0 {
		return
	}
	for attempt := 1; ; attempt++ {
		err := c.applyOnce(ctx, items, c.txBudget(), false)
		if errors.Is(err, errHandlerFailed) {
			err = c.applyOnce(ctx, items, c.txBudget(), true)
		}
		if err == nil {
			return
		}
		if c.reachable(ctx) {
			c.isolate(ctx, items, err)
			return
		}
		pause := backoff(attempt, 250*time.Millisecond, min(10*time.Second, c.AckWait/2))
		c.Log.Warn().Err(err).Int("messages", len(items)).Dur("retry_in", pause).Msg("consumer: database unreachable; holding the batch")
		for _, it := range items {
			_ = it.js.InProgress()
		}
		if !sleep(ctx, pause) {
			release(items)
			return
		}
	}
}

// isolate applies each message of a batch whose transaction failed (err) in a transaction
// of its own: a message that fails alone has failed; the others are applied. All of them
// share one more txBudget, so a handler that hangs costs two budgets per batch, not one per
// message; what does not fit is released. On shutdown the batch is released at once.
func (c *Consumer) isolate(ctx context.Context, items []*item, err error) {
	if len(items) == 1 {
		items[0].out, items[0].err = failed, err
		return
	}
	if ctx.Err() != nil {
		release(items)
		return
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
			return
		}
		if err := c.applyOnce(ctx, []*item{it}, left, true); err != nil {
			if !c.reachable(ctx) {
				release(items[i:])
				return
			}
			it.out, it.err = failed, err
		}
	}
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

// errHandlerFailed ends an unguarded batch transaction whose handler failed: the batch is
// run again with a savepoint per message.
var errHandlerFailed = errors.New("a handler failed in an unguarded batch")

// applyOnce runs items in one transaction, bounded by timeout and not by ctx (the batch in
// hand is finished on shutdown). It returns an error only when the transaction failed; a
// handler's failure is the item's outcome.
//
// Guarded, each handler runs in a savepoint, so that one that fails is rolled back alone.
// Unguarded, the handlers run in the transaction itself, two round trips per message fewer
// (the savepoint and its release; on the checkout's busiest consumers that is a third of
// the round trips); a handler that fails there rolls the whole batch back and applyOnce
// returns errHandlerFailed, for the caller to run the batch again guarded, with that
// handler's failure kept (failedFast). Handlers almost never fail, so batches almost always
// take the cheap way once.
func (c *Consumer) applyOnce(ctx context.Context, items []*item, timeout time.Duration, guarded bool) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	for _, it := range items {
		it.out, it.err, it.twin = pending, nil, nil
		if !guarded {
			it.failedFast = nil
		}
	}
	tx, err := c.DB.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }() // after Commit, a no-op
	if err := c.claim(ctx, tx, items); err != nil {
		return err
	}
	var unclaim []string
	for _, it := range items {
		if it.out != pending {
			continue
		}
		switch {
		case it.failedFast != nil:
			it.out, it.err = failed, it.failedFast
		case !guarded:
			if err := c.call(ctx, tx, it.msg); err != nil {
				if ctx.Err() != nil { // out of time: not worth a second run of the batch
					return fmt.Errorf("%s: %w", it.msg.EventID, err)
				}
				it.failedFast = err
				return errHandlerFailed
			}
			it.out = applied
		default:
			if err := c.applyOne(ctx, tx, it); err != nil {
				return err
			}
		}
		if it.out == failed {
			unclaim = append(unclaim, it.msg.EventID)
		}
	}
	if len(unclaim) > 0 {
		q := `delete from ` + c.table() + ` where consumer = $1 and event_id = any($2)`
		if _, err := tx.Exec(ctx, q, c.Name, unclaim); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// claim inserts the processed rows of the whole batch in one statement and marks the
// messages whose row was already there as duplicates. Event ids are inserted in sorted
// order, so two instances claiming overlapping batches take the row locks in the same order
// and cannot deadlock; the later one waits for the earlier one's outcome.
func (c *Consumer) claim(ctx context.Context, tx pgx.Tx, items []*item) error {
	first := make(map[string]*item, len(items))
	ids := make([]string, 0, len(items))
	for _, it := range items {
		if f, ok := first[it.msg.EventID]; ok {
			it.twin = f
			continue
		}
		first[it.msg.EventID] = it
		ids = append(ids, it.msg.EventID)
	}
	slices.Sort(ids)
	rows, err := tx.Query(ctx, `insert into `+c.table()+` (consumer, event_id)
		select $1, id from unnest($2::text[]) with ordinality as u(id, n) order by n
		on conflict do nothing returning event_id`, c.Name, ids)
	if err != nil {
		return err
	}
	fresh, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, id := range fresh {
		delete(first, id)
	}
	for _, it := range first {
		it.out = duplicate
	}
	for _, it := range items {
		if it.twin != nil {
			it.out = duplicate // settled by its twin's outcome; never applied twice
		}
	}
	return nil
}

// applyOne runs the handler of it in a savepoint of tx: released when it succeeds, rolled
// back to when it fails. An error means the transaction itself is broken.
func (c *Consumer) applyOne(ctx context.Context, tx pgx.Tx, it *item) error {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return err
	}
	if herr := c.call(ctx, sp, it.msg); herr != nil {
		it.out, it.err = failed, herr
		if err := sp.Rollback(ctx); err != nil {
			return fmt.Errorf("roll back %s after %q: %w", it.msg.EventID, herr, err)
		}
		return nil
	}
	it.out = applied
	if err := sp.Commit(ctx); err != nil {
		return fmt.Errorf("release the savepoint of %s (did the handler end its tx?): %w", it.msg.EventID, err)
	}
	return nil
}

// call runs the handler; a panic is that message's error, not a crash.
func (c *Consumer) call(ctx context.Context, tx pgx.Tx, m Msg) (err error) {
	defer func() {
		if p := recover(); p != nil {
			c.Log.Error().Str("subject", m.Subject).Str("event_id", m.EventID).
				Str("panic", fmt.Sprint(p)).Bytes("stack", debug.Stack()).Msg("consumer: handler panicked")
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return c.Handle(ctx, tx, m)
}

func (c *Consumer) table() string { return pgx.Identifier{c.Schema, "processed"}.Sanitize() }
