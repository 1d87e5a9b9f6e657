package order

import (
	"strings"
	"testing"
	"time"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/subjects"
)

func TestStatusesOnlyMoveForward(t *testing.T) {
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		from, to string
		ok       bool
	}{
		{subjects.OrderStatusPending, subjects.OrderStatusReserved, true},
		{subjects.OrderStatusPending, subjects.OrderStatusPaid, true},
		{subjects.OrderStatusReserved, subjects.OrderStatusPaid, true},
		{subjects.OrderStatusPaid, subjects.OrderStatusReserved, false},
		{subjects.OrderStatusReserved, subjects.OrderStatusReserved, false},
		{subjects.OrderStatusPaid, subjects.OrderStatusCancelled, true},
		{subjects.OrderStatusFulfilling, subjects.OrderStatusCancelled, true},
		{subjects.OrderStatusShipped, subjects.OrderStatusCancelled, false},
		{subjects.OrderStatusDelivered, subjects.OrderStatusCancelled, false},
		{subjects.OrderStatusCancelled, subjects.OrderStatusPaid, false},
		{subjects.OrderStatusCancelled, subjects.OrderStatusCancelled, false},
	}
	for _, c := range cases {
		o := &Order{Status: c.from}
		if got := o.move(c.to, "r", at); got != c.ok {
			t.Errorf("%s → %s: moved %v, want %v", c.from, c.to, got, c.ok)
		}
		if c.ok && (o.Status != c.to || len(o.History) != 1 || o.History[0].Status != c.to) {
			t.Errorf("%s → %s: status %s, history %+v", c.from, c.to, o.Status, o.History)
		}
		if !c.ok && (o.Status != c.from || len(o.History) != 0) {
			t.Errorf("%s → %s refused but changed the order: %+v", c.from, c.to, o)
		}
	}
}

func TestSagaTransitionsAreIdempotentAndConsistent(t *testing.T) {
	eur := func(a int64) subjects.Money { return subjects.Money{Amount: a, Currency: "EUR"} }
	fresh := func() *Order {
		return &Order{Status: subjects.OrderStatusPending, Total: 1000, Subtotal: 1000, Currency: "EUR"}
	}
	until := time.Now().Add(time.Minute)
	ok := subjects.PaymentSucceeded{OrderID: "o", PaymentID: "p1", Amount: eur(1000), Provider: "sandbox"}

	// Paid while pending: recorded, then paid the moment the stock is held.
	o := fresh()
	for range 2 {
		if ev, err := paymentSucceeded(ok)(o); err != nil || len(ev) != 0 {
			t.Fatalf("success while pending: %v %v", ev, err)
		}
	}
	ev, _ := reserved(subjects.ReservationEvent{ExpiresAt: until})(o)
	if o.Status != subjects.OrderStatusPaid || len(ev) != 2 || !strings.HasPrefix(ev[1].Subject, subjects.EvtOrderPaid.Kind+".") {
		t.Fatalf("reserved after payment: status %s, events %d", o.Status, len(ev))
	}
	if ev, _ := reserved(subjects.ReservationEvent{ExpiresAt: until})(o); len(ev) != 0 {
		t.Fatal("a second reserved changed a paid order")
	}

	// Nothing to pay (a coupon covered it all): paid once the stock is held.
	o = fresh()
	o.Total = 0
	if ev, _ := reserved(subjects.ReservationEvent{ExpiresAt: until})(o); o.Status != subjects.OrderStatusPaid || len(ev) != 2 {
		t.Fatalf("reserved with nothing to pay: status %s, events %d", o.Status, len(ev))
	}

	// A cancel wins over a later success: recorded, never paid.
	o = fresh()
	_, _ = reserved(subjects.ReservationEvent{ExpiresAt: until})(o)
	if ev, err := cancel(subjects.ReasonCustomer)(o); err != nil || len(ev) != 1 {
		t.Fatalf("cancel: %v %v", ev, err)
	}
	if ev, _ := paymentSucceeded(ok)(o); len(ev) != 0 || o.Status != subjects.OrderStatusCancelled || o.Payment == nil {
		t.Fatalf("success after cancel: status %s, events %d, payment %+v", o.Status, len(ev), o.Payment)
	}
	// A wrong amount never pays.
	o = fresh()
	_, _ = reserved(subjects.ReservationEvent{ExpiresAt: until})(o)
	wrong := ok
	wrong.Amount = eur(999)
	if ev, _ := paymentSucceeded(wrong)(o); len(ev) != 0 || o.Status != subjects.OrderStatusReserved {
		t.Fatalf("a payment of another amount moved the order to %s", o.Status)
	}
	// A decline after a success changes nothing; a shipped order cannot be cancelled.
	o = fresh()
	_, _ = reserved(subjects.ReservationEvent{ExpiresAt: until})(o)
	_, _ = paymentSucceeded(ok)(o)
	if ev, _ := paymentFailed(subjects.PaymentFailedEvent{PaymentID: "p2", Amount: eur(1000), Reason: "card_declined"})(o); len(ev) != 0 || o.Payment.ID != "p1" {
		t.Fatal("a later decline replaced the payment that counts")
	}
	o.Status = subjects.OrderStatusShipped
	if _, err := cancel(subjects.ReasonStaff)(o); err != ErrNotCancellable {
		t.Fatalf("cancel of a shipped order: %v", err)
	}
}

func TestCheckPlaceNamesEachBadField(t *testing.T) {
	good := subjects.Address{Name: "Ada", Line1: "1 Main St", City: "Berlin", PostalCode: "10115", Country: "de"}
	a, err := CheckPlace(subjects.OrderPlaceRequest{ShippingAddress: &good, PaymentMethod: "pm_card_visa"})
	if err != nil || a.Country != "DE" {
		t.Fatalf("good address: %+v %v", a, err)
	}
	with := func(f func(*subjects.Address)) *subjects.Address { c := good; f(&c); return &c }
	cases := []struct {
		req   subjects.OrderPlaceRequest
		field string
	}{
		{subjects.OrderPlaceRequest{}, "shipping_address"},
		{subjects.OrderPlaceRequest{ShippingAddress: with(func(a *subjects.Address) { a.Name = " " })}, "shipping_address.name"},
		{subjects.OrderPlaceRequest{ShippingAddress: with(func(a *subjects.Address) { a.Country = "Germany" })}, "shipping_address.country"},
		{subjects.OrderPlaceRequest{ShippingAddress: with(func(a *subjects.Address) { a.City = "Ber\x00lin" })}, "shipping_address.city"},
		{subjects.OrderPlaceRequest{ShippingAddress: with(func(a *subjects.Address) { a.Line2 = strings.Repeat("x", 201) })}, "shipping_address.line2"},
		{subjects.OrderPlaceRequest{ShippingAddress: with(func(a *subjects.Address) { a.PostalCode = "\xff" })}, "shipping_address.postal_code"},
		{subjects.OrderPlaceRequest{ShippingAddress: &good, PaymentMethod: "4242 4242 4242 4242"}, "payment_method"},
	}
	for _, c := range cases {
		_, err := CheckPlace(c.req)
		expect.Error(t, err, 400, "", c.field)
	}
}

func TestPricedRefusesWhatItCannotOrder(t *testing.T) {
	if _, _, _, err := priced(subjects.Cart{}); err != ErrEmptyCart {
		t.Fatalf("empty cart: %v", err)
	}
	_, _, _, err := priced(subjects.Cart{Items: []subjects.CartItem{{ProductID: "a", Quantity: 1, UnitPrice: subjects.Money{Amount: 5, Currency: "EUR"}}}, Unavailable: []string{"b"}})
	expect.Error(t, err, 422, "product_unavailable", "items")
	items, sub, cur, err := priced(subjects.Cart{Items: []subjects.CartItem{
		{ProductID: "a", Quantity: 2, UnitPrice: subjects.Money{Amount: 1999, Currency: "EUR"}},
		{ProductID: "b", Quantity: 1, UnitPrice: subjects.Money{Amount: 1, Currency: "EUR"}},
	}})
	if err != nil || sub != 3999 || cur != "EUR" || items[0].LineTotal.Amount != 3998 {
		t.Fatalf("priced: %+v %d %s %v", items, sub, cur, err)
	}
}
