package outbox

import (
	"context"
	"fmt"
	"time"
)

// Leases: each relay instance holds a row in outbox_lease for as long as it runs, renews its
// heartbeat every Lease/5 and marks it clean when it stops cleanly. JetStream acknowledges
// before it syncs to disk, so what an instance sent shortly before it died (or before its
// server lost data) may be gone from the stream; the lease tells which rows: those it sent
// within Resend before the last time the server was known to hold them (verified_at, never
// later than the heartbeat). Whoever finds a dead lease deletes it and publishes those rows
// again; the duplicate window drops the copies that survived.

// takeLease adopts the dead leases, its own included when Instance names one, and takes a
// fresh lease for this run.
func (r *Relay) takeLease(ctx context.Context) error {
	if err := r.adopt(ctx, true); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	_, err := r.DB.Exec(ctx, `insert into `+r.table("outbox_lease")+` (instance) values ($1)
		on conflict (instance) do update set started_at = now(), heartbeat = now(), verified_at = now(), clean = false`, r.id)
	if err != nil {
		return fmt.Errorf("outbox %s: take lease: %w", r.Schema, err)
	}
	return nil
}

// releaseLease marks this instance's lease, and only its, clean: nothing it sent is at risk
// from its stopping.
func (r *Relay) releaseLease() error {
	ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
	defer cancel()
	_, err := r.DB.Exec(ctx, `update `+r.table("outbox_lease")+` set clean = true, heartbeat = now() where instance = $1`, r.id)
	if err != nil {
		return fmt.Errorf("outbox %s: release lease: %w", r.Schema, err)
	}
	return nil
}

// renew records that this instance lives and, when verified, that the server held what it
// had acked. A lease gone (adopted while this instance stalled past Lease; its window was
// resent, which is harmless) is taken again.
func (r *Relay) renew(ctx context.Context, verified bool) error {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	tag, err := r.DB.Exec(ctx, `update `+r.table("outbox_lease")+` set heartbeat = now(),
		verified_at = case when $2 then now() else verified_at end where instance = $1`, r.id, verified)
	if err != nil {
		return fmt.Errorf("renew lease: %w", err)
	}
	if tag.RowsAffected() == 0 {
		r.Log.Warn().Str("instance", r.id).Msg("outbox relay: lease was adopted by another instance while this one stalled; taking it again")
		_, err = r.DB.Exec(ctx, `insert into `+r.table("outbox_lease")+` (instance) values ($1) on conflict do nothing`, r.id)
	}
	return err
}

// adopt deletes the leases of dead instances (not renewed within Lease; at start also this
// relay's own name from a previous run) and marks their at-risk rows unsent, in one
// statement: two relays adopting at once resend a lease's rows once.
func (r *Relay) adopt(ctx context.Context, atStart bool) error {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	rows, err := r.DB.Query(ctx, `with dead as (
			delete from `+r.table("outbox_lease")+`
			where not clean and (instance = $2 and $4 or instance <> $2 and heartbeat < now() - make_interval(secs => $1))
			returning instance, heartbeat, least(heartbeat, verified_at) as anchor),
		resent as (
			update `+r.table("outbox")+` o set sent_at = null, sent_by = null from dead
			where o.sent_by = dead.instance and o.sent_at > dead.anchor - make_interval(secs => $3)
			returning dead.instance)
		select d.instance, d.heartbeat, (select count(*) from resent s where s.instance = d.instance) from dead d`,
		r.Lease.Seconds(), r.id, r.Resend.Seconds(), atStart)
	if err != nil {
		return fmt.Errorf("outbox %s: adopt dead leases: %w", r.Schema, err)
	}
	defer rows.Close()
	adopted := false
	for rows.Next() {
		var instance string
		var heartbeat time.Time
		var n int64
		if err := rows.Scan(&instance, &heartbeat, &n); err != nil {
			return fmt.Errorf("outbox %s: adopt dead leases: %w", r.Schema, err)
		}
		adopted = true
		r.inst.resend(causeDeadLease, n)
		r.Log.Warn().Str("instance", instance).Time("last_seen", heartbeat).Int64("events", n).
			Msg("outbox relay: an instance died without a clean stop; publishing again what it sent shortly before")
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("outbox %s: adopt dead leases: %w", r.Schema, err)
	}
	if adopted {
		r.Kick()
	}
	return nil
}

// every runs fn every d until ctx ends, beside the publishing loop (a full batch, a slow ack
// or a failing publish delays none of it), and logs a failure when it starts, once a minute
// while it lasts, and when it ends.
func (r *Relay) every(ctx context.Context, d time.Duration, what string, fn func(context.Context) error) {
	t := time.NewTicker(d)
	defer t.Stop()
	var trouble episode
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			err := fn(ctx)
			switch {
			case err != nil && ctx.Err() == nil && trouble.report():
				r.Log.Warn().Err(err).Msg("outbox relay: " + what + " failed; retrying")
			case err == nil && trouble.over():
				r.Log.Info().Msg("outbox relay: " + what + " works again")
			}
		}
	}
}

// beat checks the server, resends the recent window if it lost data, renews the lease and
// adopts dead ones.
func (r *Relay) beat(ctx context.Context) error {
	verified, err := r.verify(ctx)
	if err != nil {
		return err
	}
	if err := r.renew(ctx, verified); err != nil {
		return err
	}
	if err := r.adopt(ctx, false); err != nil {
		return err
	}
	return r.measureBacklog(ctx)
}

// pruneChunk bounds one delete, so pruning a backlog holds no long transaction.
const pruneChunk = 5000

// prune deletes sent rows older than Retain, except those inside the resend window of a
// lease not clean (a dead instance not yet adopted, a live one whose server has not been
// verified lately), and clean leases older than Retain.
func (r *Relay) prune(ctx context.Context) error {
	for range 100 { // at most 500 000 rows a round; the next round takes the rest
		pctx, cancel := context.WithTimeout(ctx, dbTimeout)
		tag, err := r.DB.Exec(pctx, `delete from `+r.table("outbox")+` where id in (
			select id from `+r.table("outbox")+` where sent_at < least(now() - make_interval(secs => $1),
				(select coalesce(min(least(heartbeat, verified_at)), 'infinity') from `+r.table("outbox_lease")+` where not clean)
					- make_interval(secs => $2))
			limit $3)`, r.Retain.Seconds(), r.Resend.Seconds(), pruneChunk)
		cancel()
		if err != nil {
			return err
		}
		if tag.RowsAffected() < pruneChunk {
			break
		}
	}
	pctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	_, err := r.DB.Exec(pctx, `delete from `+r.table("outbox_lease")+` where clean and heartbeat < now() - make_interval(secs => $1)`, r.Retain.Seconds())
	return err
}
