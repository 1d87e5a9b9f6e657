package catalog_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/services/catalog"
	"github.com/souk/souk/services/catalog/product"
	"github.com/souk/souk/subjects"
)

// paid publishes the order service's order.paid for user buying products, twice (a
// redelivery or a republished outbox row must change nothing).
func (e *env) paid(user, order string, products ...string) {
	e.t.Helper()
	ev := subjects.OrderPaid{EventID: uuid.Must(uuid.NewV7()).String(), OccurredAt: time.Now().UTC(), OrderID: order, UserID: user}
	for _, p := range products {
		ev.Lines = append(ev.Lines, subjects.OrderLine{ProductID: p, SKU: "x", Quantity: 1, UnitPrice: eur(100)})
	}
	subject := subjects.EvtOrderPaid.Subject(order)
	e.publish(subject, ev.EventID, ev)
	// A second copy under another message id gets past JetStream's duplicate window (as an
	// event republished after the window would) and past the processed table: the purchase's
	// own key must make it harmless.
	e.publish(subject, ev.EventID+"-again", ev)
}

func (e *env) rating(id string) subjects.Rating {
	e.t.Helper()
	p, err := subjects.ProductGet.Call(e.ctx, e.nc, subjects.ProductIDRequest{ID: id})
	if err != nil {
		e.t.Fatal(err)
	}
	return p.Rating
}

func TestOnlyBuyersReviewOnceAndTheRatingStaysExact(t *testing.T) {
	e := newEnv(t)
	e.start(catalog.Config{})
	_, p := headphones(e)
	review := subjects.ReviewCreateRequest{ProductID: p.ID, Rating: 4, Title: "Good", Body: "Warm sound."}

	_, err := subjects.ReviewCreate.Call(e.customer, e.nc, review)
	expect.Error(t, err, 403, "not_purchased", "")
	_, err = subjects.ReviewCreate.Call(e.ctx, e.nc, review)
	expect.Error(t, err, 401, "", "")

	order := uuid.Must(uuid.NewV7()).String()
	e.paid(e.customerID, order, p.ID)
	var r subjects.Review
	expect.Within(t, 10*time.Second, func() error { // the purchase arrives through JetStream
		r, err = subjects.ReviewCreate.Call(e.customer, e.nc, review)
		return err
	})
	if r.Rating != 4 || !r.VerifiedPurchase || r.AuthorName != product.DefaultAuthorName {
		t.Fatalf("review: %+v", r)
	}
	_, err = subjects.ReviewCreate.Call(e.customer, e.nc, review)
	expect.Error(t, err, 409, "already_reviewed", "")
	_, err = subjects.ReviewCreate.Call(e.customer, e.nc, subjects.ReviewCreateRequest{ProductID: p.ID, Rating: 9, Title: "x"})
	expect.Error(t, err, 400, "validation", "rating")

	e.paid(e.otherID, uuid.Must(uuid.NewV7()).String(), p.ID)
	expect.Within(t, 10*time.Second, func() error {
		_, err := subjects.ReviewCreate.Call(e.other, e.nc, subjects.ReviewCreateRequest{ProductID: p.ID, Rating: 5, Title: "Great", AuthorName: "Bo"})
		return err
	})
	if got := e.rating(p.ID); got.Count != 2 || got.Average != 4.5 {
		t.Fatalf("rating after 4 and 5: %+v", got)
	}
	page, err := subjects.ReviewList.Call(e.ctx, e.nc, subjects.ReviewListRequest{ProductID: p.ID, Limit: 1})
	if err != nil || len(page.Items) != 1 || page.Items[0].AuthorName != "Bo" || page.NextCursor == "" {
		t.Fatalf("first page: %+v %v", page, err)
	}
	page, err = subjects.ReviewList.Call(e.ctx, e.nc, subjects.ReviewListRequest{ProductID: p.ID, Limit: 1, Cursor: page.NextCursor})
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != r.ID || page.NextCursor != "" {
		t.Fatalf("second page: %+v %v", page, err)
	}
	_, err = subjects.ReviewList.Call(e.ctx, e.nc, subjects.ReviewListRequest{ProductID: p.ID, Cursor: "forged"})
	expect.Error(t, err, 400, "validation", "cursor")

	// Staff hide a review: it leaves the list and the rating; twice changes nothing more.
	_, err = subjects.ReviewModerate.Call(e.customer, e.nc, subjects.ReviewModerateRequest{ID: r.ID, Hidden: true})
	expect.Error(t, err, 403, "", "")
	for range 2 {
		if _, err := subjects.ReviewModerate.Call(e.staff, e.nc, subjects.ReviewModerateRequest{ID: r.ID, Hidden: true}); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.rating(p.ID); got.Count != 1 || got.Average != 5 {
		t.Fatalf("rating with the 4 hidden: %+v", got)
	}
	page, _ = subjects.ReviewList.Call(e.ctx, e.nc, subjects.ReviewListRequest{ProductID: p.ID})
	if len(page.Items) != 1 {
		t.Fatalf("a hidden review is listed: %+v", page.Items)
	}
	if _, err := subjects.ReviewModerate.Call(e.staff, e.nc, subjects.ReviewModerateRequest{ID: r.ID, Hidden: false}); err != nil {
		t.Fatal(err)
	}
	if got := e.rating(p.ID); got.Count != 2 || got.Average != 4.5 {
		t.Fatalf("rating with the 4 shown again: %+v", got)
	}
	var purchases int
	if err := e.db.QueryRow(e.ctx, `select count(*) from catalog.purchases`).Scan(&purchases); err != nil || purchases != 2 {
		t.Fatalf("every paid event was delivered twice; purchases = %d (%v)", purchases, err)
	}
}

func TestACancelledOrderIsNoPurchaseWhateverTheOrderOfEvents(t *testing.T) {
	e := newEnv(t)
	e.start(catalog.Config{})
	_, p := headphones(e)
	order := uuid.Must(uuid.NewV7()).String()
	cancel := subjects.OrderCancelled{EventID: uuid.Must(uuid.NewV7()).String(), OccurredAt: time.Now().UTC(), OrderID: order, UserID: e.customerID, Reason: "customer"}
	e.publish(subjects.EvtOrderCancelled.Subject(order), cancel.EventID, cancel)
	e.paid(e.customerID, order, p.ID) // arrives after the cancellation
	// A marker order after both: once it counts as a purchase, the two before are applied.
	marker := uuid.Must(uuid.NewV7()).String()
	e.paid(e.otherID, marker, p.ID)
	expect.Within(t, 10*time.Second, func() error {
		var n int
		if err := e.db.QueryRow(e.ctx, `select count(*) from catalog.purchases where order_id = $1`, marker).Scan(&n); err != nil || n != 1 {
			return fmt.Errorf("marker purchase not recorded yet (%v)", err)
		}
		return nil
	})
	_, err := subjects.ReviewCreate.Call(e.customer, e.nc, subjects.ReviewCreateRequest{ProductID: p.ID, Rating: 1, Title: "x"})
	expect.Error(t, err, 403, "not_purchased", "")
}

func TestAPoisonEventIsDeadLetteredAndTheRestFlows(t *testing.T) {
	e := newEnv(t)
	e.start(catalog.Config{})
	_, p := headphones(e)
	bad := uuid.Must(uuid.NewV7()).String()
	e.publish(subjects.EvtOrderPaid.Subject(bad), bad, map[string]any{"order_id": bad, "user_id": "not-a-uuid"})
	e.paid(e.customerID, uuid.Must(uuid.NewV7()).String(), p.ID)
	expect.Within(t, 10*time.Second, func() error {
		_, err := subjects.ReviewCreate.Call(e.customer, e.nc, subjects.ReviewCreateRequest{ProductID: p.ID, Rating: 3, Title: "ok"})
		return err
	})
	s, err := e.js.Stream(e.ctx, "DLQ")
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(e.ctx, "souk.dlq.ORDERS.catalog-purchases")
	if err != nil {
		t.Fatalf("no dead letter: %v", err)
	}
	if m.Header.Get("Souk-Dlq-Error") == "" || m.Header.Get("Souk-Dlq-Subject") != subjects.EvtOrderPaid.Subject(bad) {
		t.Fatalf("dead letter headers: %v", m.Header)
	}
}

func TestInStockFollowsTheInventoryEvents(t *testing.T) {
	e := newEnv(t)
	e.start(catalog.Config{})
	_, p := headphones(e)
	level := func(version, available int64) {
		ev := subjects.StockLevel{EventID: uuid.Must(uuid.NewV7()).String(), OccurredAt: time.Now().UTC(), SKU: "HP-1",
			OnHand: available, Available: available, Version: version}
		e.publish(subjects.EvtStockLevel.Subject("HP-1"), ev.EventID, ev)
	}
	inStock := func(want bool) {
		t.Helper()
		expect.Within(t, 10*time.Second, func() error {
			got, err := subjects.ProductGet.Call(e.ctx, e.nc, subjects.ProductIDRequest{ID: p.ID})
			if err != nil {
				return err
			}
			page := e.search(subjects.SearchRequest{InStock: ptr(true)})
			if got.InStock != want || (page.Facets.Total == 1) != want {
				return fmt.Errorf("in_stock %v (search finds %d), want %v", got.InStock, page.Facets.Total, want)
			}
			return nil
		})
	}
	level(1, 5)
	inStock(true)
	var ev subjects.ProductChanged
	e.lastEvent(subjects.EvtStockChanged.Subject(p.ID), &ev)
	if ev.InStock == nil || !*ev.InStock {
		t.Fatalf("stock_changed: %+v", ev)
	}
	level(3, 0)
	level(2, 4) // older than the level before it: ignored
	inStock(false)
	// A product created for a SKU whose level is known starts with it.
	level(4, 2)
	inStock(true)
	p2 := e.product(subjects.ProductCreateRequest{SKU: "HP-2", Name: "Other", Price: eur(100), CategoryID: p.CategoryID})
	if p2.InStock {
		t.Fatal("a SKU without stock is in stock")
	}
}
