package order_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/shoptest"
	"github.com/souk/souk/platform/page"
	"github.com/souk/souk/services/order"
	"github.com/souk/souk/subjects"
)

// admin is the order service alone, with orders stored as a checkout stores them.
type admin struct {
	*shoptest.Env
	store *order.Store
	// orders are the stored orders, in the order they were made.
	orders []*order.Order
}

func newAdmin(t *testing.T) *admin {
	e := shoptest.NewEnv(t)
	// No sweeper cancels the pending orders made in the past here.
	e.StartOrder(order.Config{PendingTimeout: 10_000 * time.Hour})
	return &admin{Env: e, store: order.NewStore(e.DB)}
}

// seed stores an order of user in status, placed at at.
func (a *admin) seed(user uuid.UUID, status string, at time.Time) *order.Order {
	a.T.Helper()
	at = at.UTC().Truncate(time.Microsecond) // as PostgreSQL keeps it
	o := &order.Order{ID: uuid.Must(uuid.NewV7()), UserID: user, Status: status, Currency: "EUR", Subtotal: 1500, Total: 1500,
		Items: []subjects.OrderItem{{ProductID: shoptest.NewID(), SKU: "MUG-1", Name: "Mug", Quantity: 1,
			UnitPrice: shoptest.EUR(1500), LineTotal: shoptest.EUR(1500)}},
		ShippingAddress: subjects.Address{Name: "Ada", Line1: "1 Main St", City: "Berlin", PostalCode: "10115", Country: "DE"},
		History:         []subjects.OrderStatus{{Status: status, At: at}}, CreatedAt: at, UpdatedAt: at}
	if err := a.store.Insert(a.Ctx, o); err != nil {
		a.T.Fatal(err)
	}
	a.orders = append(a.orders, o)
	return o
}

// want returns the ids of the stored orders keep keeps, newest first.
func (a *admin) want(keep func(*order.Order) bool) []string {
	var kept []*order.Order
	for _, o := range a.orders {
		if keep(o) {
			kept = append(kept, o)
		}
	}
	slices.SortFunc(kept, func(x, y *order.Order) int {
		if c := y.CreatedAt.Compare(x.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(y.ID.String(), x.ID.String())
	})
	ids := make([]string, len(kept))
	for i, o := range kept {
		ids[i] = o.ID.String()
	}
	return ids
}

// all pages through the list of req as staff, limit orders a page, calling between before
// each page after the first, and returns the ids listed and the cursors it was given.
func (a *admin) all(req subjects.OrderAdminListRequest, limit int, between func()) ([]string, []string) {
	a.T.Helper()
	var ids, cursors []string
	req.Limit = limit
	for pages := 0; ; pages++ {
		if pages > len(a.orders)+2 {
			a.T.Fatal("the list never ends")
		}
		p, err := subjects.OrderAdminList.Call(a.Staff, a.NC, req)
		if err != nil {
			a.T.Fatalf("list %+v: %v", req, err)
		}
		if len(p.Items) > limit || (p.NextCursor != "" && len(p.Items) != limit) {
			a.T.Fatalf("a page of %d orders (limit %d), next %q", len(p.Items), limit, p.NextCursor)
		}
		for _, o := range p.Items {
			ids = append(ids, o.ID)
		}
		if p.NextCursor == "" {
			return ids, cursors
		}
		cursors = append(cursors, p.NextCursor)
		req.Cursor = p.NextCursor
		if between != nil {
			between()
		}
	}
}

// customers seeds orders of three customers over the last three hours, every status among
// them, two placed in the same microsecond; it returns the customers and the time base.
func (a *admin) customers() ([]uuid.UUID, time.Time) {
	users := []uuid.UUID{uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())}
	base := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	for i := range 28 {
		a.seed(users[i%3], subjects.OrderStatuses[i%len(subjects.OrderStatuses)], base.Add(time.Duration(i)*5*time.Minute))
	}
	a.seed(users[0], subjects.OrderStatusPaid, base.Add(time.Hour))
	return users, base
}

// Staff page through every order newest first, each exactly once, while customers keep
// placing orders: the new ones are newer than the first page, so they shift no page after
// it (a keyset, not an offset).
func TestStaffListEveryOrderNewestFirstWhileOrdersArrive(t *testing.T) {
	a := newAdmin(t)
	a.customers()
	want := a.want(func(*order.Order) bool { return true })
	arrived := 0
	got, _ := a.all(subjects.OrderAdminListRequest{}, 4, func() {
		a.seed(uuid.Must(uuid.NewV7()), subjects.OrderStatusPending, time.Now())
		arrived++
	})
	if !slices.Equal(got, want) {
		t.Fatalf("listed %d orders %v,\nwant %d newest first %v", len(got), got, len(want), want)
	}
	first, err := subjects.OrderAdminList.Call(a.Staff, a.NC, subjects.OrderAdminListRequest{Limit: arrived})
	if err != nil {
		t.Fatal(err)
	}
	if latest := a.want(func(o *order.Order) bool { return true })[:arrived]; !slices.Equal(ids(first.Items), latest) {
		t.Fatalf("a new first page %v, want the %d orders that arrived, newest first %v", ids(first.Items), arrived, latest)
	}
	o := first.Items[0]
	if o.Status != subjects.OrderStatusPending || o.Total != shoptest.EUR(1500) || o.UserID == "" || o.CreatedAt.IsZero() || o.UpdatedAt.IsZero() {
		t.Fatalf("a summary: %+v", o)
	}
}

func ids(items []subjects.OrderSummary) []string {
	out := make([]string, len(items))
	for i, o := range items {
		out[i] = o.ID
	}
	return out
}

// Each filter narrows the list to exactly the orders it names, newest first across pages:
// one status, several (given in any order, repeated), a customer, a time range that holds
// its start and not its end, and all of them together.
func TestStaffListFiltersEachNarrow(t *testing.T) {
	a := newAdmin(t)
	users, base := a.customers()
	from, to := base.Add(30*time.Minute), base.Add(100*time.Minute) // orders placed exactly at both
	in := func(o *order.Order) bool { return !o.CreatedAt.Before(from) && o.CreatedAt.Before(to) }
	status := func(s ...string) func(*order.Order) bool {
		return func(o *order.Order) bool { return slices.Contains(s, o.Status) }
	}
	paid, cancelled := subjects.OrderStatusPaid, subjects.OrderStatusCancelled
	for _, c := range []struct {
		name string
		req  subjects.OrderAdminListRequest
		keep func(*order.Order) bool
	}{
		{"one status", subjects.OrderAdminListRequest{Status: []string{paid}}, status(paid)},
		{"several statuses", subjects.OrderAdminListRequest{Status: []string{cancelled, paid, cancelled, subjects.OrderStatusPending}},
			status(paid, cancelled, subjects.OrderStatusPending)},
		{"a customer", subjects.OrderAdminListRequest{Customer: users[1].String()}, func(o *order.Order) bool { return o.UserID == users[1] }},
		{"from", subjects.OrderAdminListRequest{From: from.Format(time.RFC3339)}, func(o *order.Order) bool { return !o.CreatedAt.Before(from) }},
		{"to", subjects.OrderAdminListRequest{To: to.Format(time.RFC3339)}, func(o *order.Order) bool { return o.CreatedAt.Before(to) }},
		{"from and to", subjects.OrderAdminListRequest{From: from.Format(time.RFC3339), To: to.Format(time.RFC3339)}, in},
		{"everything", subjects.OrderAdminListRequest{Status: []string{paid, subjects.OrderStatusReserved}, Customer: " " + users[0].String(),
			From: from.Format(time.RFC3339), To: to.Format(time.RFC3339)},
			func(o *order.Order) bool {
				return in(o) && o.UserID == users[0] && (o.Status == paid || o.Status == subjects.OrderStatusReserved)
			}},
	} {
		want := a.want(c.keep)
		if len(want) == 0 || len(want) == len(a.orders) {
			t.Fatalf("%s: the seed gives the filter %d of %d orders: it narrows nothing", c.name, len(want), len(a.orders))
		}
		if got, _ := a.all(c.req, 3, nil); !slices.Equal(got, want) {
			t.Errorf("%s: listed %v, want %v", c.name, got, want)
		}
	}
}

// Refusals: a customer may not list everyone's orders (403); a bad filter value is a 400
// naming it, every bad one named; a cursor continues only its own list (another filter's,
// another customer's, or the customer's own list's cursor is a 400 naming the cursor).
func TestStaffListRefusals(t *testing.T) {
	a := newAdmin(t)
	users, _ := a.customers()
	call := func(ctx context.Context, req subjects.OrderAdminListRequest) error {
		_, err := subjects.OrderAdminList.Call(ctx, a.NC, req)
		return err
	}
	expect.Error(t, call(a.Customer, subjects.OrderAdminListRequest{}), 403, "", "")

	for field, req := range map[string]subjects.OrderAdminListRequest{
		"status":   {Status: []string{subjects.OrderStatusPaid, "lost"}},
		"customer": {Customer: "ada"},
		"from":     {From: "yesterday"},
		"to":       {From: "2026-12-02T00:00:00Z", To: "2026-12-01T00:00:00+01:00"},
		"limit":    {Limit: page.Max + 1},
	} {
		expect.Error(t, call(a.Staff, req), 400, "validation", field)
	}
	err := call(a.Staff, subjects.OrderAdminListRequest{Status: []string{"lost"}, Customer: "nobody", From: "now"})
	if se := (*subjects.Error)(nil); !errors.As(err, &se) || len(se.Fields) != 3 {
		t.Fatalf("three bad filters: %v", err)
	}

	_, paidCursors := a.all(subjects.OrderAdminListRequest{Status: []string{subjects.OrderStatusPaid}}, 1, nil)
	_, mine := a.all(subjects.OrderAdminListRequest{Customer: users[0].String()}, 1, nil)
	own, err := subjects.OrderList.Call(a.As(users[0].String(), subjects.RoleCustomer), a.NC, subjects.ListRequest{Limit: 1})
	if err != nil || own.NextCursor == "" {
		t.Fatalf("the customer's own list: %+v %v", own, err)
	}
	for name, c := range map[string]struct {
		req    subjects.OrderAdminListRequest
		cursor string
	}{
		"another status":         {subjects.OrderAdminListRequest{Status: []string{subjects.OrderStatusCancelled}}, paidCursors[0]},
		"no filter":              {subjects.OrderAdminListRequest{}, paidCursors[0]},
		"another customer":       {subjects.OrderAdminListRequest{Customer: users[1].String()}, mine[0]},
		"the customer's own":     {subjects.OrderAdminListRequest{Customer: users[0].String()}, own.NextCursor},
		"the same and a status":  {subjects.OrderAdminListRequest{Customer: users[0].String(), Status: []string{subjects.OrderStatusPaid}}, mine[0]},
		"the same and a from":    {subjects.OrderAdminListRequest{Customer: users[0].String(), From: "2020-01-01T00:00:00Z"}, mine[0]},
		"the same status, moved": {subjects.OrderAdminListRequest{Status: []string{subjects.OrderStatusPaid}, To: "2099-01-01T00:00:00Z"}, paidCursors[0]},
	} {
		c.req.Cursor, c.req.Limit = c.cursor, 1
		if err := call(a.Staff, c.req); err == nil {
			t.Errorf("%s: a cursor of another list was taken", name)
		} else {
			t.Run(name, func(t *testing.T) { expect.Error(t, err, 400, "validation", "cursor") })
		}
	}
	// The same filter, spelt otherwise (statuses reordered and repeated), is the same list.
	if err := call(a.Staff, subjects.OrderAdminListRequest{Status: []string{subjects.OrderStatusPaid, subjects.OrderStatusPaid}, Cursor: paidCursors[0], Limit: 1}); err != nil {
		t.Fatalf("the same filter spelt otherwise: %v", err)
	}

	// A customer named by email needs the user service; with none running the list is
	// unavailable (503), not an error of the order service.
	err = call(a.Staff, subjects.OrderAdminListRequest{Customer: "ada@example.com"})
	expect.Error(t, err, 503, "", "")
}
