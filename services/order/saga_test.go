package order_test

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/shoptest"
	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/services/order"
	"github.com/souk/souk/subjects"
)

// Test payment methods of the sandbox provider.
const (
	visa     = "pm_card_visa"
	declined = "pm_card_chargeDeclined"
)

// Fifty customers check out the last five units at once, each paying with a card that
// succeeds: exactly five orders are paid and forty-five cancelled out_of_stock; the stock
// ends with nothing on hand, reserved or available; and no sample taken during the run, from
// the inventory service or its table, saw less than nothing available.
func TestFiftyBuyersForFiveUnits(t *testing.T) {
	s := newSaga(t)
	const buyers, units = 50, 5
	p := s.stocked("LAST-5", units, 1500)
	customers := make([]context.Context, buyers)
	var wg sync.WaitGroup
	for i := range customers {
		_, customers[i] = s.NewCustomer()
		wg.Go(func() { s.add(customers[i], p.ID, 1) })
	}
	wg.Wait()

	stop := s.sampleStock("LAST-5")
	ids := make([]string, buyers)
	for i, ctx := range customers {
		wg.Go(func() { ids[i] = s.place(ctx, visa).ID })
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	orders := s.settled(ids)
	s.wantStock("LAST-5", 0, 0)
	samples, err := stop()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d samples of the stock during the run", samples)

	byOutcome := map[string]int{} // the statuses an order went through, and why it was cancelled
	for _, o := range orders {
		byOutcome[strings.Join(statuses(o), ">")+" "+o.CancelReason]++
		switch paid := o.Status == subjects.OrderStatusPaid; {
		case paid && (o.Payment == nil || o.Payment.Status != subjects.PaymentStatusSucceeded || o.Payment.Amount != shoptest.EUR(1500)):
			t.Errorf("paid order %s: payment %+v", o.ID, o.Payment)
		case !paid && o.Payment != nil:
			t.Errorf("order %s, out of stock, has a payment: %+v", o.ID, o.Payment)
		}
	}
	want := map[string]int{"pending>reserved>paid ": units, "pending>cancelled out_of_stock": buyers - units}
	if !maps.Equal(byOutcome, want) {
		t.Fatalf("outcomes %v, want %v", byOutcome, want)
	}
	if charged := s.rows(`select status from payments.payments`); len(charged) != units || slices.Contains(charged, "failed") {
		t.Fatalf("the payment service holds %v, want %d succeeded payments", charged, units)
	}
}

// Every message of ORDERS, INVENTORY and PAYMENTS delivered a second time, under a new
// identity (no Nats-Msg-Id: neither JetStream's duplicate window nor a processed table
// knows the copy), changes nothing: after a paid order, a declined one, one refunded after
// its customer cancelled it and one out of stock, the copies leave every order, the stock,
// the payments and refunds and the coupon's redemptions as they were, dead-letter nothing
// and publish no event.
func TestDuplicateDeliveriesChangeNothing(t *testing.T) {
	s := newSaga(t)
	p := s.stocked("DUP-1", 10, 2000)
	s.coupon("TENOFF")
	ids := s.everyOutcome(p.ID, "TENOFF")
	before := s.snapshot(ids, "DUP-1", "TENOFF")
	if before.Orders[0].Total.Amount != 3600 || before.Stock.OnHand != 8 || before.Stock.Reserved != 0 ||
		before.Coupon.Redemptions != 1 || len(before.Refunds) != 1 {
		t.Fatalf("the saga itself went wrong: %+v", before)
	}

	copies := s.republish("ORDERS", "INVENTORY", "PAYMENTS")
	after := s.snapshot(ids, "DUP-1", "TENOFF")
	if !reflect.DeepEqual(before.shop, after.shop) {
		t.Fatalf("the copies changed the shop:\nbefore %+v\nafter  %+v", before.shop, after.shop)
	}
	for stream, b := range before.Streams {
		a := after.Streams[stream]
		if a.LastSeq != b.LastSeq+copies[stream] {
			t.Errorf("%s: last sequence %d, want %d + %d copies: an event was published", stream, a.LastSeq, b.LastSeq, copies[stream])
		}
		for subject, want := range b.Subjects {
			if copies[stream] > 0 {
				want *= 2 // each message and its copy
			}
			if a.Subjects[subject] != want {
				t.Errorf("%s: %d messages on %s, want %d", stream, a.Subjects[subject], subject, want)
			}
		}
	}
	// The copies were handled, by handlers that keep no processed rows (their consumers are
	// Idempotent): each consumer settled every copy, and their state made each a no-op.
	for c, stream := range map[string]string{"order-payments": "PAYMENTS", "order-inventory": "INVENTORY", "payment-orders": "ORDERS", "inventory-orders": "ORDERS"} {
		cons, err := s.JS.Consumer(s.Ctx, stream, c)
		if err != nil {
			t.Fatal(err)
		}
		info, err := cons.Info(s.Ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.AckFloor.Stream < after.Streams[stream].LastSeq {
			t.Errorf("%s settled %s up to #%d, not its copies up to #%d", c, stream, info.AckFloor.Stream, after.Streams[stream].LastSeq)
		}
	}
	var processed int
	if err := s.DB.QueryRow(s.Ctx, `select (select count(*) from orders.processed) + (select count(*) from payments.processed)
		+ (select count(*) from inventory.processed) + (select count(*) from promo.processed)`).Scan(&processed); err != nil || processed != 0 {
		t.Errorf("%d processed rows (%v): the saga's consumers keep none", processed, err)
	}
}

// everyOutcome runs four orders of product through the saga, each by a new customer, and
// returns their ids: two units paid with the coupon; one declined (cancelled
// payment_failed); one paid with the coupon, then cancelled by its customer and refunded in
// full; fifty units, more than there are (cancelled out_of_stock).
func (s *saga) everyOutcome(product, coupon string) []string {
	s.T.Helper()
	paid, _ := s.checkout(product, 2, visa, coupon)
	s.waitFor(paid.ID, subjects.OrderStatusPaid, "")
	failed, _ := s.checkout(product, 1, declined, "")
	s.waitFor(failed.ID, subjects.OrderStatusCancelled, subjects.ReasonPaymentFailed)
	refunded, owner := s.checkout(product, 1, visa, coupon)
	s.waitFor(refunded.ID, subjects.OrderStatusPaid, "")
	if _, err := subjects.OrderCancel.Call(owner, s.NC, subjects.OrderIDRequest{ID: refunded.ID}); err != nil {
		s.T.Fatalf("cancel the paid order: %v", err)
	}
	s.waitFor(refunded.ID, subjects.OrderStatusCancelled, subjects.ReasonCustomer)
	expect.Within(s.T, 20*time.Second, func() error {
		if o := s.get(refunded.ID); o.Payment == nil || o.Payment.Refunded != o.Total {
			return fmt.Errorf("refund of %v not recorded yet: %+v", o.Total, o.Payment)
		}
		return nil
	})
	short, _ := s.checkout(product, 50, visa, "")
	s.waitFor(short.ID, subjects.OrderStatusCancelled, subjects.ReasonOutOfStock)
	return []string{paid.ID, failed.ID, refunded.ID, short.ID}
}

// A poison event, one no retry can make readable or valid, is dead-lettered by every saga
// consumer that meets it, with its subject, its payload and the error that condemned it;
// the checkout that follows it on the same streams is paid all the same.
func TestPoisonEventsAreDeadLetteredAndTheSagaGoesOn(t *testing.T) {
	s := newSaga(t)
	p := s.stocked("POISON-1", 3, 900)
	bad := shoptest.NewID()
	poisons := []struct {
		stream, subject, data, err string
		consumers                  []string
	}{
		{"ORDERS", subjects.EvtOrderPlaced.Subject(bad), `{"order_id":`, "unexpected end of JSON input",
			[]string{"inventory-orders", "promotion-orders"}},
		{"ORDERS", subjects.EvtOrderReserved.Subject(bad), `{"order_id":`, "unexpected end of JSON input",
			[]string{"payment-orders"}},
		{"INVENTORY", subjects.EvtInventoryReserved.Subject(bad), `not json`, "unreadable payload: invalid character",
			[]string{"order-inventory"}},
		{"PAYMENTS", subjects.EvtPaymentSucceeded.Subject(bad), `{"order_id":"not-a-uuid","amount":{"amount":900,"currency":"EUR"}}`,
			`order_id "not-a-uuid": not an id`, []string{"order-payments"}},
	}
	for _, poison := range poisons {
		if _, err := s.JS.Publish(s.Ctx, poison.subject, []byte(poison.data), jetstream.WithMsgID(shoptest.NewID())); err != nil {
			t.Fatal(err)
		}
	}
	o, _ := s.checkout(p.ID, 1, visa, "")
	s.waitFor(o.ID, subjects.OrderStatusPaid, "")
	s.wantStock("POISON-1", 2, 0)

	for _, poison := range poisons {
		for _, c := range poison.consumers {
			l := s.DeadLetter(poison.stream, c)
			h := l.Header
			if !strings.Contains(h.Get(consumer.DLQError), poison.err) || h.Get(consumer.DLQSubject) != poison.subject ||
				h.Get(consumer.DLQStream) != poison.stream || h.Get(consumer.DLQConsumer) != c || string(l.Data) != poison.data {
				t.Errorf("dead letter of %s by %s: headers %v, data %s; want the error %q", poison.subject, c, h, l.Data, poison.err)
			}
		}
	}
	_, err := subjects.OrderGet.Call(s.Staff, s.NC, subjects.OrderIDRequest{ID: bad})
	expect.Error(t, err, 404, "", "")
}

// saga is the shop harness with every service of the checkout running: catalog, cart,
// inventory, promotion, payment (sandbox) and order.
type saga struct {
	*shoptest.Env
	// inventory is the inventory instance newSaga started, for a test that stops it; it and
	// the others are there for a test that reads their counters too.
	inventory, promotion, payment, order *shoptest.Instance
}

// newSaga starts the shop for t; the sandbox decides payments after 20 ms.
func newSaga(t testing.TB) *saga {
	t.Helper()
	return startSaga(shoptest.NewEnv(t))
}

// startSaga starts on e what newSaga starts.
func startSaga(e *shoptest.Env) *saga {
	e.T.Helper()
	e.StartCatalog(shoptest.CatalogConfig())
	e.StartCart(shoptest.CartConfig())
	inv := e.StartInventory(shoptest.InventoryConfig())
	promo := e.StartPromotion(shoptest.PromotionConfig())
	pay := e.StartPayment(shoptest.PaymentConfig())
	ord := e.StartOrder(order.Config{})
	return &saga{Env: e, inventory: inv, promotion: promo, payment: pay, order: ord}
}

// stocked creates a product of sku priced price euro cents and sets its stock to onHand.
func (s *saga) stocked(sku string, onHand, price int64) subjects.Product {
	s.T.Helper()
	p := s.Product(s.T, sku, shoptest.EUR(price))
	if _, err := subjects.InventorySet.Call(s.Staff, s.NC, subjects.StockSetRequest{SKU: sku, OnHand: &onHand}); err != nil {
		s.T.Fatalf("stock %s: %v", sku, err)
	}
	return p
}

// coupon creates a coupon code worth 10 % off.
func (s *saga) coupon(code string) {
	s.T.Helper()
	if _, err := subjects.CouponCreate.Call(s.Admin, s.NC, subjects.CouponCreateRequest{Code: code, Kind: subjects.CouponPercent, Value: 10}); err != nil {
		s.T.Fatalf("coupon %s: %v", code, err)
	}
}

// add puts quantity of product in the cart of ctx's caller.
func (s *saga) add(ctx context.Context, product string, quantity int) {
	if _, err := subjects.CartAddItem.Call(ctx, s.NC, subjects.CartItemRequest{ProductID: product, Quantity: quantity}); err != nil {
		s.T.Errorf("add %s × %d to a cart: %v", product, quantity, err)
	}
}

// place checks out the cart of ctx's caller, paying with method.
func (s *saga) place(ctx context.Context, method string) subjects.Order {
	o, err := subjects.OrderPlace.Call(ctx, s.NC, subjects.OrderPlaceRequest{PaymentMethod: method, ShippingAddress: &subjects.Address{
		Name: "Ada Lovelace", Line1: "1 Main St", City: "Berlin", PostalCode: "10115", Country: "DE"}})
	if err != nil {
		s.T.Errorf("place an order: %v", err)
	} else if o.Status != subjects.OrderStatusPending {
		s.T.Errorf("placed order %s is %s, want pending", o.ID, o.Status)
	}
	return o
}

// checkout is a new customer buying quantity of product with method and coupon (none when
// empty); it returns the placed order and the customer's context.
func (s *saga) checkout(product string, quantity int, method, coupon string) (subjects.Order, context.Context) {
	s.T.Helper()
	_, ctx := s.NewCustomer()
	s.add(ctx, product, quantity)
	if coupon != "" {
		if _, err := subjects.CartApplyCoupon.Call(ctx, s.NC, subjects.CouponCodeRequest{Code: coupon}); err != nil {
			s.T.Fatalf("apply %s: %v", coupon, err)
		}
	}
	o := s.place(ctx, method)
	if s.T.Failed() {
		s.T.FailNow()
	}
	return o, ctx
}

// get reads an order as staff.
func (s *saga) get(id string) subjects.Order {
	s.T.Helper()
	o, err := subjects.OrderGet.Call(s.Staff, s.NC, subjects.OrderIDRequest{ID: id})
	if err != nil {
		s.T.Fatalf("get order %s: %v", id, err)
	}
	return o
}

// waitFor waits until order id has status (and reason) and returns it.
func (s *saga) waitFor(id, status, reason string) subjects.Order {
	s.T.Helper()
	var o subjects.Order
	expect.Within(s.T, 20*time.Second, func() error {
		if o = s.get(id); o.Status != status || o.CancelReason != reason {
			return fmt.Errorf("order %s is %s %s, want %s %s", id, o.Status, o.CancelReason, status, reason)
		}
		return nil
	})
	return o
}

// settled waits until every order of ids is paid or cancelled and returns them.
func (s *saga) settled(ids []string) []subjects.Order {
	s.T.Helper()
	orders := make([]subjects.Order, len(ids))
	expect.Within(s.T, 25*time.Second, func() error {
		open := 0
		for i, id := range ids {
			if o := orders[i]; o.Status == subjects.OrderStatusPaid || o.Status == subjects.OrderStatusCancelled {
				continue
			}
			if orders[i] = s.get(id); orders[i].Status != subjects.OrderStatusPaid && orders[i].Status != subjects.OrderStatusCancelled {
				open++
			}
		}
		if open > 0 {
			return fmt.Errorf("%d of %d orders neither paid nor cancelled", open, len(ids))
		}
		return nil
	})
	return orders
}

func statuses(o subjects.Order) []string {
	out := make([]string, len(o.History))
	for i, h := range o.History {
		out[i] = h.Status
	}
	return out
}

// stock reads a SKU's counts as staff.
func (s *saga) stock(sku string) (subjects.Stock, error) {
	return subjects.InventoryGet.Call(s.Staff, s.NC, subjects.SKURequest{SKU: sku})
}

// wantStock waits until a SKU has onHand on hand and reserved reserved, and the difference
// available.
func (s *saga) wantStock(sku string, onHand, reserved int64) {
	s.T.Helper()
	expect.Within(s.T, 20*time.Second, func() error {
		st, err := s.stock(sku)
		if err == nil && (st.OnHand != onHand || st.Reserved != reserved || st.Available != onHand-reserved) {
			err = fmt.Errorf("%s: %+v, want on_hand %d reserved %d", sku, st, onHand, reserved)
		}
		return err
	})
}

// sampleStock reads sku's counts, from the inventory service and from its table, until the
// returned stop is called (at the latest when the test ends); stop returns how many samples
// were taken, and an error for the first that showed less than nothing available (or that
// could not be read).
func (s *saga) sampleStock(sku string) (stop func() (int, error)) {
	done := make(chan struct{})
	type result struct {
		n   int
		err error
	}
	out := make(chan result, 1)
	go func() {
		for n := 0; ; n++ {
			select {
			case <-done:
				out <- result{n, nil}
				return
			default:
			}
			st, err := s.stock(sku)
			var onHand, reserved int64
			if err == nil {
				err = s.DB.QueryRow(s.Ctx, `select on_hand, reserved from inventory.stock where sku = $1`, sku).Scan(&onHand, &reserved)
			}
			if err == nil && (st.Available < 0 || st.OnHand-st.Reserved < 0 || onHand-reserved < 0) {
				err = fmt.Errorf("less than nothing available: %+v, table %d - %d", st, onHand, reserved)
			}
			if err != nil {
				out <- result{n, err}
				return
			}
		}
	}()
	var once sync.Once
	var r result
	stop = func() (int, error) {
		once.Do(func() { close(done); r = <-out })
		return r.n, r.err
	}
	s.T.Cleanup(func() { _, _ = stop() })
	return stop
}

// shop is what duplicate deliveries must leave as it is.
type shop struct {
	Orders []subjects.Order
	Stock  subjects.Stock
	Coupon subjects.Coupon
	// Payments, Refunds and Redemptions are the payment and promotion services' rows.
	Payments, Refunds, Redemptions []string
}

// snapshot is the shop at rest, and its streams: the last sequence and the messages per
// subject of each.
type snapshot struct {
	shop
	Streams map[string]streamState
}

type streamState struct {
	LastSeq  uint64
	Subjects map[string]uint64
}

// snapshot waits until the shop is at rest and reads the orders ids, the stock of sku, the
// coupon code and the streams.
func (s *saga) snapshot(ids []string, sku, code string) snapshot {
	s.T.Helper()
	snap := snapshot{Streams: map[string]streamState{}}
	for name, st := range s.AtRest(20 * time.Second) {
		str, err := s.JS.Stream(s.Ctx, name)
		if err != nil {
			s.T.Fatal(err)
		}
		info, err := str.Info(s.Ctx, jetstream.WithSubjectFilter(">"))
		if err != nil {
			s.T.Fatal(err)
		}
		snap.Streams[name] = streamState{LastSeq: st.LastSeq, Subjects: info.State.Subjects}
	}
	for _, id := range ids {
		snap.Orders = append(snap.Orders, s.get(id))
	}
	var err error
	if snap.Stock, err = s.stock(sku); err != nil {
		s.T.Fatal(err)
	}
	page, err := subjects.CouponList.Call(s.Admin, s.NC, subjects.ListRequest{Limit: 100})
	if i := slices.IndexFunc(page.Items, func(c subjects.Coupon) bool { return c.Code == code }); err != nil || i < 0 {
		s.T.Fatalf("coupon %s not listed: %v", code, err)
	} else {
		snap.Coupon = page.Items[i]
	}
	snap.Payments = s.rows(`select concat_ws(' ', order_id, status, amount, currency, decline_code) from payments.payments order by created_at, id`)
	snap.Refunds = s.rows(`select concat_ws(' ', order_id, amount, currency, status, reason) from payments.refunds order by created_at, id`)
	snap.Redemptions = s.rows(`select concat_ws(' ', order_id, status, reason, discount) from promo.redemptions order by order_id`)
	return snap
}

// rows returns the one text column of query's rows.
func (s *saga) rows(query string) []string {
	s.T.Helper()
	rows, err := s.DB.Query(s.Ctx, query)
	if err != nil {
		s.T.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		s.T.Fatal(err)
	}
	return out
}

// republish publishes every message of streams once more, with its subject, payload and
// headers but without Nats-Msg-Id (or any Nats- header): neither JetStream's duplicate
// window nor a consumer's processed table knows the copy, so only the handlers' own
// idempotency stands between it and a second effect. It returns the copies per stream.
func (s *saga) republish(streams ...string) map[string]uint64 {
	s.T.Helper()
	stored := map[string][]jetstream.Msg{}
	for _, name := range streams { // all read before any copy is sent
		stored[name] = s.Messages(name)
	}
	copies := map[string]uint64{}
	for _, name := range streams {
		for _, m := range stored[name] {
			c := nats.NewMsg(m.Subject())
			c.Data = m.Data()
			for k, v := range m.Headers() {
				if !strings.HasPrefix(k, "Nats-") {
					c.Header[k] = v
				}
			}
			if _, err := s.JS.PublishMsg(s.Ctx, c); err != nil {
				s.T.Fatalf("republish %s: %v", m.Subject(), err)
			}
			copies[name]++
		}
	}
	return copies
}
