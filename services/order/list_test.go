package order_test

import (
	"reflect"
	"testing"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/platform/page"
	"github.com/souk/souk/subjects"
)

// A customer's order list pages through their orders newest first, each exactly once and
// with its whole history (the same as the order read alone); another customer's orders are
// not in it.
func TestTheOrderListPagesEveryOrderWithItsHistory(t *testing.T) {
	s := newSaga(t)
	p := s.stocked("LIST-MUG", 100, 1200)
	_, ctx := s.NewCustomer()
	var want []string // newest first
	for i := range 5 {
		s.add(ctx, p.ID, 1)
		method := visa
		if i%2 == 1 {
			method = declined
		}
		o := s.place(ctx, method)
		if s.T.Failed() {
			t.FailNow()
		}
		want = append([]string{o.ID}, want...)
	}
	for i, id := range want { // histories of more than one entry, and of different lengths
		if i%2 == 1 {
			s.waitFor(id, subjects.OrderStatusCancelled, "payment_failed")
		} else {
			s.waitFor(id, subjects.OrderStatusPaid, "")
		}
	}
	other, _ := s.checkout(p.ID, 1, visa, "")

	var got []string
	cursor, second := "", ""
	for pages := 0; ; pages++ {
		if pages > len(want) {
			t.Fatal("the list never ends")
		}
		list, err := subjects.OrderList.Call(ctx, s.NC, subjects.ListRequest{Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range list.Items {
			got = append(got, o.ID)
			if o.ID == other.ID {
				t.Fatalf("another customer's order %s is in the list", o.ID)
			}
			alone := s.get(o.ID)
			if len(o.History) < 2 || !reflect.DeepEqual(o.History, alone.History) {
				t.Errorf("order %s listed with history %v, read alone %v", o.ID, statuses(o), statuses(alone))
			}
		}
		if cursor = list.NextCursor; cursor == "" {
			break
		}
		if second == "" {
			second = cursor
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("listed %v, want %v (newest first)", got, want)
	}

	// A cursor is bound to its list: another customer replaying it gets a 400, not a page.
	_, stranger := s.NewCustomer()
	_, err := subjects.OrderList.Call(stranger, s.NC, subjects.ListRequest{Limit: 2, Cursor: second})
	expect.Error(t, err, 400, "validation", "cursor")
	_, err = subjects.OrderList.Call(ctx, s.NC, subjects.ListRequest{Limit: page.Max + 1})
	expect.Error(t, err, 400, "validation", "limit")
}
