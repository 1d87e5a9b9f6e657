package inventory_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/services/inventory"
	"github.com/souk/souk/subjects"
)

func TestStockGetAndSet(t *testing.T) {
	e := newEnv(t, inventory.Config{})

	_, err := subjects.InventoryGet.Call(e.staff, e.nc, subjects.SKURequest{SKU: "UNKNOWN"})
	expect.Error(t, err, 404, "sku_not_found", "")
	_, err = subjects.InventoryGet.Call(e.customer, e.nc, subjects.SKURequest{SKU: "UNKNOWN"})
	expect.Error(t, err, 403, "", "")

	s := e.set("SKU-1", 7)
	if s.SKU != "SKU-1" || s.OnHand != 7 || s.Reserved != 0 || s.Available != 7 || s.Version != 1 {
		t.Fatalf("set: %+v", s)
	}
	if again := e.set("SKU-1", 7); again.Version != 1 {
		t.Fatalf("the same count again changed the version: %+v", again)
	}
	if got := e.stock("SKU-1"); got != s {
		t.Fatalf("get %+v after set %+v", got, s)
	}

	if _, err := e.reserve(newOrder(), "SKU-1", 4); err != nil {
		t.Fatal(err)
	}
	below := int64(3)
	_, err = subjects.InventorySet.Call(e.staff, e.nc, subjects.StockSetRequest{SKU: "SKU-1", OnHand: &below})
	expect.Error(t, err, 409, "below_reserved", "on_hand")
	e.wantStock("SKU-1", 7, 4)
	if s := e.set("SKU-1", 4); s.Available != 0 {
		t.Fatalf("set to what is reserved: %+v", s)
	}
}

// Every change of what can be sold publishes the SKU's level with a version above the last
// one's; a commit (reserved units leaving, available unchanged) publishes none.
func TestStockEventsCarryIncreasingVersions(t *testing.T) {
	e := newEnv(t, inventory.Config{})
	e.set("VER", 10)
	if _, err := e.reserve(newOrder(), "VER", 3); err != nil {
		t.Fatal(err)
	}
	e.set("VER", 12)
	e.set("VER", 12) // no change: no event
	order := newOrder()
	e.processed(e.placeOrder(order, line("VER", 2)))
	e.processed(e.payOrder(order))
	final := e.stock("VER")
	if final.OnHand != 10 || final.Reserved != 3 || final.Version != 5 {
		t.Fatalf("final level %+v", final)
	}

	var levels []subjects.StockLevel
	expect.Within(t, 10*time.Second, func() error {
		bodies, err := e.events(subjects.EvtStockLevel.Subject("VER"))
		if err != nil {
			return err
		}
		levels = levels[:0]
		for _, b := range bodies {
			var l subjects.StockLevel
			if err := json.Unmarshal(b, &l); err != nil {
				return err
			}
			levels = append(levels, l)
		}
		if len(levels) != 4 {
			return fmt.Errorf("%d stock_changed events, want 4 (none for the commit)", len(levels))
		}
		return nil
	})
	for i, l := range levels {
		if l.Version != int64(i+1) || l.SKU != "VER" || l.Available != l.OnHand-l.Reserved {
			t.Fatalf("event %d: %+v", i, l)
		}
	}
	if last := levels[len(levels)-1]; last.Available != final.Available || last.OnHand != 12 || last.Reserved != 5 {
		t.Fatalf("last event %+v, stock %+v: want available as now, counts as before the commit", last, final)
	}
}

// Bad input is a 400 naming its field, and changes nothing.
func TestStockBadInput(t *testing.T) {
	e := newEnv(t, inventory.Config{})
	e.set("OK", 5)
	neg, huge := int64(-1), int64(inventory.MaxOnHand+1)
	sets := []struct {
		name  string
		req   subjects.StockSetRequest
		field string
	}{
		{"no sku", subjects.StockSetRequest{OnHand: ptr(int64(1))}, "sku"},
		{"dotted sku", subjects.StockSetRequest{SKU: "a.b", OnHand: ptr(int64(1))}, "sku"},
		{"wildcard sku", subjects.StockSetRequest{SKU: "a*", OnHand: ptr(int64(1))}, "sku"},
		{"NUL in sku", subjects.StockSetRequest{SKU: "a\x00b", OnHand: ptr(int64(1))}, "sku"},
		{"long sku", subjects.StockSetRequest{SKU: strings.Repeat("x", 65), OnHand: ptr(int64(1))}, "sku"},
		{"huge sku", subjects.StockSetRequest{SKU: strings.Repeat("x", 1<<20), OnHand: ptr(int64(1))}, "sku"},
		{"no on_hand", subjects.StockSetRequest{SKU: "OK"}, "on_hand"},
		{"negative on_hand", subjects.StockSetRequest{SKU: "OK", OnHand: &neg}, "on_hand"},
		{"absurd on_hand", subjects.StockSetRequest{SKU: "OK", OnHand: &huge}, "on_hand"},
	}
	for _, c := range sets {
		_, err := subjects.InventorySet.Call(e.staff, e.nc, c.req)
		t.Run("set "+c.name, func(t *testing.T) { expect.Error(t, err, 400, "validation", c.field) })
	}
	_, err := subjects.InventoryGet.Call(e.staff, e.nc, subjects.SKURequest{SKU: "bad sku"})
	expect.Error(t, err, 400, "validation", "sku")

	order := newOrder()
	lines := func(n int) []subjects.ReserveLine {
		out := make([]subjects.ReserveLine, n)
		for i := range out {
			out[i] = subjects.ReserveLine{SKU: fmt.Sprintf("S%d", i), Quantity: 1}
		}
		return out
	}
	reserves := []struct {
		name  string
		req   subjects.ReserveRequest
		field string
	}{
		{"no order id", subjects.ReserveRequest{Lines: lines(1)}, "order_id"},
		{"bad order id", subjects.ReserveRequest{OrderID: "order-1", Lines: lines(1)}, "order_id"},
		{"no lines", subjects.ReserveRequest{OrderID: order}, "lines"},
		{"too many lines", subjects.ReserveRequest{OrderID: order, Lines: lines(inventory.MaxLines + 1)}, "lines"},
		{"bad sku", subjects.ReserveRequest{OrderID: order, Lines: []subjects.ReserveLine{{SKU: "a b", Quantity: 1}}}, "lines[0].sku"},
		{"zero quantity", subjects.ReserveRequest{OrderID: order, Lines: []subjects.ReserveLine{{SKU: "OK", Quantity: 0}}}, "lines[0].quantity"},
		{"negative quantity", subjects.ReserveRequest{OrderID: order, Lines: []subjects.ReserveLine{{SKU: "OK", Quantity: -5}}}, "lines[0].quantity"},
		{"absurd quantity", subjects.ReserveRequest{OrderID: order, Lines: []subjects.ReserveLine{
			{SKU: "OK", Quantity: 1}, {SKU: "OK", Quantity: inventory.MaxQuantity + 1}}}, "lines[1].quantity"},
	}
	for _, c := range reserves {
		_, err := subjects.InventoryReserve.Call(e.staff, e.nc, c.req)
		t.Run("reserve "+c.name, func(t *testing.T) { expect.Error(t, err, 400, "validation", c.field) })
	}
	raw := map[string]string{
		"invalid UTF-8":  `{"order_id":"` + order + `","lines":[{"sku":"O` + "\xff" + `K","quantity":1}]}`,
		"float quantity": `{"order_id":"` + order + `","lines":[{"sku":"OK","quantity":1.5}]}`,
		"huge quantity":  `{"order_id":"` + order + `","lines":[{"sku":"OK","quantity":1e30}]}`,
		"not JSON":       `{"order_id":`,
	}
	for name, body := range raw {
		_, err := subjects.Request(e.staff, e.nc, subjects.InventoryReserve.Subject, []byte(body))
		t.Run("reserve "+name, func(t *testing.T) { expect.Error(t, err, 400, "validation", "") })
	}

	e.wantStock("OK", 5, 0)
	var n int
	if err := e.db.QueryRow(e.ctx, `select (select count(*) from inventory.stock where sku <> 'OK')
		+ (select count(*) from inventory.reservations)`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("bad input left %d rows behind", n)
	}
}

func ptr[T any](v T) *T { return &v }
