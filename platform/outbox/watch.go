package outbox

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
)

// A NATS server can lose acknowledged messages while Souk keeps running: it acknowledges
// before it syncs (every 2 min by default), and a crash or power loss takes the unsynced tail
// with it; the restarted server takes clients again as if nothing happened. The relay
// watches for it and publishes its recent window again when it sees the server restarted or
// behind what it acknowledged: a new server id after a reconnect, a stream re-created or whose
// last sequence is below the highest this relay saw acked, or an ack whose sequence went
// backwards.

// mark is what the relay knows of one stream it publishes to.
type mark struct {
	seq     uint64    // highest sequence acked to this relay
	created time.Time // when the stream was created, as first seen
}

// watch is the relay's view of the server; guarded by Relay.mu.
type watch struct {
	marks     map[string]mark
	server    string    // the server id last verified
	backwards bool      // an ack came back with a sequence below one acked before
	verified  time.Time // when the server last held everything acked to this relay
}

// acked records a publish ack.
func (r *Relay) acked(ack *jetstream.PubAck) {
	r.inst.acked(ack.Duplicate)
	r.published.Add(1)
	if ack.Duplicate {
		r.duplicates.Add(1)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.watch.marks[ack.Stream]
	if !ack.Duplicate && ack.Sequence <= m.seq {
		r.watch.backwards = true
	}
	m.seq = max(m.seq, ack.Sequence)
	r.watch.marks[ack.Stream] = m
}

// verify compares the server with what the relay saw acked. It reports whether the server
// holds it all (false when it cannot tell: disconnected, no answer); when the server lost
// data it resends the window first.
func (r *Relay) verify(ctx context.Context) (bool, error) {
	nc := r.JS.Conn()
	if !nc.IsConnected() {
		return false, nil
	}
	server := nc.ConnectedServerId()
	r.mu.Lock()
	w := r.watch
	marks := maps.Clone(w.marks)
	r.mu.Unlock()
	var lost []string
	if w.server != "" && server != w.server {
		lost = append(lost, "server "+w.server+" replaced by "+server)
	}
	if w.backwards {
		lost = append(lost, "an ack's sequence went backwards")
	}
	for name, m := range marks {
		why, err := r.checkStream(ctx, name, m)
		if err != nil {
			return false, nil // no answer: try again at the next beat
		}
		if why != "" {
			lost = append(lost, why)
		}
	}
	if len(lost) > 0 {
		if err := r.resendRecent(ctx, w.verified, lost); err != nil {
			return false, err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.watch.server, r.watch.verified = server, time.Now()
	if len(lost) > 0 {
		// Start over from what the server holds now.
		r.watch.marks, r.watch.backwards = map[string]mark{}, false
	}
	return true, nil
}

// checkStream says why the stream lost messages acked to this relay, or "" when it did not.
func (r *Relay) checkStream(ctx context.Context, name string, m mark) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := r.JS.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return "stream " + name + " is gone", nil
	}
	if err != nil {
		return "", err
	}
	info := s.CachedInfo()
	switch {
	case !m.created.IsZero() && !info.Created.Equal(m.created):
		return "stream " + name + " was created again", nil
	case info.State.LastSeq < m.seq:
		return fmt.Sprintf("stream %s ends at %d, below %d acked", name, info.State.LastSeq, m.seq), nil
	}
	if m.created.IsZero() {
		r.mu.Lock()
		if cur, ok := r.watch.marks[name]; ok {
			cur.created = info.Created
			r.watch.marks[name] = cur
		}
		r.mu.Unlock()
	}
	return "", nil
}

// resendRecent marks for resending every row sent within Resend before the server was last
// known good, whoever sent it: the server lost it for all.
func (r *Relay) resendRecent(ctx context.Context, verified time.Time, why []string) error {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	window := r.Resend + time.Since(verified)
	r.forget.Store(true) // what it published above the watermark goes again too
	var n int64
	err := pgx.BeginFunc(ctx, r.DB, func(tx pgx.Tx) error {
		var since time.Time
		if err := tx.QueryRow(ctx, `select now() - make_interval(secs => $1)`, window.Seconds()).Scan(&since); err != nil {
			return err
		}
		var err error
		n, err = r.flagResend(ctx, tx, nil, since)
		return err
	})
	if err != nil {
		return fmt.Errorf("resend after lost data: %w", err)
	}
	r.inst.resend(causeLostData, n)
	r.Log.Warn().Strs("why", why).Int64("events", n).Dur("window", window).
		Msg("outbox relay: the NATS server lost acknowledged messages; publishing the recent window again")
	r.Kick()
	return nil
}
