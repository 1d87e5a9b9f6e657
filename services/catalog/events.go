package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/souk/souk/platform/background"
	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/subjects"
)

// What the catalog consumes, besides its own events.
var (
	// purchaseSubjects tell the catalog who paid for what (the right to review): paid and,
	// again, delivered; cancelled takes it back.
	purchaseSubjects = []string{subjects.EvtOrderPaid.Filter(), subjects.EvtOrderDelivered.Filter(), subjects.EvtOrderCancelled.Filter()}
	// stockSubjects carry the inventory service's stock levels (in_stock).
	stockSubjects = []string{subjects.EvtStockLevel.Filter()}
)

// applyOrderEvent records or forgets a purchase. An event it cannot read is permanent: no
// retry will make it readable.
func applyOrderEvent(ctx context.Context, tx pgx.Tx, m consumer.Msg) error {
	switch {
	case strings.HasPrefix(m.Subject, subjects.EvtOrderPaid.Kind+"."), strings.HasPrefix(m.Subject, subjects.EvtOrderDelivered.Kind+"."):
		// order.delivered (subjects.OrderFulfilment) names the buyer and the lines as
		// order.paid does: a delivered order is a purchase even if its paid event never
		// reached the catalog (a consumer created after it aged out of ORDERS).
		var ev subjects.OrderPaid
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			return consumer.Permanent(fmt.Errorf("%s: %w", m.Subject, err))
		}
		user, uerr := uuid.Parse(ev.UserID)
		order, oerr := uuid.Parse(ev.OrderID)
		products := make([]uuid.UUID, 0, len(ev.Lines))
		var perr error
		for _, l := range ev.Lines {
			id, err := uuid.Parse(l.ProductID)
			perr = errors.Join(perr, err)
			products = append(products, id)
		}
		if err := errors.Join(uerr, oerr, perr); err != nil {
			return consumer.Permanent(fmt.Errorf("%s: %w", m.Subject, err))
		}
		return RecordPurchase(ctx, tx, user, order, products, ev.OccurredAt)
	case strings.HasPrefix(m.Subject, subjects.EvtOrderCancelled.Kind+"."):
		var ev subjects.OrderCancelled
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			return consumer.Permanent(fmt.Errorf("order.cancelled: %w", err))
		}
		order, err := uuid.Parse(ev.OrderID)
		if err != nil {
			return consumer.Permanent(fmt.Errorf("order.cancelled: order_id: %w", err))
		}
		return ForgetPurchase(ctx, tx, order)
	}
	return nil
}

// applyStockEvent keeps the catalog's copy of availability.
func (s *Store) applyStockEvent(ctx context.Context, tx pgx.Tx, m consumer.Msg) error {
	var lvl subjects.StockLevel
	if err := json.Unmarshal(m.Data, &lvl); err != nil || lvl.SKU == "" {
		return consumer.Permanent(fmt.Errorf("inventory.stock_changed: unreadable payload: %v", err))
	}
	return s.ApplyStock(ctx, tx, lvl)
}

// invalidator follows the CATALOG stream on this instance (an ordered consumer from the
// newest message: each instance sees every change) and drops what the change outdates:
// the product's cached replies and every cached list; a category change also reloads the
// tree. An ordered consumer resumes where it was after a reconnect, so no change is missed
// while the connection blips; the caches' TTL bounds the damage of anything worse.
type invalidator struct {
	h   *handlers
	js  jetstream.JetStream
	log zerolog.Logger
}

// start creates the ordered consumer and follows it until g stops; it returns once the
// consumer exists, so that no change committed after start is missed.
func (iv *invalidator) start(g *background.Group) error {
	ctx := g.Context()
	cons, err := iv.js.OrderedConsumer(ctx, "CATALOG", jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subjects.EvtCatalog.Filter()},
		DeliverPolicy:  jetstream.DeliverNewPolicy,
	})
	if err != nil {
		return fmt.Errorf("catalog: follow CATALOG: %w", err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { iv.apply(ctx, m.Subject()) })
	if err != nil {
		return fmt.Errorf("catalog: follow CATALOG: %w", err)
	}
	g.Run("cache invalidation", func(ctx context.Context) {
		<-ctx.Done()
		cc.Stop()
	})
	return nil
}

// apply handles one change: souk.evt.catalog.<event>.<id>.
func (iv *invalidator) apply(ctx context.Context, subject string) {
	rest, ok := strings.CutPrefix(subject, "souk.evt.catalog.")
	if !ok {
		return
	}
	kind, id, _ := strings.Cut(rest, ".")
	if strings.HasPrefix(kind, "category_") {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := iv.h.cats.reload(rctx); err != nil {
			iv.log.Warn().Err(err).Msg("catalog: reload categories after a change")
		}
		iv.h.lists.InvalidateAll()
		return
	}
	iv.h.products.Invalidate(id)
	iv.h.lists.InvalidateAll()
}
