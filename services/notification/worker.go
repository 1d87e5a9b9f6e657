package notification

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/codes"
	"golang.org/x/sync/errgroup"

	"github.com/souk/souk/platform/trace"
	"github.com/souk/souk/subjects"
)

const (
	// workerBatch is the most deliveries one round claims.
	workerBatch = 64
	// recordTimeout bounds writing a round's outcomes; detached from shutdown, so that a
	// message that went out is recorded as sent.
	recordTimeout = 10 * time.Second
)

// worker sends due deliveries: it claims a batch, sends them in parallel through their
// channel, and records every attempt and the new status of each, in one transaction.
type worker struct {
	store    *Store
	channels map[string]Channel
	cfg      Config
	log      zerolog.Logger
	counts   *counts
}

func newWorker(store *Store, channels map[string]Channel, cfg Config, log zerolog.Logger, reg prometheus.Registerer) *worker {
	return &worker{store: store, channels: channels, cfg: cfg, log: log, counts: newCounts(reg)}
}

// round sends one batch of due deliveries and reports whether it was full: the sender
// loop's round (kit.Loop), run again at once after a full batch, else after Config.Poll or
// when a consumer's batch wakes it.
func (w *worker) round(ctx context.Context) bool {
	due, err := w.store.claim(ctx, workerBatch, w.cfg.lease())
	if err != nil {
		if ctx.Err() == nil {
			w.log.Warn().Err(err).Msg("notification worker: claim")
		}
		return false
	}
	if len(due) == 0 {
		return false
	}
	outs := make([]outcome, len(due))
	var g errgroup.Group
	g.SetLimit(w.cfg.Parallel)
	for i, d := range due {
		g.Go(func() error {
			sent, err := w.send(ctx, d)
			outs[i] = outcome{id: d.ID, attempts: d.Attempts, sent: sent, err: err}
			return nil
		})
	}
	_ = g.Wait()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	recorded, err := w.store.record(rctx, outs, w.cfg.MaxAttempts, w.cfg.backoff)
	if err != nil {
		w.log.Warn().Err(err).Msg("notification worker: outcomes not recorded; the lease runs out and they are tried again")
		return false
	}
	for i, o := range outs {
		w.report(due[i], o, recorded[i])
	}
	return len(due) == workerBatch
}

// send sends d through its channel, bounded by SendTimeout.
func (w *worker) send(ctx context.Context, d Delivery) (Sent, error) {
	ch, ok := w.channels[d.Channel]
	if !ok {
		return Sent{}, permanent(errUnknownChannel)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.SendTimeout)
	defer cancel()
	// Sending is the last step of the event's handling: a span of its trace (a checkout's
	// confirmation is in the checkout's trace).
	ctx, span := trace.Resume(ctx, d.TraceParent, "notification."+d.Channel)
	defer span.End()
	sent, err := ch.Send(ctx, d)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	return sent, err
}

// report counts an outcome this round recorded (recorded: not one another instance recorded
// first) and logs a failure: ids and the error, never a URL, an address or a payload.
func (w *worker) report(d Delivery, o outcome, recorded bool) {
	status := o.status(w.cfg.MaxAttempts)
	if recorded {
		w.counts.count(d, o, status)
	}
	if o.err == nil {
		return
	}
	ev := w.log.Warn()
	msg := "notification: delivery failed; retrying later"
	if status == subjects.DeliveryFailed {
		ev, msg = w.log.Error(), "notification: delivery failed; given up"
	}
	ev.Err(o.err).Str("delivery_id", d.ID.String()).Str("event_id", d.EventID).Str("channel", d.Channel).
		Str("template", d.Template).Int("attempts", d.Attempts).Msg(msg)
}
