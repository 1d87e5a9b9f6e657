package inventory

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/souk/souk/subjects"
)

// handlers serves the endpoints. Every one is safe to run twice: a get reads, a set writes a
// value (the same value again changes nothing), and a reservation is keyed by its order id.
type handlers struct {
	store    *Store
	reserver *Reserver
}

func (h *handlers) get(ctx context.Context, req subjects.SKURequest) (subjects.Stock, error) {
	sku := strings.TrimSpace(req.SKU)
	if msg := subjects.CheckSKU(sku); msg != "" {
		return subjects.Stock{}, subjects.BadRequest("sku", msg)
	}
	l, err := h.store.Get(ctx, sku)
	if err != nil {
		return subjects.Stock{}, wireError(err)
	}
	return l.Wire(), nil
}

func (h *handlers) set(ctx context.Context, req subjects.StockSetRequest) (subjects.Stock, error) {
	var p subjects.Problems
	sku := strings.TrimSpace(req.SKU)
	p.Add("sku", subjects.CheckSKU(sku))
	switch {
	case req.OnHand == nil:
		p.Add("on_hand", "is required")
	case *req.OnHand < 0 || *req.OnHand > MaxOnHand:
		p.Add("on_hand", "must be 0.."+strconv.Itoa(MaxOnHand))
	}
	if err := p.Err(); err != nil {
		return subjects.Stock{}, err
	}
	l, err := h.store.Set(ctx, sku, *req.OnHand)
	if err != nil {
		return subjects.Stock{}, wireError(err)
	}
	return l.Wire(), nil
}

func (h *handlers) reserve(ctx context.Context, req subjects.ReserveRequest) (subjects.Reservation, error) {
	id, lines, err := ParseReserve(req)
	if err != nil {
		return subjects.Reservation{}, err
	}
	r, err := h.reserver.Reserve(ctx, id, lines)
	if err != nil {
		return subjects.Reservation{}, wireError(err)
	}
	if r.Status == subjects.ReservationRejected {
		return subjects.Reservation{}, outOfStock(r)
	}
	return r.Wire(), nil
}

// outOfStock is the 422 of a rejected reservation, naming each SKU short of stock.
func outOfStock(r *Reservation) error {
	fields := make([]subjects.FieldError, len(r.Short))
	for i, sku := range r.Short {
		fields[i] = subjects.FieldError{Field: "lines", Message: "not enough " + sku + " in stock"}
	}
	return &subjects.Error{Code: http.StatusUnprocessableEntity, Slug: "out_of_stock",
		Message: "out of stock: " + strings.Join(r.Short, ", "), Fields: fields}
}

// wireError is the only domain → wire mapping. Anything else stays an error: the rpc kit logs
// it and sends a masked 500.
func wireError(err error) error {
	var below *BelowReservedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &below):
		return &subjects.Error{Code: http.StatusConflict, Slug: "below_reserved", Message: below.Error(),
			Fields: []subjects.FieldError{{Field: "on_hand", Message: "must be at least the " +
				strconv.FormatInt(below.Reserved, 10) + " units reserved"}}}
	case errors.Is(err, ErrNotFound):
		return subjects.Errorf(http.StatusNotFound, "sku_not_found", "no stock is recorded for this SKU")
	case errors.Is(err, ErrOverloaded):
		return &subjects.Error{Code: http.StatusServiceUnavailable, Slug: "overloaded",
			Message: "inventory is overloaded; ask again", RetryAfter: 1}
	case errors.Is(err, ErrPending):
		return subjects.Errorf(http.StatusGatewayTimeout, "timeout",
			"the reservation was not decided in time; ask again with the same order id for its outcome")
	case errors.Is(err, ErrStopped), errors.Is(err, ErrUnavailable):
		return &subjects.Error{Code: http.StatusServiceUnavailable, Slug: "unavailable",
			Message: "reservations are unavailable; ask again with the same order id", RetryAfter: 1}
	}
	return err
}
