package cart

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/subjects"
)

// What the cart service consumes: order.placed, with the durable consumer cart-orders on the
// ORDERS stream (declared in nats/bus/consumers.go with the stream, so no event published before
// the service first ran is skipped).
//
// The order service takes what an order bought out of the cart with a call
// (CartCheckedOut) right after storing it. Should that call be lost (the process died
// between the insert and the call, the call timed out, the bucket refused the write), the
// event does the same, later: the event carries the order's lines, its coupon and its
// customer. Both are the same CheckOut, which remembers the orders it took, in the same
// compare-and-swap write as the lines it takes out: applied twice, or by both, it takes the
// lines once. The carts live in KV, so the cart itself is the record of what was applied;
// the consumer kit's processed row (the cart's only table, in its schema "cart") gives its
// consumer what every consumer has: dead letters for what it cannot read or keeps failing,
// a hold while the database is away, its metrics.
const (
	// ordersConsumer is the durable name.
	ordersConsumer = "cart-orders"
	// ordersMaxDeliver bounds the deliveries of an event that keeps failing (the bucket
	// refusing writes): with the kit's back-off, about 40 minutes; then it is dead-lettered.
	ordersMaxDeliver = 100
	// handleTimeout bounds the cart write of one event.
	handleTimeout = 10 * time.Second
)

// checkOut takes the lines order.placed bought out of its customer's cart. Its writes are in
// the bucket, not in tx: CheckOut's own record makes it safe to apply twice.
func (s *Store) checkOut(ctx context.Context, _ pgx.Tx, ev subjects.OrderPlaced) error {
	key, order, bought, coupon, err := readPlaced(ev)
	if err != nil {
		return consumer.Permanent(err)
	}
	ctx, cancel := context.WithTimeout(ctx, handleTimeout)
	defer cancel()
	if _, _, err = s.Update(ctx, key, func(c *Cart) (bool, error) { return c.CheckOut(order, bought, coupon), nil }); err != nil {
		return fmt.Errorf("take order %s out of its cart: %w", order, err)
	}
	return nil
}

// readPlaced reads an order.placed: the customer's cart key, the order id, the lines bought
// (product ids canonical, as the cart keeps them) and the coupon used.
func readPlaced(ev subjects.OrderPlaced) (key, order string, bought []Line, coupon string, err error) {
	user, uerr := uuid.Parse(ev.UserID)
	id, oerr := uuid.Parse(ev.OrderID)
	if uerr != nil || oerr != nil {
		return "", "", nil, "", errors.New("order.placed: user_id and order_id must be UUIDs")
	}
	if len(ev.Lines) > maxCheckoutLines {
		return "", "", nil, "", errors.New("order.placed: too many lines")
	}
	bought = make([]Line, 0, len(ev.Lines))
	for _, l := range ev.Lines {
		p, err := uuid.Parse(l.ProductID)
		if err != nil || l.Quantity < 1 {
			return "", "", nil, "", fmt.Errorf("order.placed: bad line %q × %d", l.ProductID, l.Quantity)
		}
		bought = append(bought, Line{ProductID: p.String(), Quantity: l.Quantity})
	}
	return user.String(), id.String(), bought, ev.Coupon, nil
}
