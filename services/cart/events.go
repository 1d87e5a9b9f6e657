package cart

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/souk/souk/platform/background"
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
// lines once. The cart service has no database, so the cart itself is its processed record,
// and the consumer is a kit loop of its own rather than a platform/consumer.Consumer (which
// keeps its processed rows in PostgreSQL); its payload is decoded by the contract's
// descriptor all the same (subjects.EvtOrderPlaced.Decode).
const (
	// ordersConsumer is the durable name.
	ordersConsumer = "cart-orders"
	// ordersAckWait bounds one message's handling before JetStream delivers it again.
	ordersAckWait = 30 * time.Second
	// ordersMaxDeliver bounds the deliveries of an event that keeps failing (the bucket
	// refusing writes): with the back-off below, about 40 minutes. Past it the server's
	// max-deliveries advisory names it for the dead letters.
	ordersMaxDeliver = 100
	// handleTimeout bounds the cart write of one event.
	handleTimeout = 10 * time.Second
	// opTimeout bounds creating the consumer.
	opTimeout = 10 * time.Second
)

// checkouts applies order.placed to the carts.
type checkouts struct {
	store *Store
	js    jetstream.JetStream
	log   zerolog.Logger
}

// run creates or updates the durable consumer and applies its messages until ctx ends.
func (w *checkouts) run(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	cons, err := w.js.CreateOrUpdateConsumer(cctx, subjects.EvtOrderPlaced.Stream, jetstream.ConsumerConfig{
		Durable:       ordersConsumer,
		Description:   "souk cart service: takes what an order bought out of its cart",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ordersAckWait,
		MaxDeliver:    ordersMaxDeliver,
		MaxAckPending: 1000,
		FilterSubject: subjects.EvtOrderPlaced.Filter(), // as nats/bus/consumers.go declares it
	})
	cancel()
	if err != nil {
		return fmt.Errorf("cart: consumer %s: %w", ordersConsumer, err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { w.handle(ctx, m) },
		jetstream.PullExpiry(5*time.Second), // an unserved pull heals in seconds
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if ctx.Err() == nil {
				w.log.Warn().Err(err).Str("consumer", ordersConsumer).Msg("cart: consuming order events")
			}
		}))
	if err != nil {
		return fmt.Errorf("cart: consume %s: %w", ordersConsumer, err)
	}
	<-ctx.Done()
	cc.Stop()
	<-cc.Closed()
	return nil
}

// handle takes one order.placed's lines out of its customer's cart and acknowledges it; a
// write that fails is delivered again after a back-off; an event it cannot read is
// terminated with its error (the server's MSG_TERMINATED advisory carries it), never acked.
func (w *checkouts) handle(ctx context.Context, m jetstream.Msg) {
	key, order, bought, coupon, err := readPlaced(m.Data())
	if err != nil {
		w.log.Error().Err(err).Str("subject", m.Subject()).Msg("cart: unreadable order event")
		_ = m.TermWithReason(err.Error())
		return
	}
	hctx, cancel := context.WithTimeout(ctx, handleTimeout)
	_, _, err = w.store.Update(hctx, key, func(c *Cart) (bool, error) { return c.CheckOut(order, bought, coupon), nil })
	cancel()
	if err != nil {
		delivered := uint64(1)
		if md, merr := m.Metadata(); merr == nil {
			delivered = md.NumDelivered
		}
		if ctx.Err() == nil {
			w.log.Warn().Err(err).Str("order", order).Uint64("delivered", delivered).Msg("cart: order's lines not taken out yet; retrying")
		}
		_ = m.NakWithDelay(retryDelay(delivered))
		return
	}
	_ = m.Ack()
}

// retryDelay doubles from 250 ms with each delivery, up to 30 s.
func retryDelay(delivered uint64) time.Duration {
	return background.Doubling(int(min(delivered, 64)), 250*time.Millisecond, 30*time.Second)
}

// readPlaced reads an order.placed, decoded by the contract: the customer's cart key, the
// order id, the lines bought (product ids canonical, as the cart keeps them) and the coupon
// used.
func readPlaced(data []byte) (key, order string, bought []Line, coupon string, err error) {
	ev, err := subjects.EvtOrderPlaced.Decode(data)
	if err != nil {
		return "", "", nil, "", err
	}
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
