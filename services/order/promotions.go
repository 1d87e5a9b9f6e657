package order

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/subjects"
)

// applyCouponRefused cancels the order whose coupon was refused, reason coupon_refused: the
// order was priced with a discount the coupon no longer grants, and the promotion service
// will not count it. Cancelling is the safe answer: the stock is released, a payment taken
// is refunded (order.cancelled), and the customer may order again at the price of the day;
// repricing an order the customer accepted, or one already paid, would charge them an
// amount they never agreed to. An order that has shipped (or is past cancelling) keeps its
// discount: nothing can be undone, so it is logged for an operator, not retried.
func (s *Store) applyCouponRefused(ctx context.Context, tx pgx.Tx, ev subjects.CouponEvent) error {
	id, err := consumer.ID("order_id", ev.OrderID)
	if err != nil {
		return err
	}
	_, err = s.Update(ctx, tx, id, cancelIfOpen(subjects.ReasonCouponRefused,
		subjects.OrderStatusPending, subjects.OrderStatusReserved, subjects.OrderStatusPaid))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("coupon refused for order %s: %w", ev.OrderID, err)
	}
	return nil
}
