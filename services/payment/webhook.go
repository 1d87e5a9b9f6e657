package payment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/souk/souk/subjects"
)

// notice is a provider's word on an intent or its refunds: a Stripe webhook event, or the
// sandbox's decision. applyNotice applies it once per EventID.
type notice struct {
	// EventID is the provider's event id; the webhook_events key.
	EventID string
	// Type is the provider's event type, kept for operators.
	Type string
	// PaymentID is the payment the intent belongs to (its metadata); uuid.Nil when the
	// intent carried none, and then Intent.Ref finds it.
	PaymentID uuid.UUID
	// OrderID is the payment's order (its metadata), or uuid.Nil. Notices applied together
	// are applied in order id order: see store.ApplyNotices.
	OrderID uuid.UUID
	// Intent is the intent's new state, when the event is about one.
	Intent *Intent
	// Refunds are the refunds the event reports on.
	Refunds []refundNotice
}

// refundNotice is one refund's new state.
type refundNotice struct {
	// RefundID is the refund, from its metadata; uuid.Nil finds it by Result.Ref.
	RefundID uuid.UUID
	Result   RefundResult
}

// Webhook input errors.
var (
	errBadSignature = errors.New("bad or missing Stripe-Signature")
	errBadPayload   = errors.New("unreadable webhook payload")
)

// maxWebhookBytes bounds a webhook payload; Stripe's events are a few KiB.
const maxWebhookBytes = 256 << 10

// parseStripeEvent verifies a webhook's signature against secret (Stripe's default
// tolerance of five minutes against replays of old signatures, and as much into the future:
// stripe-go checks only the past, so a signature made for a far-future time would replay
// until then) and reads what it says. Without a secret nothing verifies.
func parseStripeEvent(payload []byte, signature, secret string) (notice, error) {
	if secret == "" || signature == "" || len(signature) > 4096 {
		return notice{}, errBadSignature
	}
	if at, ok := signedAt(signature); !ok || at.After(time.Now().Add(webhook.DefaultTolerance)) {
		return notice{}, errBadSignature
	}
	if len(payload) > maxWebhookBytes {
		return notice{}, fmt.Errorf("%w: larger than %d bytes", errBadPayload, maxWebhookBytes)
	}
	ev, err := webhook.ConstructEventWithOptions(payload, signature, secret, webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
	switch {
	case errors.Is(err, webhook.ErrNotSigned), errors.Is(err, webhook.ErrInvalidHeader),
		errors.Is(err, webhook.ErrNoValidSignature), errors.Is(err, webhook.ErrTooOld):
		return notice{}, errBadSignature
	case err != nil:
		return notice{}, fmt.Errorf("%w: %v", errBadPayload, err)
	}
	if checkText(ev.ID, maxKeyBytes) != "" || checkText(string(ev.Type), maxKeyBytes) != "" || ev.ID == "" || ev.Data == nil {
		return notice{}, fmt.Errorf("%w: event id, type or data missing or malformed", errBadPayload)
	}
	return noticeOf(ev)
}

// signedAt is the time a Stripe-Signature header says it was made (its t=).
func signedAt(header string) (time.Time, bool) {
	for _, part := range strings.Split(header, ",") {
		if v, ok := strings.CutPrefix(part, "t="); ok {
			sec, err := strconv.ParseInt(v, 10, 64)
			return time.Unix(sec, 0), err == nil
		}
	}
	return time.Time{}, false
}

// noticeOf reads what a verified event says of an intent or its refunds; an event of any
// other type is a notice of nothing, recorded all the same.
func noticeOf(ev stripe.Event) (notice, error) {
	n := notice{EventID: ev.ID, Type: string(ev.Type)}
	switch ev.Type {
	case "payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled",
		"payment_intent.processing", "payment_intent.requires_action":
		var pi stripe.PaymentIntent
		if err := json.Unmarshal(ev.Data.Raw, &pi); err != nil || pi.ID == "" {
			return notice{}, fmt.Errorf("%w: %s without a payment intent", errBadPayload, ev.Type)
		}
		in := stripeIntent(&pi)
		switch ev.Type {
		case "payment_intent.succeeded":
			in.Status, in.DeclineCode = subjects.PaymentStatusSucceeded, ""
		case "payment_intent.payment_failed":
			in.Status, in.DeclineCode = subjects.PaymentStatusFailed, "payment_failed"
			if pi.LastPaymentError != nil {
				in.DeclineCode = declineCode(pi.LastPaymentError)
			}
		}
		in.ClientSecret = "" // a webhook's secret is nobody's to pass on
		n.Intent, n.PaymentID, n.OrderID = &in, metadataID(pi.Metadata, "payment_id"), metadataID(pi.Metadata, "order_id")
	case "refund.created", "refund.updated", "refund.failed", "charge.refund.updated":
		var r stripe.Refund
		if err := json.Unmarshal(ev.Data.Raw, &r); err != nil || r.ID == "" {
			return notice{}, fmt.Errorf("%w: %s without a refund", errBadPayload, ev.Type)
		}
		n.Refunds = []refundNotice{{RefundID: metadataID(r.Metadata, "refund_id"), Result: stripeRefund(&r)}}
	case "charge.refunded":
		var ch stripe.Charge
		if err := json.Unmarshal(ev.Data.Raw, &ch); err != nil {
			return notice{}, fmt.Errorf("%w: %s without a charge", errBadPayload, ev.Type)
		}
		if ch.Refunds != nil { // listed only when the endpoint's API version expands it
			for _, r := range ch.Refunds.Data {
				n.Refunds = append(n.Refunds, refundNotice{RefundID: metadataID(r.Metadata, "refund_id"), Result: stripeRefund(r)})
			}
		}
	}
	return n, nil
}

// metadataID reads a Souk id that Souk put in an object's metadata; uuid.Nil when absent.
func metadataID(md map[string]string, key string) uuid.UUID {
	id, err := uuid.Parse(md[key])
	if err != nil {
		return uuid.Nil
	}
	return id
}

// ApplyNotices applies providers' notices (webhook events, sandbox decisions) in one
// transaction, each once: its event id is recorded with its effect, so a replay changes
// nothing. A notice about a payment or refund this service does not know is recorded and
// ignored. A notice that fails is rolled back alone; its error is returned beside the
// others' effect.
func (s *store) ApplyNotices(ctx context.Context, ns []notice) (effect, error) {
	ns = slices.SortedFunc(slices.Values(ns), func(a, b notice) int { return bytes.Compare(a.OrderID[:], b.OrderID[:]) })
	return s.lockedBatch(ctx, len(ns), func(ctx context.Context, tx pgx.Tx, i int, lock string) (effect, error) {
		return s.applyNotice(ctx, tx, ns[i], lock)
	})
}

func (s *store) applyNotice(ctx context.Context, tx pgx.Tx, n notice, lock string) (effect, error) {
	var eff effect
	tag, err := tx.Exec(ctx, `insert into payments.webhook_events (id, type) values ($1, $2) on conflict do nothing`, n.EventID, n.Type)
	if err != nil || tag.RowsAffected() == 0 {
		return eff, err // a replay: applied before
	}
	if n.Intent != nil {
		id, err := s.resolve(ctx, tx, "payments.payments", n.PaymentID, n.Intent.Ref)
		if err != nil || id == uuid.Nil {
			return eff, err
		}
		_, e, err := s.recordIntent(ctx, tx, id, *n.Intent, lock)
		if err != nil {
			return eff, err
		}
		eff.add(e)
	}
	for _, rn := range n.Refunds {
		id, err := s.resolve(ctx, tx, "payments.refunds", rn.RefundID, rn.Result.Ref)
		if err != nil {
			return eff, err
		}
		if id != uuid.Nil {
			_, e, err := recordRefund(ctx, tx, id, rn.Result, lock)
			if err != nil {
				return eff, err
			}
			eff.add(e)
		}
	}
	return eff, nil
}

// resolve finds the row of table (payments or refunds) that a notice is about: by the id
// in its metadata, else by the provider's ref; uuid.Nil when neither names one of ours.
func (s *store) resolve(ctx context.Context, tx pgx.Tx, table string, id uuid.UUID, ref string) (uuid.UUID, error) {
	var found uuid.UUID
	var err error
	if id != uuid.Nil {
		err = tx.QueryRow(ctx, `select id from `+table+` where id = $1`, id).Scan(&found)
	}
	if found == uuid.Nil && ref != "" && checkText(ref, maxKeyBytes) == "" && (err == nil || errors.Is(err, pgx.ErrNoRows)) {
		err = tx.QueryRow(ctx, `select id from `+table+` where provider_ref = $1`, ref).Scan(&found)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, nil
	}
	return found, err
}
