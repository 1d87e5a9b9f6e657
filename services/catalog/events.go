package catalog

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

// published are the events the catalog writes to its outbox, on the CATALOG stream.
var published = []subjects.EventKind{
	subjects.EvtProductCreated.EventKind, subjects.EvtProductUpdated.EventKind, subjects.EvtPriceChanged.EventKind,
	subjects.EvtProductDeleted.EventKind, subjects.EvtStockChanged.EventKind, subjects.EvtRatingChanged.EventKind,
	subjects.EvtCategoryCreated.EventKind, subjects.EvtCategoryUpdated.EventKind,
}

// purchases are the routes of catalog-purchases: who paid for what (the right to review).
// order.paid records a purchase and so, again, does order.delivered, which names the buyer
// and the lines as order.paid does: a delivered order is a purchase even if its paid event
// never reached the catalog (a consumer created after it aged out of ORDERS).
// order.cancelled takes it back.
func purchases() []consumer.Route {
	return []consumer.Route{
		consumer.On(subjects.EvtOrderPaid, func(ctx context.Context, tx pgx.Tx, ev subjects.OrderPaid) error {
			return recordPurchase(ctx, tx, ev.UserID, ev.OrderID, ev.Lines, ev.OccurredAt)
		}),
		consumer.On(subjects.EvtOrderDelivered, func(ctx context.Context, tx pgx.Tx, ev subjects.OrderFulfilment) error {
			return recordPurchase(ctx, tx, ev.UserID, ev.OrderID, ev.Lines, ev.OccurredAt)
		}),
		consumer.On(subjects.EvtOrderCancelled, func(ctx context.Context, tx pgx.Tx, ev subjects.OrderCancelled) error {
			order, err := consumer.ID("order_id", ev.OrderID)
			if err != nil {
				return err
			}
			return ForgetPurchase(ctx, tx, order)
		}),
	}
}

// recordPurchase records an order's lines as bought by its customer. Ids that do not parse
// are permanent: no retry makes them readable.
func recordPurchase(ctx context.Context, tx pgx.Tx, userID, orderID string, lines []subjects.OrderLine, at time.Time) error {
	user, uerr := uuid.Parse(userID)
	order, oerr := uuid.Parse(orderID)
	products := make([]uuid.UUID, 0, len(lines))
	var perr error
	for _, l := range lines {
		id, err := uuid.Parse(l.ProductID)
		perr = errors.Join(perr, err)
		products = append(products, id)
	}
	if err := errors.Join(uerr, oerr, perr); err != nil {
		return consumer.Permanent(fmt.Errorf("order %s: %w", orderID, err))
	}
	return RecordPurchase(ctx, tx, user, order, products, at)
}

// applyStockLevel keeps the catalog's copy of availability; a level without a SKU is
// permanent.
func (s *Store) applyStockLevel(ctx context.Context, tx pgx.Tx, lvl subjects.StockLevel) error {
	if lvl.SKU == "" {
		return consumer.Permanent(errors.New("inventory.stock_changed: no sku"))
	}
	return s.ApplyStock(ctx, tx, lvl)
}
