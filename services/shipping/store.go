package shipping

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/page"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/platform/trace"
	"github.com/souk/souk/subjects"
)

// Store is the shipping schema. Every change of a shipment adds its events to the outbox in
// the same transaction.
type Store struct {
	db *pgxpool.Pool
}

// NewStore returns a Store over db.
func NewStore(db *pgxpool.Pool) *Store { return &Store{db: db} }

const shipmentColumns = `id, order_id, user_id, status, carrier, coalesce(tracking_number, ''), coalesce(cancel_reason, ''),
	lines, shipping_address, created_at, updated_at, coalesce(trace_parent, '')`

func scanShipment(row pgx.Row) (*Shipment, error) {
	var s Shipment
	err := row.Scan(&s.ID, &s.OrderID, &s.UserID, &s.Status, &s.Carrier, &s.TrackingNumber, &s.CancelReason,
		&s.Lines, &s.ShippingAddress, &s.CreatedAt, &s.UpdatedAt, &s.TraceParent)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return &s, err
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// find returns the shipment selected by where (a condition on $1), with its history; lock
// takes its row lock (q must be a transaction then).
func find(ctx context.Context, q querier, where string, arg any, lock bool) (*Shipment, error) {
	sql := `select ` + shipmentColumns + ` from shipping.shipments where ` + where
	if lock {
		sql += ` for update`
	}
	s, err := scanShipment(q.QueryRow(ctx, sql, arg))
	if err != nil {
		return nil, err
	}
	rows, err := q.Query(ctx, `select status, coalesce(reason, ''), coalesce(tracking_number, ''), at
		from shipping.history where shipment_id = $1 order by seq`, s.ID)
	if err != nil {
		return nil, err
	}
	s.History, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (subjects.ShipmentStatus, error) {
		var h subjects.ShipmentStatus
		err := r.Scan(&h.Status, &h.Reason, &h.TrackingNumber, &h.At)
		h.At = h.At.UTC()
		return h, err
	})
	return s, err
}

// Get returns a shipment by its id.
func (s *Store) Get(ctx context.Context, id uuid.UUID) (*Shipment, error) {
	return find(ctx, s.db, `id = $1`, id, false)
}

// ByOrder returns an order's shipment.
func (s *Store) ByOrder(ctx context.Context, order uuid.UUID) (*Shipment, error) {
	return find(ctx, s.db, `order_id = $1`, order, false)
}

// queueHistory queues the inserts of entries, the shipment's history from position from on.
func queueHistory(b *pgx.Batch, id uuid.UUID, from int, entries []subjects.ShipmentStatus) {
	for i, h := range entries {
		b.Queue(`insert into shipping.history (shipment_id, seq, status, reason, tracking_number, at)
			values ($1, $2, $3, nullif($4, ''), nullif($5, ''), $6)`, id, from+i, h.Status, h.Reason, h.TrackingNumber, h.At)
	}
}

// Create stores a new shipment, its first history entry and its created event, inside tx.
// It reports false, writing nothing, when the order has a shipment already or was cancelled
// before it had one.
func (s *Store) Create(ctx context.Context, tx pgx.Tx, sh *Shipment) (bool, error) {
	tag, err := tx.Exec(ctx, `insert into shipping.shipments (id, order_id, user_id, status, carrier, lines, shipping_address, created_at, updated_at, trace_parent)
		select $1, $2, $3, $4, $5, $6, $7, $8, $8, nullif($9, '')
		where not exists (select 1 from shipping.cancelled_orders where order_id = $2)
		on conflict (order_id) do nothing`,
		sh.ID, sh.OrderID, sh.UserID, sh.Status, sh.Carrier, sh.Lines, sh.ShippingAddress, sh.CreatedAt, trace.Parent(ctx))
	if err != nil || tag.RowsAffected() == 0 {
		return false, err
	}
	b := &pgx.Batch{}
	queueHistory(b, sh.ID, 0, sh.History)
	if err := outbox.Queue(ctx, b, Schema, event(sh, "")); err != nil {
		return false, err
	}
	return true, pg.Send(ctx, tx, b)
}

// Change is what an update of a shipment decides: it changes the shipment (appending to its
// history) or returns an error; appending nothing writes nothing.
type Change func(sh *Shipment) error

// update applies fn to the shipment selected by where under its row lock, inside tx, and
// writes what changed: the row, the new history entries and one event per entry.
func (s *Store) update(ctx context.Context, tx pgx.Tx, where string, arg any, fn Change) (*Shipment, error) {
	sh, err := find(ctx, tx, where, arg, true)
	if err != nil {
		return nil, err
	}
	seen, from := len(sh.History), sh.Status
	if err := fn(sh); err != nil || len(sh.History) == seen {
		return sh, err
	}
	b := &pgx.Batch{} // every write in one round trip
	b.Queue(`update shipping.shipments set status = $2, carrier = $3, tracking_number = nullif($4, ''),
		cancel_reason = nullif($5, ''), updated_at = $6 where id = $1`,
		sh.ID, sh.Status, sh.Carrier, sh.TrackingNumber, sh.CancelReason, sh.UpdatedAt)
	queueHistory(b, sh.ID, seen, sh.History[seen:])
	if err := outbox.Queue(ctx, b, Schema, event(sh, from)); err != nil {
		return nil, err
	}
	return sh, pg.Send(ctx, tx, b)
}

// UpdateNow applies fn to the shipment id (or, with byOrder, to the order id's shipment) in
// a transaction of its own. ErrNotFound when there is none.
func (s *Store) UpdateNow(ctx context.Context, id uuid.UUID, byOrder bool, fn Change) (*Shipment, error) {
	where := `id = $1`
	if byOrder {
		where = `order_id = $1`
	}
	var sh *Shipment
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var err error
		sh, err = s.update(ctx, tx, where, id, fn)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("update shipment: %w", err)
	}
	return sh, nil
}

// CancelOrder cancels the order's shipment inside tx, if it has one that has not left;
// without one it remembers the order, so that a late order.paid creates none. A shipment
// that has left is ErrLeft.
func (s *Store) CancelOrder(ctx context.Context, tx pgx.Tx, order uuid.UUID, reason string) error {
	_, err := s.update(ctx, tx, `order_id = $1`, order, cancelChange(reason))
	if !errors.Is(err, ErrNotFound) {
		return err
	}
	_, err = tx.Exec(ctx, `insert into shipping.cancelled_orders (order_id, reason) values ($1, nullif($2, ''))
		on conflict do nothing`, order, reason)
	return err
}

// cancelChange cancels a shipment that has not left for reason.
func cancelChange(reason string) Change {
	return func(sh *Shipment) error {
		_, err := sh.cancel(reason, now())
		return err
	}
}

// event is the event of the shipment's latest status, which it reached from from.
func event(sh *Shipment, from string) outbox.Event {
	id := outbox.NewID()
	last := sh.History[len(sh.History)-1]
	return outbox.Event{ID: id, Subject: subjects.ShipmentEventKind(last.Status).Subject(sh.OrderID.String()),
		Payload: subjects.ShipmentEvent{EventID: id.String(), OccurredAt: last.At, ShipmentID: sh.ID.String(),
			OrderID: sh.OrderID.String(), UserID: sh.UserID.String(), Status: last.Status, From: from, Carrier: sh.Carrier,
			TrackingNumber: sh.TrackingNumber, Lines: sh.Lines, Reason: last.Reason}}
}

// List returns up to r.Limit+1 shipments in any of statuses, oldest first, after r.After,
// each with its history: the caller cuts the page with page.Next. Each status is read as
// one oldest-first scan of shipments_by_status that stops after a page (a lateral join
// over the set), and the scans are merged; status = any(…) would read every shipment of
// those statuses to sort them. Ordering each scan by status too, matched with
// any(array[…]), leaves the planner that index alone (see the order service's adminQuery).
func (s *Store) List(ctx context.Context, statuses []string, r page.Request) ([]*Shipment, error) {
	args := []any{statuses, r.Limit + 1}
	after := ""
	if r.After != nil {
		after, args = " and (created_at, id) > ($3, $4)", append(args, r.After.At, r.After.ID)
	}
	rows, err := s.db.Query(ctx, `select `+shipmentColumns+` from unnest($1::text[]) as wanted (st)
		cross join lateral (select * from shipping.shipments where status = any(array[wanted.st])`+after+`
			order by status, created_at, id limit $2) as s
		order by created_at, id limit $2`, args...)
	if err != nil {
		return nil, fmt.Errorf("list shipments: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Shipment, error) { return scanShipment(r) })
	if err != nil || len(list) == 0 {
		return list, err
	}
	byID := make(map[uuid.UUID]*Shipment, len(list))
	ids := make([]uuid.UUID, len(list))
	for i, sh := range list {
		byID[sh.ID], ids[i] = sh, sh.ID
	}
	rows, err = s.db.Query(ctx, `select shipment_id, status, coalesce(reason, ''), coalesce(tracking_number, ''), at
		from shipping.history where shipment_id = any($1) order by shipment_id, seq`, ids)
	if err != nil {
		return nil, fmt.Errorf("list shipments' history: %w", err)
	}
	var id uuid.UUID
	var h subjects.ShipmentStatus
	_, err = pgx.ForEachRow(rows, []any{&id, &h.Status, &h.Reason, &h.TrackingNumber, &h.At}, func() error {
		h.At = h.At.UTC()
		byID[id].History = append(byID[id].History, h)
		return nil
	})
	return list, err
}
