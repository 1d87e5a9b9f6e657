package bus

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/subjects"
)

// Consumer declares one durable consumer of an interest stream: its name, its stream and the
// subjects it takes (none: the whole stream).
//
// An interest stream keeps a message only while some consumer still has to apply it, and it
// does not store at all a message that no consumer's filter matches at the moment it is
// published (nats-server acknowledges it and skips it). A consumer created by its service when
// the service starts would therefore miss every event published before that, for good. So every
// durable consumer of an interest stream is declared here and created with its stream, before
// anything publishes (EnsureStreams). Its service's consumer kit (platform/consumer) later
// updates it with its ack wait, redelivery and pending limits.
type Consumer struct {
	// Name is the durable name, the one the service's platform/consumer.Consumer uses.
	Name string `json:"name"`
	// Stream is the interest stream consumed.
	Stream string `json:"stream"`
	// Subjects filter the stream; none means all of it. They must be the service's own (the
	// tests of cmd/souk compare them with every service's declaration): a wider filter in the
	// service would take events the stream skipped before the service first started.
	Subjects []string `json:"subjects"`
}

// DeclaredDescription is the description a declared consumer is created with. The consumer
// kit replaces it when its service first runs, so a consumer still described so was never
// started: its events wait in the stream for a service that is not running.
const DeclaredDescription = "declared in nats/bus/consumers.go; its service has not started it yet"

// Consumers are the durable consumers of the interest streams, by stream. An event kind no
// consumer takes (inventory.committed, promotion.redeemed and returned) is not kept: a consumer added
// later starts from the events published after it is declared here and deployed.
var Consumers = []Consumer{
	durable("inventory-orders", subjects.EvtOrderPlaced.EventKind, subjects.EvtOrderPaid.EventKind, subjects.EvtOrderCancelled.EventKind),
	durable("payment-orders", subjects.EvtOrderReserved.EventKind, subjects.EvtOrderCancelled.EventKind),
	durable("promotion-orders", subjects.EvtOrderPlaced.EventKind, subjects.EvtOrderPaid.EventKind, subjects.EvtOrderCancelled.EventKind),
	durable("shipping-orders", subjects.EvtOrderPaid.EventKind, subjects.EvtOrderCancelled.EventKind),
	durable("catalog-purchases", subjects.EvtOrderPaid.EventKind, subjects.EvtOrderDelivered.EventKind, subjects.EvtOrderCancelled.EventKind),
	durable("notify-orders", subjects.EvtOrderPlaced.EventKind, subjects.EvtOrderReserved.EventKind, subjects.EvtOrderPaid.EventKind,
		subjects.EvtOrderFulfilling.EventKind, subjects.EvtOrderShipped.EventKind, subjects.EvtOrderDelivered.EventKind, subjects.EvtOrderCancelled.EventKind),
	durable("cart-orders", subjects.EvtOrderPlaced.EventKind),
	durable("order-inventory", subjects.EvtInventoryReserved.EventKind, subjects.EvtInventoryRejected.EventKind, subjects.EvtInventoryExpired.EventKind),
	durable("catalog-stock", subjects.EvtStockLevel.EventKind),
	durable("order-payments", subjects.EvtPaymentSucceeded.EventKind, subjects.EvtPaymentFailed.EventKind, subjects.EvtPaymentRefunded.EventKind),
	durable("notify-payments", subjects.EvtPaymentSucceeded.EventKind, subjects.EvtPaymentFailed.EventKind, subjects.EvtPaymentRefunded.EventKind),
	durable("order-shipping", subjects.EvtShipping.EventKind),
	durable("notify-shipping", subjects.EvtShipmentCreated.EventKind, subjects.EvtShipmentPacked.EventKind, subjects.EvtShipmentShipped.EventKind,
		subjects.EvtShipmentInTransit.EventKind, subjects.EvtShipmentDelivered.EventKind, subjects.EvtShipmentCancelled.EventKind),
	durable("notify-users", subjects.EvtUserRegistered.EventKind, subjects.EvtUserUpdated.EventKind,
		subjects.EvtUserVerificationRequested.EventKind, subjects.EvtUserEmailChangeRequested.EventKind,
		subjects.EvtUserPasswordResetRequested.EventKind, subjects.EvtUserPasswordChanged.EventKind),
	durable("auth-revocations", subjects.EvtUserRevoked.EventKind),
	durable("order-promotions", subjects.EvtCouponRefused.EventKind),
}

// durable declares the consumer name of the events of kinds, all on one stream: its filter
// is their filters, as the consumer kit builds it from its routes (consumer.On).
func durable(name string, kinds ...subjects.EventKind) Consumer {
	c := Consumer{Name: name, Stream: kinds[0].Stream}
	for _, k := range kinds {
		if k.Stream != c.Stream {
			panic("bus: consumer " + name + " declared on two streams")
		}
		c.Subjects = append(c.Subjects, k.Filter())
	}
	return c
}

// config is the consumer as declared: what the consumer kit also sets and cannot change in
// an update (deliver and ack policy), and the filter. The rest is the kit's.
func (c Consumer) config() jetstream.ConsumerConfig {
	cfg := jetstream.ConsumerConfig{
		Durable:       c.Name,
		Description:   DeclaredDescription,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
	}
	if len(c.Subjects) == 1 { // as the kit sends it, so its update changes no filter
		cfg.FilterSubject = c.Subjects[0]
	} else {
		cfg.FilterSubjects = c.Subjects
	}
	return cfg
}

// EnsureConsumers creates the declared consumers of stream that do not exist. It never updates
// one: the service running it has set its ack wait and limits, and an update would undo them.
func EnsureConsumers(ctx context.Context, js jetstream.JetStream, stream string) error {
	for _, c := range Consumers {
		if c.Stream != stream {
			continue
		}
		// Creating what exists with the same config is a read; with another (the kit's) the
		// server refuses and changes nothing.
		_, err := js.CreateConsumer(ctx, stream, c.config())
		if err != nil && !errors.Is(err, jetstream.ErrConsumerExists) {
			return fmt.Errorf("consumer %s on stream %s: %w", c.Name, stream, err)
		}
	}
	return nil
}
