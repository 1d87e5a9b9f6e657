package outbox

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Leases: each relay instance holds a row in outbox_lease for as long as it runs, renews its
// heartbeat every Lease/5 and marks it clean when it stops cleanly. JetStream acknowledges
// before it syncs to disk, so what an instance sent shortly before it died (or before its
// server lost data) may be gone from the stream; the lease tells which rows: those it sent
// within Resend before the last time the server was known to hold them (verified_at, never
// later than the heartbeat): the runs of keys it passed (outbox_run, and the current one in
// outbox_cursor) and the rows it sent one by one (sent_by). Whoever finds a dead lease deletes
// it and marks those rows for resending; the duplicate window drops the copies that survived.

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
// relay's own name from a previous run) and marks their at-risk rows for resending, in one
// transaction: two relays adopting at once find a dead lease once.
func (r *Relay) adopt(ctx context.Context, atStart bool) error {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	adopted := false
	err := pgx.BeginFunc(ctx, r.DB, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `delete from `+r.table("outbox_lease")+`
			where not clean and (instance = $2 and $3 or instance <> $2 and heartbeat < now() - make_interval(secs => $1))
			returning instance, heartbeat, least(heartbeat, verified_at) - make_interval(secs => $4)`,
			r.Lease.Seconds(), r.id, atStart, r.Resend.Seconds())
		if err != nil {
			return err
		}
		type lease struct {
			Instance         string
			Heartbeat, Since time.Time
		}
		dead, err := pgx.CollectRows(rows, pgx.RowToStructByPos[lease])
		if err != nil {
			return err
		}
		for _, d := range dead {
			n, err := r.flagResend(ctx, tx, &d.Instance, d.Since)
			if err != nil {
				return err
			}
			adopted = true
			r.inst.resend(causeDeadLease, n)
			r.Log.Warn().Str("instance", d.Instance).Time("last_seen", d.Heartbeat).Int64("events", n).
				Msg("outbox relay: an instance died without a clean stop; publishing again what it sent shortly before")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("outbox %s: adopt dead leases: %w", r.Schema, err)
	}
	if adopted {
		r.Kick()
	}
	return nil
}

// flagResend marks for resending the rows sent after since: by instance, or by anyone when
// instance is nil. Those the watermark passed are the unmarked rows in the runs that cover
// them (a run ending after since, the current one in outbox_cursor included; a run's second
// of grain resends a little more); those sent one by one are found by sent_at alone (a run's
// range may span rows marked long before it, which the watermark passed over). A rare path: it reads the whole
// outbox.
func (r *Relay) flagResend(ctx context.Context, tx pgx.Tx, instance *string, since time.Time) (int64, error) {
	tag, err := tx.Exec(ctx, `with ranges as (
			select lo_xid, lo_seq, hi_xid, hi_seq from `+r.table("outbox_run")+`
			where ($1::text is null or sent_by = $1) and last_at > $2
			union all
			select run_lo_xid, run_lo_seq, xid, seq from `+r.table("outbox_cursor")+`
			where run_by is not null and ($1::text is null or run_by = $1) and run_to > $2)
		update `+r.table("outbox")+` o set resend = true, sent_at = null, sent_by = null
		where not o.resend and (($1::text is null or o.sent_by = $1) and o.sent_at > $2
			or o.sent_at is null and exists (select from ranges g where (o.xid, o.seq) > (g.lo_xid, g.lo_seq) and (o.xid, o.seq) <= (g.hi_xid, g.hi_seq)))`,
		instance, since)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
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

// prune deletes the rows sent before the cutoff: Retain ago, or earlier, the start of the
// resend window of a lease not clean (a dead instance not yet adopted, a live one whose
// server has not been verified lately). Those the watermark passed go by key, up to the end
// of the last run over before the cutoff; those sent one by one (resent ones included) by
// sent_at. Then the runs
// over before the cutoff, and clean leases older than Retain.
func (r *Relay) prune(ctx context.Context) error {
	t := r.table("outbox")
	var cutoff time.Time
	var hiXID *string
	var hiSeq *int64
	pctx, cancel := context.WithTimeout(ctx, dbTimeout)
	err := r.DB.QueryRow(pctx, `with cut as (select least(now() - make_interval(secs => $1),
			(select coalesce(min(least(heartbeat, verified_at)), 'infinity') from `+r.table("outbox_lease")+` where not clean)
				- make_interval(secs => $2)) as at)
		select cut.at, b.xid::text, b.seq from cut left join lateral (
			select hi_xid as xid, hi_seq as seq from `+r.table("outbox_run")+` where last_at < cut.at
			union all select xid, seq from `+r.table("outbox_cursor")+` where run_to < cut.at
			order by xid desc, seq desc limit 1) b on true`,
		r.Retain.Seconds(), r.Resend.Seconds()).Scan(&cutoff, &hiXID, &hiSeq)
	cancel()
	if err != nil {
		return err
	}
	done := true
	if hiXID != nil {
		done, err = r.pruneRows(ctx, `delete from `+t+` where id in (select id from `+t+`
			where (xid, seq) <= ($1::xid8, $2) and sent_at is null and not resend limit $3)`, *hiXID, *hiSeq, pruneChunk)
		if err != nil {
			return err
		}
	}
	oneByOne, err := r.pruneRows(ctx, `delete from `+t+` where id in (select id from `+t+`
		where sent_at < $1 and not resend limit $2)`, cutoff, pruneChunk)
	if err != nil {
		return err
	}
	pctx, cancel = context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	if done && oneByOne {
		// Their rows are gone (but those resent since, which go by sent_at).
		if _, err := r.DB.Exec(pctx, `delete from `+r.table("outbox_run")+` where last_at < $1`, cutoff); err != nil {
			return err
		}
	}
	_, err = r.DB.Exec(pctx, `delete from `+r.table("outbox_lease")+` where clean and heartbeat < now() - make_interval(secs => $1)`, r.Retain.Seconds())
	return err
}

// pruneRows runs a delete of at most pruneChunk rows until it deletes fewer, at most 100
// times a round (500 000 rows; the next round takes the rest); it reports whether it got to
// the end.
func (r *Relay) pruneRows(ctx context.Context, q string, args ...any) (bool, error) {
	for range 100 {
		pctx, cancel := context.WithTimeout(ctx, dbTimeout)
		tag, err := r.DB.Exec(pctx, q, args...)
		cancel()
		if err != nil {
			return false, err
		}
		if tag.RowsAffected() < pruneChunk {
			return true, nil
		}
	}
	return false, nil
}
