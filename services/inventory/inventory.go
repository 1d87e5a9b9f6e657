// Package inventory is Souk's inventory service: stock per SKU and reservations per order,
// with an expiry.
//
// It owns the PostgreSQL schema "inventory" (stock, reservations, reservation_lines, and the
// outbox and processed tables) and serves subjects.InventoryGet, InventorySet and
// InventoryReserve (staff) as the micro service "inventory". Every stock change publishes
// souk.evt.inventory.stock_changed.<sku> with the SKU's new version, and every reservation
// transition souk.evt.inventory.<reserved|rejected|expired|committed|released>.<order id>,
// through the outbox on the INVENTORY stream.
//
// It consumes souk.evt.order.placed, paid and cancelled (the durable consumer
// "inventory-orders"): placed holds the order's lines, paid commits them, cancelled gives
// them back. A sweeper expires holds that outlive their payment deadline.
//
// Reservations coalesce (see Reserver): the requests that arrive while a transaction commits
// are decided together in the next one, which locks each touched SKU once, updates its
// counters once and answers every caller after the commit. That is what lets one hot SKU
// take more than a plain row update per request allows.
package inventory

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/souk/souk/subjects"
)

// Limits of what a request may ask.
const (
	// MaxLines bounds the lines of one reservation.
	MaxLines = 100
	// MaxQuantity bounds one line's quantity.
	MaxQuantity = 10_000
	// MaxOnHand bounds a SKU's physical count.
	MaxOnHand = 1_000_000_000
)

// Domain errors. The store and the Reserver return them; wireError in handlers.go maps them
// to the wire.
var (
	// ErrNotFound is a SKU that has never had a count.
	ErrNotFound = errors.New("sku not found")
	// ErrOverloaded is a reservation refused because the Reserver's queue is full.
	ErrOverloaded = errors.New("reservation queue full")
	// ErrPending is a caller that stopped waiting before its reservation was decided; it may
	// still be, and asking again with the same order id returns the outcome.
	ErrPending = errors.New("reservation still pending")
	// ErrStopped is a reservation asked of a Reserver that is shutting down.
	ErrStopped = errors.New("reserver stopped")
	// ErrUnavailable is a reservation batch that could not be committed (the database).
	ErrUnavailable = errors.New("reservations unavailable")
)

// BelowReservedError is a physical count set below what is reserved for unpaid orders.
type BelowReservedError struct {
	SKU              string
	OnHand, Reserved int64
}

// Error says which count and how much is reserved.
func (e *BelowReservedError) Error() string {
	return fmt.Sprintf("on_hand %d of %s is below the %d units reserved", e.OnHand, e.SKU, e.Reserved)
}

// ReasonOutOfStock is why a reservation is rejected.
const ReasonOutOfStock = subjects.ReasonOutOfStock

// Line is one SKU and quantity of a reservation.
type Line struct {
	SKU      string
	Quantity int64
}

// ParseLines checks lines (1..MaxLines, each a valid SKU and 1..MaxQuantity) and returns
// them with the quantities of a SKU named more than once summed, sorted by SKU. Every
// problem is a 400 naming its field.
func ParseLines(in []subjects.ReserveLine) ([]Line, error) {
	var p subjects.Problems
	switch {
	case len(in) == 0:
		p.Add("lines", "at least one line is required")
	case len(in) > MaxLines:
		p.Add("lines", "at most "+strconv.Itoa(MaxLines)+" lines")
	}
	if len(p) > 0 {
		return nil, p.Err()
	}
	sums := make(map[string]int64, len(in))
	for i, l := range in {
		field := "lines[" + strconv.Itoa(i) + "]."
		p.Add(field+"sku", subjects.CheckSKU(l.SKU))
		if l.Quantity < 1 || l.Quantity > MaxQuantity {
			p.Add(field+"quantity", "must be 1.."+strconv.Itoa(MaxQuantity))
		}
		sums[l.SKU] += int64(l.Quantity)
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	lines := make([]Line, 0, len(sums))
	for sku, q := range sums {
		lines = append(lines, Line{SKU: sku, Quantity: q})
	}
	slices.SortFunc(lines, func(a, b Line) int { return strings.Compare(a.SKU, b.SKU) })
	return lines, nil
}

// ParseReserve checks a reservation request: the order id is a UUID and the lines pass
// ParseLines. Every problem is a 400 naming its field.
func ParseReserve(req subjects.ReserveRequest) (uuid.UUID, []Line, error) {
	id, err := uuid.Parse(req.OrderID)
	var p subjects.Problems
	if err != nil {
		p.Add("order_id", "must be a UUID")
	}
	lines, lerr := ParseLines(req.Lines)
	var se *subjects.Error
	if errors.As(lerr, &se) {
		p = append(p, se.Fields...)
	}
	if err := p.Err(); err != nil {
		return uuid.Nil, nil, err
	}
	return id, lines, nil
}

// Reservation is an order's hold on stock, and what became of it.
type Reservation struct {
	OrderID uuid.UUID
	// Status is one of subjects.Reservation*.
	Status string
	Lines  []Line
	// ExpiresAt is the payment deadline of a hold; zero when there is none.
	ExpiresAt time.Time
	// Reason and Short say why a reservation was rejected and which SKUs lacked stock.
	Reason string
	Short  []string
}

// Wire is the reservation as callers see it.
func (r *Reservation) Wire() subjects.Reservation {
	return subjects.Reservation{OrderID: r.OrderID.String(), Status: r.Status, Lines: wireLines(r.Lines),
		ExpiresAt: r.ExpiresAt, Short: r.Short}
}

func wireLines(lines []Line) []subjects.ReserveLine {
	out := make([]subjects.ReserveLine, len(lines))
	for i, l := range lines {
		out[i] = subjects.ReserveLine{SKU: l.SKU, Quantity: int(l.Quantity)}
	}
	return out
}

// touched lists the SKUs of lineSets once each, sorted: the order in which a transaction
// locks their stock rows, so that two transactions cannot deadlock on them.
func touched(lineSets ...[]Line) []string {
	var out []string
	for _, lines := range lineSets {
		for _, l := range lines {
			out = append(out, l.SKU)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Level is one SKU's counts as read under its row lock, and the change a transaction makes to
// them. Available = OnHand - Reserved never goes below zero: every change is checked here,
// and again by the table's CHECK.
type Level struct {
	SKU                       string
	OnHand, Reserved, Version int64
	UpdatedAt                 time.Time
	dOnHand, dReserved        int64 // the change this transaction makes
}

// Available is what can still be reserved.
func (l *Level) Available() int64 { return l.OnHand - l.Reserved }

// Wire is the level as staff see it.
func (l *Level) Wire() subjects.Stock {
	return subjects.Stock{SKU: l.SKU, OnHand: l.OnHand, Reserved: l.Reserved, Available: l.Available(),
		Version: l.Version, UpdatedAt: l.UpdatedAt}
}

func (l *Level) changed() bool { return l.dOnHand != 0 || l.dReserved != 0 }

// add changes the counts by onHand and reserved.
func (l *Level) add(onHand, reserved int64) {
	l.OnHand += onHand
	l.Reserved += reserved
	l.dOnHand += onHand
	l.dReserved += reserved
}

// Levels are the stock rows one transaction has locked, by SKU. A SKU without a row is
// absent: it has nothing on hand.
type Levels map[string]*Level

// short lists the SKUs of lines whose available stock is below their quantity.
func (ls Levels) short(lines []Line) []string {
	var out []string
	for _, l := range lines {
		if lv := ls[l.SKU]; lv == nil || lv.Available() < l.Quantity {
			out = append(out, l.SKU)
		}
	}
	return out
}

// Hold reserves every line, or none: it returns the SKUs short of stock and changes nothing
// when there are any.
func (ls Levels) Hold(lines []Line) (short []string) {
	if short = ls.short(lines); len(short) > 0 {
		return short
	}
	for _, l := range lines {
		ls[l.SKU].add(0, l.Quantity)
	}
	return nil
}

// Take removes every line from on_hand without a hold (a paid order whose hold had expired),
// or none: it returns the SKUs short of stock and changes nothing when there are any.
func (ls Levels) Take(lines []Line) (short []string) {
	if short = ls.short(lines); len(short) > 0 {
		return short
	}
	for _, l := range lines {
		ls[l.SKU].add(-l.Quantity, 0)
	}
	return nil
}

// Commit turns held lines into goods gone: on_hand and reserved both fall.
func (ls Levels) Commit(lines []Line) { ls.each(lines, -1, -1) }

// Release gives held lines back: reserved falls.
func (ls Levels) Release(lines []Line) { ls.each(lines, 0, -1) }

// Restore puts committed lines back on hand: the goods never left.
func (ls Levels) Restore(lines []Line) { ls.each(lines, 1, 0) }

// each adds each line's quantity, times onHand and reserved, to its SKU. The caller locked
// every SKU of lines; a held or committed line's SKU has a row (it was reserved from it).
func (ls Levels) each(lines []Line, onHand, reserved int64) {
	for _, l := range lines {
		if lv := ls[l.SKU]; lv != nil {
			lv.add(onHand*l.Quantity, reserved*l.Quantity)
		}
	}
}

// Changed lists the levels a transaction changed, by SKU.
func (ls Levels) Changed() []*Level {
	var out []*Level
	for _, lv := range ls {
		if lv.changed() {
			out = append(out, lv)
		}
	}
	slices.SortFunc(out, func(a, b *Level) int { return strings.Compare(a.SKU, b.SKU) })
	return out
}
