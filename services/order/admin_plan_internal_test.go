package order

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/souk/souk/internal/kittest"
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/platform/page"
	"github.com/souk/souk/platform/pgtest"
	"github.com/souk/souk/subjects"
)

// planNode is the part of EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) read here.
type planNode struct {
	Type    string     `json:"Node Type"`
	Index   string     `json:"Index Name"`
	Rows    float64    `json:"Actual Rows"`
	Hit     int        `json:"Shared Hit Blocks"`
	Read    int        `json:"Shared Read Blocks"`
	Plans   []planNode `json:"Plans"`
	Sort    []string   `json:"Sort Key"`
	Loops   float64    `json:"Actual Loops"`
	Related string     `json:"Relation Name"`
}

// walk calls fn on n and every node below it.
func (n planNode) walk(fn func(planNode)) {
	fn(n)
	for _, c := range n.Plans {
		c.walk(fn)
	}
}

// Every filter of staff's order list reads a page from an index and stops, on a table of
// 40 000 orders: the index made for the filter, no sequential scan, no sort of more than
// the rows the per-status scans return, and a few dozen pages of buffers (a sequential
// scan reads thousands; filtering orders_by_created for a rare status, a hundred). The plans
// are logged (go test -v -run TestAdminListPlans ./services/order/) for docs/decisions.md.
func TestAdminListPlans(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := pgtest.MigratedPool(t, ctx, kittest.Schemas("order", func(d kit.Deps) (kit.Service, error) { return Service(Config{}, d) }))
	// 40 000 orders of 2 000 customers over 400 days, statuses as a shop holds them: most
	// delivered, a few of each open status.
	_, err := db.Exec(ctx, `insert into orders.orders (id, user_id, status, items, subtotal, discount, total, currency,
			shipping_address, created_at, updated_at)
		select gen_random_uuid(), ('00000000-0000-7000-8000-' || lpad(to_hex(i % 2000), 12, '0'))::uuid,
			case when i % 100 < 80 then 'delivered' when i % 100 < 90 then 'cancelled' when i % 100 < 94 then 'shipped'
				when i % 100 < 97 then 'paid' when i % 100 < 98 then 'fulfilling' when i % 100 < 99 then 'reserved' else 'pending' end,
			'[{"sku":"MUG-1","quantity":1}]', 1500, 0, 1500, 'EUR',
			'{"name":"Ada","line1":"1 Main St","city":"Berlin","postal_code":"10115","country":"DE"}',
			now() - (i * interval '15 minutes'), now()
		from generate_series(1, 40000) as i`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `analyze orders.orders`); err != nil {
		t.Fatal(err)
	}
	user := uuid.MustParse("00000000-0000-7000-8000-000000000007")
	from, to := time.Now().Add(-90*24*time.Hour), time.Now().Add(-60*24*time.Hour)
	later := &page.Key{At: time.Now().Add(-30 * 24 * time.Hour), ID: uuid.Max}
	const created, status, byUser = "orders_by_created", "orders_by_status", "orders_by_user"
	for name, c := range map[string]struct {
		f     AdminFilter
		after *page.Key
		index string
	}{
		"every order":                    {AdminFilter{}, nil, created},
		"every order, a later page":      {AdminFilter{}, later, created},
		"a rare status":                  {AdminFilter{Statuses: []string{subjects.OrderStatusPending}}, later, status},
		"a common status":                {AdminFilter{Statuses: []string{subjects.OrderStatusDelivered}}, nil, status},
		"several statuses":               {AdminFilter{Statuses: []string{subjects.OrderStatusPaid, subjects.OrderStatusReserved}}, later, status},
		"a customer":                     {AdminFilter{User: user}, later, byUser},
		"a time range":                   {AdminFilter{From: &from, To: &to}, nil, created},
		"a customer, statuses and range": {AdminFilter{User: user, Statuses: []string{subjects.OrderStatusDelivered, subjects.OrderStatusCancelled}, From: &from}, nil, byUser},
		"rare statuses in a time range":  {AdminFilter{Statuses: []string{subjects.OrderStatusPending, subjects.OrderStatusReserved}, From: &from, To: &to}, nil, status},
	} {
		sql, args := adminQuery(c.f, page.Request{Limit: page.Default, After: c.after})
		var raw []byte
		if err := db.QueryRow(ctx, `explain (analyze, buffers, format json) `+sql, args...).Scan(&raw); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var plans []struct{ Plan planNode }
		if err := json.Unmarshal(raw, &plans); err != nil || len(plans) != 1 {
			t.Fatalf("%s: %v %s", name, err, raw)
		}
		top := plans[0].Plan
		var indexes []string
		top.walk(func(n planNode) {
			switch {
			case n.Type == "Seq Scan" && n.Related == "orders":
				t.Errorf("%s: a sequential scan of the orders:\n%s", name, raw)
			case n.Type == "Sort" && n.Rows*n.Loops > float64(8*(page.Default+1)):
				t.Errorf("%s: a sort of %.0f rows:\n%s", name, n.Rows*n.Loops, raw)
			case n.Index != "":
				indexes = append(indexes, n.Index)
			}
		})
		if !slices.Contains(indexes, c.index) || top.Hit+top.Read > 120 {
			t.Errorf("%s: indexes %v, %d buffers:\n%s", name, indexes, top.Hit+top.Read, raw)
		}
		t.Logf("%-32s %3d buffers, %s", name, top.Hit+top.Read, strings.Join(indexes, ", "))
	}
}
