// Package kvwatch keeps a process's copy of a KV bucket current: a Follower watches every
// key of the bucket and hands each entry to its owner, says when the entries the bucket held
// are all in (a copy judged before that would judge on half the bucket), and reports itself
// down to its supervising loop while it loads. The token revocations (platform/authn) and the
// live configuration (platform/liveconfig) are both such copies.
package kvwatch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/platform/background"
)

// Follower watches one bucket. Build it with New; run it in a supervised loop
// (background.Group.Go), which restarts it when the watch fails: the watch then delivers
// every entry again, so Apply must be idempotent for an entry it has seen.
type Follower struct {
	js     jetstream.JetStream
	bucket string
	apply  func(jetstream.KeyValueEntry)
	// Every and Tick, when both set, run Tick every Every between entries (in the watch's
	// goroutine, so never at once with apply).
	every time.Duration
	tick  func()

	// loaded is set once the watch has delivered every entry the bucket held when it began,
	// and cleared when the watch ends.
	loaded atomic.Bool
	// first is closed when the bucket is loaded for the first time.
	first     chan struct{}
	firstOnce sync.Once
}

// New returns a Follower of bucket on js that hands every entry (puts, deletes and purges,
// in the order of the bucket) to apply, from one goroutine.
func New(js jetstream.JetStream, bucket string, apply func(jetstream.KeyValueEntry)) *Follower {
	return &Follower{js: js, bucket: bucket, apply: apply, first: make(chan struct{})}
}

// WithTick makes the Follower call tick every d while it runs (housekeeping of the copy,
// such as dropping entries past their TTL), never at once with apply. It returns f.
func (f *Follower) WithTick(d time.Duration, tick func()) *Follower {
	f.every, f.tick = d, tick
	return f
}

// Run watches the bucket until ctx ends, and returns nil then; an error when the bucket
// cannot be watched or the watch ends early (a supervisor restarts it). While the first
// load runs it reports itself down (background.ReportDown), so /readyz names its loop.
func (f *Follower) Run(ctx context.Context) error {
	background.ReportDown(ctx, fmt.Errorf("kv bucket %s: loading", f.bucket))
	defer f.loaded.Store(false)
	kv, err := f.js.KeyValue(ctx, f.bucket)
	if err != nil {
		return fmt.Errorf("kv bucket %s: %w", f.bucket, err)
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch kv bucket %s: %w", f.bucket, err)
	}
	defer func() { _ = w.Stop() }()
	var tick <-chan time.Time
	if f.every > 0 && f.tick != nil {
		t := time.NewTicker(f.every)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
			f.tick()
		case e, ok := <-w.Updates():
			switch {
			case !ok:
				if ctx.Err() != nil {
					return nil
				}
				return errors.New("kv bucket " + f.bucket + ": the watch ended")
			case e == nil: // every entry the bucket held is in
				f.loaded.Store(true)
				f.firstOnce.Do(func() { close(f.first) })
				background.ReportUp(ctx)
			default:
				f.apply(e)
			}
		}
	}
}

// WaitLoaded waits until Run has loaded the bucket once, or ctx ends (its error then).
func (f *Follower) WaitLoaded(ctx context.Context) error {
	select {
	case <-f.first:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Loaded reports whether the bucket is loaded now: false before the first load and while a
// failed watch waits to be started again.
func (f *Follower) Loaded() bool { return f.loaded.Load() }
