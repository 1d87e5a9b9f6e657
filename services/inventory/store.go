package inventory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/souk/souk/platform/liveconfig"
	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/subjects"
)

// DefaultReservationTTL is how long a hold waits for its payment unless configured
// (Config.ReservationTTL).
const DefaultReservationTTL = 15 * time.Minute

// Store is the inventory schema. Every change others must learn of adds its events to the
// outbox in its own transaction (the service kit wakes the relay once the unit of work that
// wrote them is done: see outbox.Track).
//
// Locks are taken in one order everywhere: reservation rows first (the saga and the
// sweeper), then stock rows in SKU order (SELECT … ORDER BY sku FOR UPDATE). The Reserver
// locks stock rows only and inserts reservation rows that did not exist.
type Store struct {
	db *pgxpool.Pool
	// ttl is how long a hold waits for its payment: read for each hold, so that a live
	// change (inventory.reservation_ttl) applies from the next reservation on; the holds
	// made before keep their deadline.
	ttl *liveconfig.Value[time.Duration]
	// counts are the business and edge counters (metrics.go); nil counts nothing.
	counts *counts
}

// NewStore returns a Store over db whose holds last ttl.
func NewStore(db *pgxpool.Pool, ttl time.Duration) *Store {
	return &Store{db: db, ttl: liveconfig.ReservationTTL.Bind(nil, ttl)}
}

// expiresAt is the deadline of a hold made now, at PostgreSQL's precision, so that a reply
// and a later read of the same reservation agree to the microsecond.
func (s *Store) expiresAt() time.Time {
	return time.Now().Add(s.ttl.Load()).UTC().Truncate(time.Microsecond)
}

// pipelined runs fn on a connection of its own for a transaction that fn begins and commits
// inside its batches (BEGIN queued in its first, COMMIT in its last). The hot SKU's reservation batches run this way: the stock row's lock is then
// held for one round trip and the commit, not for a round trip more to send COMMIT, and
// BEGIN costs none. When fn fails, whatever it left open is rolled back; a connection that
// still is not idle is closed rather than handed back to the pool.
func (s *Store) pipelined(ctx context.Context, fn func(conn *pgx.Conn) error) error {
	c, err := s.db.Acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	conn := c.Conn()
	if err := fn(conn); err != nil {
		if conn.PgConn().TxStatus() != 'I' {
			if _, rerr := conn.Exec(ctx, `rollback`); rerr != nil {
				_ = conn.Close(ctx)
			}
		}
		return err
	}
	if conn.PgConn().TxStatus() != 'I' { // fn did not commit: a bug, never a silent commit
		_ = conn.Close(ctx)
		return errors.New("inventory: pipelined transaction left open")
	}
	return nil
}

const levelColumns = `sku, on_hand, reserved, version, updated_at`

func scanLevel(row pgx.CollectableRow) (*Level, error) {
	var l Level
	err := row.Scan(&l.SKU, &l.OnHand, &l.Reserved, &l.Version, &l.UpdatedAt)
	return &l, err
}

// Get returns a SKU's counts; ErrNotFound when it has never had any.
func (s *Store) Get(ctx context.Context, sku string) (*Level, error) {
	rows, err := s.db.Query(ctx, `select `+levelColumns+` from inventory.stock where sku = $1`, sku)
	if err != nil {
		return nil, err
	}
	l, err := pgx.CollectExactlyOneRow(rows, scanLevel)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return l, err
}

// Set sets a SKU's physical count, creating its row when it has none. A count below what is
// reserved is a *BelowReservedError and changes nothing; the same count again changes nothing
// and publishes nothing.
func (s *Store) Set(ctx context.Context, sku string, onHand int64) (*Level, error) {
	var out *Level
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `insert into inventory.stock (sku) values ($1) on conflict do nothing`, sku); err != nil {
			return err
		}
		ls, err := lockLevels(ctx, tx, []string{sku})
		if err != nil {
			return err
		}
		out = ls[sku]
		if onHand < out.Reserved {
			return &BelowReservedError{SKU: sku, OnHand: onHand, Reserved: out.Reserved}
		}
		out.add(onHand-out.OnHand, 0)
		return record(ctx, tx, ls, nil, nil)
	})
	return out, err
}

// lockLevels locks the stock rows of skus and returns them; a SKU without a row is absent.
func lockLevels(ctx context.Context, tx pgx.Tx, skus []string) (Levels, error) {
	var ls Levels
	b := &pgx.Batch{}
	queueLockLevels(b, skus, &ls)
	return ls, tx.SendBatch(ctx, b).Close()
}

// queueLockLevels queues the locking of the stock rows of skus, in SKU order, into b; into
// receives them once the batch has run.
func queueLockLevels(b *pgx.Batch, skus []string, into *Levels) {
	queueLock(b, `sku = any($1)`, skus, into)
}

// queueLock queues the locking of the stock rows where cond holds (with $1 = arg), in SKU
// order, into b; into receives them once the batch has run.
func queueLock(b *pgx.Batch, cond string, arg any, into *Levels) {
	b.Queue(`select `+levelColumns+` from inventory.stock where `+cond+` order by sku for update`, arg).
		Query(func(rows pgx.Rows) error {
			list, err := pgx.CollectRows(rows, scanLevel)
			if err != nil {
				return fmt.Errorf("lock stock: %w", err)
			}
			ls := make(Levels, len(list))
			for _, l := range list {
				ls[l.SKU] = l
			}
			*into = ls
			return nil
		})
}

// queueWriteLevels queues the changes of levels as one statement into b: as deltas, so that a
// lost update is impossible even if a caller forgot a lock, with each version bumped. The
// caller holds the rows' locks, so each new version is the one read plus one, which the
// events carry before the rows are written. The statement itself checks that: a row that is
// not at the version read is not written, and then the statement fails, so the transaction
// rolls back even when COMMIT is already queued behind it (see failUnless). The callback
// only takes the new versions and updated_at.
func queueWriteLevels(b *pgx.Batch, levels []*Level) {
	skus := make([]string, len(levels))
	dOnHand := make([]int64, len(levels))
	dReserved := make([]int64, len(levels))
	versions := make([]int64, len(levels))
	bySKU := make(map[string]*Level, len(levels))
	for i, l := range levels {
		skus[i], dOnHand[i], dReserved[i], versions[i] = l.SKU, l.dOnHand, l.dReserved, l.Version
		bySKU[l.SKU] = l
	}
	b.Queue(`with w as (
			update inventory.stock s set on_hand = s.on_hand + d.on_hand,
				reserved = s.reserved + d.reserved, version = s.version + 1, updated_at = now()
			from unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) as d(sku, on_hand, reserved, version)
			where s.sku = d.sku and s.version = d.version
			returning s.sku, s.on_hand, s.reserved, s.version, s.updated_at
		), n as (select count(*) as written from w)
		select w.sku, w.on_hand, w.reserved, w.version, w.updated_at from n left join w on true
		where `+failUnless(`n.written = cardinality($1::text[])`,
		`'write stock: ' || n.written || ' of ' || cardinality($1::text[]) || ' rows at the version locked'`),
		skus, dOnHand, dReserved, versions).
		Query(func(rows pgx.Rows) error {
			written, err := pgx.CollectRows(rows, scanLevel)
			if err != nil {
				return fmt.Errorf("write stock: %w", err)
			}
			for _, w := range written {
				if l := bySKU[w.SKU]; l != nil {
					l.Version, l.UpdatedAt = w.Version, w.UpdatedAt
				}
			}
			return nil
		})
}

// failUnless is a SQL boolean expression that is true when cond is and otherwise fails the
// statement with msg (a SQL text expression) in its error, SQLSTATE 22P02. Checks of a
// pipelined transaction must fail on the server: its COMMIT is already queued behind them,
// and a check made on the client once the results are read cannot roll anything back.
// (Casting a text that is no number to int is the one way to raise an error in plain SQL
// without a function in the schema; the text is computed per row, so it is never folded at
// plan time.)
func failUnless(cond, msg string) string {
	return `(case when ` + cond + ` then true else (` + msg + `)::int = 0 end)`
}

// levelEvent is the stock_changed event of a changed level, before it is written: its
// version is the one locked plus one.
func levelEvent(l *Level) outbox.Event {
	id := outbox.NewID()
	return outbox.Event{ID: id, Subject: subjects.EvtStockLevel.Subject(l.SKU), Payload: subjects.StockLevel{
		EventID: id.String(), OccurredAt: time.Now().UTC(), SKU: l.SKU,
		OnHand: l.OnHand, Reserved: l.Reserved, Available: l.Available(), Version: l.Version + 1,
	}}
}

// announcements are the events each reservation status is announced by.
var announcements = map[string]subjects.Event[subjects.ReservationEvent]{
	subjects.ReservationHeld:      subjects.EvtInventoryReserved,
	subjects.ReservationRejected:  subjects.EvtInventoryRejected,
	subjects.ReservationCommitted: subjects.EvtInventoryCommitted,
	subjects.ReservationReleased:  subjects.EvtInventoryReleased,
	subjects.ReservationExpired:   subjects.EvtInventoryExpired,
}

// reservationEvent announces r's status.
func reservationEvent(r *Reservation) outbox.Event {
	id := outbox.NewID()
	return outbox.Event{ID: id, Subject: announcements[r.Status].Subject(r.OrderID.String()), Payload: subjects.ReservationEvent{
		EventID: id.String(), OccurredAt: time.Now().UTC(), OrderID: r.OrderID.String(), Status: r.Status,
		Lines: wireLines(r.Lines), ExpiresAt: r.ExpiresAt, Reason: r.Reason, Short: r.Short,
	}}
}

// record ends every transaction that moves stock or changes reservations, in one round
// trip: it saves the new status of each reservation of updated and the changed levels (whose
// Version and UpdatedAt it then brings up to date), adds one stock_changed per SKU whose
// available quantity changed and one event per reservation of announced to the outbox, and then runs the statements of
// then (COMMIT, for a pipelined transaction). Its checks run in the statements, before
// then: a failing one rolls everything back.
func record(ctx context.Context, tx pg.Batcher, ls Levels, updated, announced []*Reservation, then ...string) error {
	b := &pgx.Batch{}
	if len(updated) > 0 {
		queueSaveStatuses(b, updated)
	}
	changed := ls.Changed()
	if len(changed) > 0 {
		queueWriteLevels(b, changed)
	}
	events := make([]outbox.Event, 0, len(changed)+len(announced))
	for _, l := range changed {
		// Only a change of what can be sold is news: a commit takes reserved goods off the
		// shelf, on hand and reserved down together, and leaves available as it was; it
		// was half of the stock_changed events of a checkout, each an outbox row, a
		// publish and a catalog write (issue 17).
		if l.dOnHand != l.dReserved {
			events = append(events, levelEvent(l))
		}
	}
	for _, r := range announced {
		events = append(events, reservationEvent(r))
	}
	if err := outbox.Queue(ctx, b, Schema, events...); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	for _, q := range then {
		b.Queue(q)
	}
	if err := pg.Send(ctx, tx, b); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	return nil
}

// queueLoadReservations queues the reads of the reservations of ids (locked when lock) and
// of their lines into b; into receives them once the batch has run.
func queueLoadReservations(b *pgx.Batch, ids []uuid.UUID, lock bool, into map[uuid.UUID]*Reservation) {
	q := `select order_id, status, expires_at, reason, short from inventory.reservations where order_id = any($1)`
	if lock {
		q += ` order by order_id for update`
	}
	b.Queue(q, ids).Query(func(rows pgx.Rows) error {
		var r Reservation
		var expires *time.Time
		_, err := pgx.ForEachRow(rows, []any{&r.OrderID, &r.Status, &expires, &r.Reason, &r.Short}, func() error {
			c := r
			r = Reservation{} // the next row scans into fresh slices
			if expires != nil {
				c.ExpiresAt = expires.UTC()
			}
			if len(c.Short) == 0 {
				c.Short = nil
			}
			into[c.OrderID] = &c
			return nil
		})
		return err
	})
	b.Queue(`select order_id, sku, quantity from inventory.reservation_lines where order_id = any($1) order by order_id, sku`, ids).
		Query(func(rows pgx.Rows) error {
			var id uuid.UUID
			var l Line
			_, err := pgx.ForEachRow(rows, []any{&id, &l.SKU, &l.Quantity}, func() error {
				if r := into[id]; r != nil {
					r.Lines = append(r.Lines, l)
				}
				return nil
			})
			return err
		})
}

// lockReservation locks the reservation of order id and the stock rows of its lines, in
// that order (the house's: a reservation, then its SKUs in order), in one round trip. The
// reservation is nil when there is none.
func lockReservation(ctx context.Context, tx pgx.Tx, id uuid.UUID) (*Reservation, Levels, error) {
	found := map[uuid.UUID]*Reservation{}
	var ls Levels
	b := &pgx.Batch{}
	queueLoadReservations(b, []uuid.UUID{id}, true, found)
	queueLock(b, `sku in (select sku from inventory.reservation_lines where order_id = $1)`, id, &ls)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, nil, fmt.Errorf("lock reservation %s: %w", id, err)
	}
	return found[id], ls, nil
}

// reservationColumns are rs as the columns of the reservations table, for unnest. SKUs hold
// no space, so one string per row carries the short list.
func reservationColumns(rs []*Reservation) (ids []uuid.UUID, statuses []string, expires []*time.Time, reasons, shorts []string) {
	ids, statuses, reasons, shorts = make([]uuid.UUID, len(rs)), make([]string, len(rs)), make([]string, len(rs)), make([]string, len(rs))
	expires = make([]*time.Time, len(rs))
	for i, r := range rs {
		ids[i], statuses[i], reasons[i], shorts[i] = r.OrderID, r.Status, r.Reason, strings.Join(r.Short, " ")
		if !r.ExpiresAt.IsZero() {
			expires[i] = &r.ExpiresAt
		}
	}
	return ids, statuses, expires, reasons, shorts
}

// queueInsertReservations queues into b the insertion of the reservations of rs that do not
// exist yet, with their lines, in one statement; inserted receives the order ids that were
// new. An order that a concurrent transaction is recording waits for its outcome. Rows go
// in order id order, so two transactions recording overlapping orders cannot deadlock.
func queueInsertReservations(b *pgx.Batch, rs []*Reservation, inserted *[]uuid.UUID) {
	rs = slices.SortedFunc(slices.Values(rs), func(a, b *Reservation) int { return bytes.Compare(a.OrderID[:], b.OrderID[:]) })
	ids, statuses, expires, reasons, shorts := reservationColumns(rs)
	var lineIDs []uuid.UUID
	var lineSKUs []string
	var lineQty []int64
	for _, r := range rs {
		for _, l := range r.Lines {
			lineIDs, lineSKUs, lineQty = append(lineIDs, r.OrderID), append(lineSKUs, l.SKU), append(lineQty, l.Quantity)
		}
	}
	b.Queue(`with ins as (
			insert into inventory.reservations (order_id, status, expires_at, reason, short)
			select o, st, e, r, string_to_array(sh, ' ')
			from unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[], $5::text[]) with ordinality as u(o, st, e, r, sh, n)
			order by n
			on conflict do nothing returning order_id
		), lines as (
			insert into inventory.reservation_lines (order_id, sku, quantity)
			select l.o, l.s, l.q from unnest($6::uuid[], $7::text[], $8::bigint[]) as l(o, s, q) join ins on ins.order_id = l.o
		)
		select order_id from ins`, ids, statuses, expires, reasons, shorts, lineIDs, lineSKUs, lineQty).
		Query(func(rows pgx.Rows) (err error) {
			*inserted, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
			return err
		})
}

// queueSaveStatuses queues the update of rs's status, deadline, reason and shortage into b;
// the statement fails (see failUnless) unless every one of rs was there to update.
func queueSaveStatuses(b *pgx.Batch, rs []*Reservation) {
	ids, statuses, expires, reasons, shorts := reservationColumns(rs)
	b.Queue(`with w as (
			update inventory.reservations r set status = u.st, expires_at = u.e, reason = u.re,
				short = string_to_array(u.sh, ' '), updated_at = now()
			from unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[], $5::text[]) as u(id, st, e, re, sh)
			where r.order_id = u.id
			returning 1
		)
		select `+failUnless(`count(*) = cardinality($1::uuid[])`,
		`'saved ' || count(*) || ' of ' || cardinality($1::uuid[]) || ' reservations'`)+` from w`,
		ids, statuses, expires, reasons, shorts)
}
