package pg

import "context"

// Work that must follow a commit, and never a rollback: a business counter (an order paid, a
// card declined) counts a change once it is the record, so that a transaction rolled back,
// a batch run again after one of its handlers failed, or a redelivered event never counts it
// twice. The code that writes the change (a store, deep in a transaction it did not begin)
// defers the count with AfterCommit; whoever begins and commits the transaction gives the
// context a Commit and runs it once the commit succeeded (platform/consumer does so for
// every event it applies, with one Commit per event, so that an event rolled back to its
// savepoint counts nothing).

type commitKey struct{}

// Commit is the work deferred until one transaction (or one event's part of it) commits. The
// zero value is empty and ready to use. It is not safe for concurrent use: one unit of work
// runs one transaction at a time.
type Commit struct {
	fns []func()
}

// WithCommit returns ctx carrying c: AfterCommit under it defers to c.
func WithCommit(ctx context.Context, c *Commit) context.Context {
	return context.WithValue(ctx, commitKey{}, c)
}

// AfterCommit defers fn until the transaction of ctx's unit of work commits. It reports
// false, and fn is dropped, when ctx carries no Commit: the caller commits without deferred
// work, and what fn would count is not counted (a test of that path shows it).
func AfterCommit(ctx context.Context, fn func()) bool {
	c, ok := ctx.Value(commitKey{}).(*Commit)
	if !ok || c == nil {
		return false
	}
	c.fns = append(c.fns, fn)
	return true
}

// Run calls the deferred work in the order it was deferred and forgets it. Call it once the
// transaction committed.
func (c *Commit) Run() {
	fns := c.fns
	c.fns = nil
	for _, fn := range fns {
		fn()
	}
}

// Reset forgets the deferred work: the transaction rolled back (or is about to be run
// again).
func (c *Commit) Reset() { c.fns = nil }

// InTx runs fn with ctx carrying a fresh Commit and, when fn succeeded (fn commits, or
// returns nil only once the transaction committed), runs the deferred work.
func InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	var c Commit
	if err := fn(WithCommit(ctx, &c)); err != nil {
		return err
	}
	c.Run()
	return nil
}
