package order

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/souk/souk/platform/page"
	"github.com/souk/souk/subjects"
)

// Staff's list of every order (GET /v1/admin/orders): the filters checked, a customer's
// email turned into their id by the user service, and the page read from the indexes of
// migration 0004.

// AdminFilter is a checked OrderAdminListRequest: each field set narrows the list.
type AdminFilter struct {
	// Statuses keeps orders in any of them (a sorted set); empty keeps all.
	Statuses []string
	// User keeps one customer's orders; uuid.Nil keeps everyone's.
	User uuid.UUID
	// From keeps orders created at or after it, To those created before it (half-open).
	From, To *time.Time
}

// list names the list the filter makes, for its cursors: a cursor of one filter continues
// no other (page.Read refuses it as a 400 naming the cursor).
func (f AdminFilter) list() string {
	var b strings.Builder
	b.WriteString("admin-orders?status=" + strings.Join(f.Statuses, ","))
	if f.User != uuid.Nil {
		b.WriteString("&user=" + f.User.String())
	}
	for _, t := range []*time.Time{f.From, f.To} {
		b.WriteString("&")
		if t != nil {
			b.WriteString(t.UTC().Format(time.RFC3339Nano))
		}
	}
	return b.String()
}

// maxCustomer bounds the customer filter before it is read: the longest email the user
// service takes (254) with room to spare.
const maxCustomer = 320

// timeExample ends the message of a time filter that is not RFC 3339.
const timeExample = "must be an RFC 3339 time, such as 2026-12-01T00:00:00Z"

// checkAdminFilter checks every filter but an email (which the user service reads): the
// filter, the email to look up ("" for none), or a 400 naming every bad field.
func checkAdminFilter(req subjects.OrderAdminListRequest) (AdminFilter, string, error) {
	var f AdminFilter
	var p subjects.Problems
	var problem string
	f.Statuses, problem = subjects.CheckOneOf(req.Status, subjects.OrderStatuses)
	p.Add("status", problem)
	email := ""
	switch c := strings.TrimSpace(req.Customer); {
	case c == "":
	case len(c) > maxCustomer:
		p.Add("customer", "must be a customer's id or email address")
	case strings.Contains(c, "@"):
		email = c
	default:
		id, err := uuid.Parse(c)
		if err != nil {
			p.Add("customer", "must be a customer's id (a UUID) or email address")
		}
		f.User = id
	}
	for _, t := range []struct {
		field string
		raw   string
		to    **time.Time
	}{{"from", req.From, &f.From}, {"to", req.To, &f.To}} {
		if t.raw == "" {
			continue
		}
		v, err := time.Parse(time.RFC3339Nano, t.raw)
		if err != nil {
			p.Add(t.field, timeExample)
			continue
		}
		v = v.UTC()
		*t.to = &v
	}
	if f.From != nil && f.To != nil && !f.To.After(*f.From) {
		p.Add("to", "must be after from")
	}
	return f, email, p.Err()
}

// customer returns the id of the account with email, asking the user service with the
// caller's token; false when no account has it.
func (h *handlers) customer(ctx context.Context, email string) (uuid.UUID, bool, error) {
	ref, err := subjects.UserByEmail.Call(ctx, h.nc, subjects.UserEmailRequest{Email: email})
	var se *subjects.Error
	switch {
	case errors.Is(err, subjects.ErrNotFound):
		return uuid.Nil, false, nil
	case errors.As(err, &se) && se.Code == http.StatusBadRequest:
		return uuid.Nil, false, subjects.BadRequest("customer", "is not a valid email address")
	case err != nil:
		return uuid.Nil, false, err
	}
	id, err := uuid.Parse(ref.ID)
	if err != nil {
		return uuid.Nil, false, errors.New("user service: an account id that is no UUID: " + subjects.CutBytes(ref.ID, 64))
	}
	return id, true, nil
}

// adminList serves staff's order list, newest first.
func (h *handlers) adminList(ctx context.Context, req subjects.OrderAdminListRequest) (subjects.OrderSummaryPage, error) {
	f, email, err := checkAdminFilter(req)
	if err != nil {
		return subjects.OrderSummaryPage{}, err
	}
	lr := subjects.ListRequest{Limit: req.Limit, Cursor: req.Cursor}
	if email != "" {
		id, found, err := h.customer(ctx, email)
		if err != nil {
			return subjects.OrderSummaryPage{}, err
		}
		f.User = id
		if !found { // nobody's orders: an empty list, its limit and cursor still checked
			_, err := page.Read(lr, "admin-orders?email="+email)
			return subjects.OrderSummaryPage{Items: []subjects.OrderSummary{}}, err
		}
	}
	items, next, err := page.List(lr, f.list(), func(r page.Request) ([]*Order, error) { return h.store.AdminList(ctx, f, r) },
		func(o *Order) page.Key { return page.Key{At: o.CreatedAt, ID: o.ID} }, (*Order).Summary)
	if err != nil {
		return subjects.OrderSummaryPage{}, wireError(err)
	}
	return subjects.OrderSummaryPage{Items: items, NextCursor: next}, nil
}

// Summary is the order as staff's list shows it.
func (o *Order) Summary() subjects.OrderSummary {
	return subjects.OrderSummary{ID: o.ID.String(), UserID: o.UserID.String(), Status: o.Status, CancelReason: o.CancelReason,
		Total: o.money(o.Total), Shipment: o.Shipment, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt}
}
