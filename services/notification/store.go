package notification

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/souk/souk/platform/page"
	"github.com/souk/souk/platform/seal"
	"github.com/souk/souk/subjects"
)

// maxErrorText bounds the error kept with a delivery and its attempts.
const maxErrorText = 500

// maxSubject bounds the subject line kept with a delivery.
const maxSubject = 300

// Store is the notify schema. The webhook secrets are sealed there (secretColumn).
type Store struct {
	db   *pgxpool.Pool
	seal *seal.Keyring
}

// secretColumn is where the webhook secrets are kept: sealed, bound to their endpoint's id.
var secretColumn = seal.Column{Table: "notify.webhook_endpoints", ID: "id", Clear: "secret", Sealed: "secret_sealed"}

// unopenedSecret is the error of a delivery whose endpoint's secret does not open.
const unopenedSecret = "the endpoint's secret does not open with SOUK_SECRET_KEY or SOUK_SECRET_KEYS_OLD"

// keepRecipient writes r into the recipient copy unless a newer event wrote it already.
func keepRecipient(ctx context.Context, tx pgx.Tx, r Recipient, version time.Time) error {
	_, err := tx.Exec(ctx, `insert into notify.recipients (user_id, email, name, locale, version) values ($1, $2, $3, $4, $5)
		on conflict (user_id) do update set email = excluded.email, name = excluded.name, locale = excluded.locale, version = excluded.version
		where recipients.version <= excluded.version`, r.UserID, r.Email, r.Name, r.Locale, version)
	return err
}

// email is an email to write for an event.
type email struct {
	eventID, eventType, template string
	userID                       uuid.UUID
	data                         []byte
	// secret marks data that holds a secret (the verification link): wiped once done.
	secret bool
	// traceParent is the trace context of the event's handling (platform/trace.Parent): the
	// worker sends the email in that trace.
	traceParent string
}

// queueEmail queues into b the email delivery of e, unless the event already has one for the
// user.
func queueEmail(b *pgx.Batch, e email) {
	b.Queue(`insert into notify.deliveries (event_id, event_type, channel, recipient, user_id, template, payload, secret, trace_parent)
		values ($1, $2, 'email', $3, $4, $5, $6, $7, nullif($8, '')) on conflict (event_id, channel, recipient) do nothing`,
		e.eventID, e.eventType, e.userID.String(), e.userID, e.template, e.data, e.secret, e.traceParent)
}

// queueWebhooks queues into b one delivery of body per endpoint subscribed to eventType,
// unless the event already has one for that endpoint; traceParent is the trace they are
// sent in.
func queueWebhooks(b *pgx.Batch, eventID, eventType string, body []byte, traceParent string) {
	b.Queue(`insert into notify.deliveries (event_id, event_type, channel, recipient, endpoint_id, payload, trace_parent)
		select $1::text, $2::text, 'webhook', e.id::text, e.id, $3::bytea, nullif($4::text, '') from notify.webhook_endpoints e where $2::text = any(e.events)
		on conflict (event_id, channel, recipient) do nothing`, eventID, eventType, body, traceParent)
}

// claim takes up to limit due pending deliveries, counts the attempt and leases them for
// lease (a worker that dies mid-send leaves them to be tried again after it), in one
// statement; SKIP LOCKED lets instances share the work. Each comes with its recipient or
// endpoint.
func (s *Store) claim(ctx context.Context, limit int, lease time.Duration) ([]Delivery, error) {
	rows, err := s.db.Query(ctx, `with due as (
			select id from notify.deliveries where status = 'pending' and next_attempt_at <= now()
			order by next_attempt_at limit $1 for update skip locked),
		claimed as (
			update notify.deliveries d set attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => $2)
			from due where d.id = due.id
			returning d.id, d.event_id, d.event_type, d.channel, d.template, d.payload, d.attempts, d.user_id, d.endpoint_id, d.trace_parent)
		select c.id, c.event_id, c.event_type, c.channel, c.template, c.payload, c.attempts, coalesce(c.trace_parent, ''),
			r.user_id, coalesce(r.email, ''), coalesce(r.name, ''), coalesce(r.locale, ''),
			e.id, coalesce(e.url, ''), e.secret, e.secret_sealed
		from claimed c left join notify.recipients r on r.user_id = c.user_id
			left join notify.webhook_endpoints e on e.id = c.endpoint_id`, limit, lease.Seconds())
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	var unopened []uuid.UUID
	ds, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Delivery, error) {
		var d Delivery
		var userID, endpointID *uuid.UUID
		var r Recipient
		var e Endpoint
		var clear, sealed []byte
		err := row.Scan(&d.ID, &d.EventID, &d.EventType, &d.Channel, &d.Template, &d.Payload, &d.Attempts, &d.TraceParent,
			&userID, &r.Email, &r.Name, &r.Locale, &endpointID, &e.URL, &clear, &sealed)
		if userID != nil {
			r.UserID, d.Recipient = *userID, &r
		}
		if endpointID != nil && err == nil {
			e.ID, d.Endpoint = *endpointID, &e
			secret, oerr := s.seal.OpenRow(secretColumn, e.ID.String(), clear, sealed)
			if oerr != nil {
				unopened = append(unopened, d.ID)
			}
			e.Secret = string(secret)
		}
		return d, err
	})
	if err != nil || len(unopened) == 0 {
		return ds, err
	}
	return slices.DeleteFunc(ds, func(d Delivery) bool { return slices.Contains(unopened, d.ID) }), s.failUnopened(ctx, unopened)
}

// failUnopened fails the deliveries whose endpoint's secret does not open (sealed under a
// key this process lacks, or moved from another row): unsigned, or signed with a wrong
// secret, they would be worthless to the receiver.
func (s *Store) failUnopened(ctx context.Context, ids []uuid.UUID) error {
	_, err := s.db.Exec(ctx, `update notify.deliveries set status = 'failed', last_error = $2 where id = any($1) and status = 'pending'`,
		ids, unopenedSecret)
	if err != nil {
		return fmt.Errorf("claim deliveries: %w", err)
	}
	return nil
}

// record writes the outcomes of one round in one transaction: each attempt, and each
// delivery's new status (sent; failed with its error after maxAttempts or a permanent
// failure; else pending again after backoff(attempts)). A delivery that is done loses its
// payload if it held a secret. It reports, by outcome, whether this transaction recorded the
// attempt (another instance whose lease on the delivery ran out may have recorded it first).
func (s *Store) record(ctx context.Context, outs []outcome, maxAttempts int, backoff func(int) time.Duration) ([]bool, error) {
	recorded := make([]bool, len(outs))
	batch := &pgx.Batch{}
	for i, o := range outs {
		msg := ""
		if o.err != nil {
			msg = subjects.CutBytes(o.err.Error(), maxErrorText)
		}
		batch.Queue(`insert into notify.attempts (delivery_id, n, error) values ($1, $2, $3) on conflict do nothing`, o.id, o.attempts, msg).
			Exec(func(tag pgconn.CommandTag) error { recorded[i] = tag.RowsAffected() == 1; return nil })
		batch.Queue(`update notify.deliveries set status = $2, last_error = $3,
				sent_at = case when $2 = 'sent' then now() end,
				lang = case when $2 = 'sent' then $5 else lang end, subject = case when $2 = 'sent' then $6 else subject end,
				next_attempt_at = now() + make_interval(secs => $4),
				payload = case when secret and $2 <> 'pending' then '\x7b7d'::bytea else payload end
			where id = $1 and status = 'pending'`,
			o.id, o.status(maxAttempts), msg, backoff(o.attempts).Seconds(), o.sent.Lang, subjects.CutBytes(o.sent.Subject, maxSubject))
	}
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error { return tx.SendBatch(ctx, batch).Close() })
	if err != nil {
		return nil, fmt.Errorf("record deliveries: %w", err)
	}
	return recorded, nil
}

// notifications returns up to r.Limit+1 of user's notifications, newest first, before
// r.After: the caller cuts the page with page.Next.
func (s *Store) notifications(ctx context.Context, user uuid.UUID, r page.Request) ([]subjects.Notification, error) {
	before := uuid.Max
	if r.After != nil {
		before = r.After.ID
	}
	rows, err := s.db.Query(ctx, `select id, channel, template, lang, subject, status, sent_at, created_at from notify.deliveries
		where user_id = $1 and id < $2 order by id desc limit $3`, user, before, r.Limit+1)
	if err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (subjects.Notification, error) {
		var n subjects.Notification
		var id uuid.UUID
		err := row.Scan(&id, &n.Channel, &n.Template, &n.Lang, &n.Subject, &n.Status, &n.SentAt, &n.CreatedAt)
		n.ID = id.String()
		n.SentAt, n.CreatedAt = utc(n.SentAt), n.CreatedAt.UTC()
		return n, err
	})
}

// createEndpoint stores a new endpoint and returns it.
func (s *Store) createEndpoint(ctx context.Context, url string, events []string, secret string) (Endpoint, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return Endpoint{}, err
	}
	e := Endpoint{ID: id, URL: url, Events: events, Secret: secret}
	sealed, err := s.seal.Seal([]byte(secret), secretColumn.Place(id.String()))
	if err != nil {
		return e, fmt.Errorf("create webhook endpoint: %w", err)
	}
	err = s.db.QueryRow(ctx, `insert into notify.webhook_endpoints (id, url, events, secret_sealed) values ($1, $2, $3, $4) returning created_at`,
		id, url, events, sealed).Scan(&e.CreatedAt)
	if err != nil {
		return e, fmt.Errorf("create webhook endpoint: %w", err)
	}
	return e, nil
}

// deleteEndpoint removes an endpoint and its deliveries; ErrNotFound when there is none.
func (s *Store) deleteEndpoint(ctx context.Context, id uuid.UUID) error {
	tag, err := s.db.Exec(ctx, `delete from notify.webhook_endpoints where id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete webhook endpoint: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// endpoints returns up to r.Limit+1 endpoints after r.After, oldest first (the caller cuts
// the page with page.Next), each with its `recent` newest deliveries; never their secrets.
func (s *Store) endpoints(ctx context.Context, r page.Request, recent int) ([]subjects.Webhook, error) {
	after := uuid.Nil
	if r.After != nil {
		after = r.After.ID
	}
	rows, err := s.db.Query(ctx, `select e.id, e.url, e.events, e.created_at,
			d.id, coalesce(d.event_id, ''), coalesce(d.event_type, ''), coalesce(d.status, ''), coalesce(d.attempts, 0),
			coalesce(d.last_error, ''), d.sent_at, d.created_at
		from (select * from notify.webhook_endpoints where id > $1 order by id limit $2) e
		left join lateral (select * from notify.deliveries x where x.endpoint_id = e.id order by x.id desc limit $3) d on true
		order by e.id, d.id desc`, after, r.Limit+1, recent)
	if err != nil {
		return nil, fmt.Errorf("list webhook endpoints: %w", err)
	}
	defer rows.Close()
	var out []subjects.Webhook
	for rows.Next() {
		var id uuid.UUID
		var w subjects.Webhook
		var did *uuid.UUID
		var d subjects.WebhookDelivery
		var created *time.Time
		if err := rows.Scan(&id, &w.URL, &w.Events, &w.CreatedAt, &did, &d.EventID, &d.Type, &d.Status, &d.Attempts,
			&d.LastError, &d.SentAt, &created); err != nil {
			return nil, fmt.Errorf("list webhook endpoints: %w", err)
		}
		if n := len(out); n == 0 || out[n-1].ID != id.String() {
			w.ID, w.CreatedAt = id.String(), w.CreatedAt.UTC()
			out = append(out, w)
		}
		if did != nil {
			d.ID, d.SentAt, d.CreatedAt = did.String(), utc(d.SentAt), created.UTC()
			last := &out[len(out)-1]
			last.Deliveries = append(last.Deliveries, d)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list webhook endpoints: %w", err)
	}
	return out, nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
