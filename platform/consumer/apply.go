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

	"github.com/souk/souk/platform/pg"
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
	// unsettled is set on a delivery past MaxDeliver: earlier ones were never settled (the
	// process crashed or hung on it, or its dead-letter copy failed), so its handler is not
	// run again; unless it turns out applied, it is dead-lettered with this error.
	unsettled error
	// commit is the work its handler deferred until its writes commit (pg.AfterCommit):
	// run for an applied message once the batch committed, forgotten otherwise.
	commit pg.Commit
}

// process applies one batch, settles its messages with JetStream, and calls AfterCommit.
func (c *Consumer) process(ctx context.Context, batch []jetstream.Msg, w *waiting) {
	start := time.Now()
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
		it := &item{js: m, msg: Msg{
			Subject: m.Subject(), Data: m.Data(), Header: m.Headers(), EventID: id,
			Delivered: int(md.NumDelivered), Stream: md.Stream, Sequence: md.Sequence.Stream,
		}}
		if c.MaxDeliver > 0 && it.msg.Delivered > c.MaxDeliver {
			it.unsettled = fmt.Errorf("delivered %d times, past MaxDeliver %d, without being settled: "+
				"a process crashed or hung on it, or its dead-letter copy failed", it.msg.Delivered, c.MaxDeliver)
		}
		items = append(items, it)
	}
	c.applyHeld(ctx, items, w)
	// The deferred work of what committed runs before the acks: whoever sees a message
	// acknowledged (a caught-up consumer) sees what it counted too.
	for _, it := range items {
		if it.out == applied {
			it.commit.Run()
		}
	}
	c.settle(ctx, items)
	c.inst.batch(len(items), time.Since(start))
	var done []Msg
	for _, it := range items {
		if it.out == applied {
			done = append(done, it.msg)
		}
	}
	c.inst.applied(len(done))
	if len(done) > 0 && c.AfterCommit != nil {
		c.AfterCommit(done)
	}
}

// errHandlerFailed ends an unguarded batch transaction whose handler failed: the batch is
// run again with a savepoint per message.
var errHandlerFailed = errors.New("a handler failed in an unguarded batch")

// applyOnce runs items in one transaction, bounded by timeout and not by ctx (the batch in
// hand is finished on shutdown). It returns an error when the transaction failed or a
// handler failed with a pg.Transient error (for the caller to hold the batch); any other
// handler failure is the item's outcome.
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
		it.commit.Reset()
		if !guarded {
			it.failedFast = nil
		}
	}
	tx, err := c.DB.Begin(ctx)
	if err != nil {
		return pg.Unavailable(err) // no connection to be had (an exhausted pool waits out ctx)
	}
	defer func() { _ = tx.Rollback(ctx) }() // after Commit, a no-op
	if err := c.claim(ctx, tx, items); err != nil {
		return err
	}
	if ctx, err = c.prepare(ctx, tx, items); err != nil {
		return err
	}
	var unclaim []string
	for _, it := range items {
		if it.out != pending {
			continue
		}
		switch {
		case it.unsettled != nil:
			it.out, it.err = failed, it.unsettled
		case it.failedFast != nil:
			it.out, it.err = failed, it.failedFast
		case !guarded:
			if err := c.call(pg.WithCommit(ctx, &it.commit), tx, it.msg); err != nil {
				// Out of time: not worth a second run of the batch. The database's failure
				// rather than the handler's: the batch is held.
				if ctx.Err() != nil || databasesFault(err) {
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
	if len(unclaim) > 0 && !c.Idempotent {
		q := `delete from ` + c.table() + ` where consumer = $1 and event_id = any($2)`
		if _, err := tx.Exec(ctx, q, c.Name, unclaim); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// claim inserts the processed rows of the whole batch in one statement and marks the
// messages whose row was already there as duplicates (an Idempotent consumer writes none:
// only the second copies of an event within the batch are duplicates). Event ids are inserted in sorted
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
	if c.Idempotent { // no rows: every first copy is applied, its handler finds what a former time did
		for _, it := range items {
			if it.twin != nil {
				it.out = duplicate
			}
		}
		return nil
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

// prepare calls Prepare with the messages whose handlers are about to run in tx.
func (c *Consumer) prepare(ctx context.Context, tx pgx.Tx, items []*item) (context.Context, error) {
	if c.Prepare == nil {
		return ctx, nil
	}
	var batch []Msg
	for _, it := range items {
		if it.out == pending && it.unsettled == nil && it.failedFast == nil {
			batch = append(batch, it.msg)
		}
	}
	if len(batch) == 0 {
		return ctx, nil
	}
	return c.Prepare(ctx, tx, batch)
}

// applyOne runs the handler of it in a savepoint of tx: released when it succeeds, rolled
// back to when it fails. An error means the transaction itself is broken, or the handler
// failed with a pg.Transient error (the database's fault, not its own).
func (c *Consumer) applyOne(ctx context.Context, tx pgx.Tx, it *item) error {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return err
	}
	if herr := c.call(pg.WithCommit(ctx, &it.commit), sp, it.msg); herr != nil {
		if databasesFault(herr) && ctx.Err() == nil { // the batch is held
			return fmt.Errorf("%s: %w", it.msg.EventID, herr)
		}
		it.out, it.err = failed, herr
		it.commit.Reset() // its writes are rolled back to the savepoint
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

// databasesFault reports whether a handler's error is the database's failure, not its own:
// it wraps a pg.Transient error and the handler did not mark it Permanent.
func databasesFault(err error) bool { return pg.Transient(err) && !IsPermanent(err) }

// call runs the handler; a panic is that message's error, not a crash.
func (c *Consumer) call(ctx context.Context, tx pgx.Tx, m Msg) (err error) {
	defer func() {
		if p := recover(); p != nil {
			c.Log.Error().Str("subject", m.Subject).Str("event_id", m.EventID).
				Str("panic", fmt.Sprint(p)).Bytes("stack", debug.Stack()).Msg("consumer: handler panicked")
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return c.traced(ctx, m, func(ctx context.Context) error { return c.Handle(ctx, tx, m) })
}

func (c *Consumer) table() string { return pgx.Identifier{c.Schema, "processed"}.Sanitize() }
