package consumer

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/jackc/pgx/v5"

	"github.com/souk/souk/subjects"
)

// Route ties one kind of event to its typed handler. Build it with On; a Consumer takes its
// stream and its filter from its routes, so what it subscribes to and what it handles cannot
// drift apart.
type Route struct {
	kind  subjects.EventKind
	apply Handler
}

// Kind is the event kind the route handles.
func (r Route) Kind() subjects.EventKind { return r.kind }

// On routes the events of evt to fn: the payload is decoded as T in one place, and a payload
// that does not decode is a poison message (dead-lettered at once, never retried). fn has the
// contract of a Handler: its writes go through tx, an error rolls back only this event's
// writes and is retried, Permanent marks one no retry can fix. MsgOf(ctx) gives the delivery's
// subject, event id and headers when fn needs them.
func On[T any](evt subjects.Event[T], fn func(ctx context.Context, tx pgx.Tx, evt T) error) Route {
	return Route{kind: evt.EventKind, apply: func(ctx context.Context, tx pgx.Tx, m Msg) error {
		v, err := evt.Decode(m.Data)
		if err != nil {
			return Permanent(err)
		}
		return fn(ctx, tx, v)
	}}
}

type msgKey struct{}

// MsgOf returns the delivery a typed handler is applying (its subject, event id, headers,
// delivery count); the zero Msg outside a consumer.
func MsgOf(ctx context.Context) Msg {
	m, _ := ctx.Value(msgKey{}).(Msg)
	return m
}

// routed sets the consumer's stream, filter and handler from its routes: every route must be
// on one stream, and a subject that no route takes is a poison message, never a silent ack.
func (c *Consumer) routed() error {
	if len(c.On) == 0 {
		return nil
	}
	if c.Handle != nil || len(c.Subjects) > 0 {
		return fmt.Errorf("consumer %s: On replaces Handle and Subjects; give one or the other", c.Name)
	}
	routes := c.On
	for _, r := range routes {
		if c.Stream == "" {
			c.Stream = r.kind.Stream
		}
		if r.kind.Stream != c.Stream {
			return fmt.Errorf("consumer %s: %s is on stream %s, not %s: one consumer reads one stream", c.Name, r.kind.Kind, r.kind.Stream, c.Stream)
		}
		if !slices.Contains(c.Subjects, r.kind.Filter()) {
			c.Subjects = append(c.Subjects, r.kind.Filter())
		}
	}
	c.Handle = func(ctx context.Context, tx pgx.Tx, m Msg) error {
		for _, r := range routes {
			if r.kind.Matches(m.Subject) {
				return r.apply(context.WithValue(ctx, msgKey{}, m), tx, m)
			}
		}
		return Permanent(fmt.Errorf("%s: no handler for this subject in consumer %s", m.Subject, c.Name))
	}
	return nil
}

// Filters are the subjects the consumer declares: its routes' filters, or its Subjects.
func (c *Consumer) Filters() []string {
	r := *c
	if err := r.routed(); err != nil {
		return nil
	}
	return r.Subjects
}

// StreamName is the stream the consumer reads: its Stream, or its routes'.
func (c *Consumer) StreamName() string {
	if c.Stream != "" || len(c.On) == 0 {
		return c.Stream
	}
	return c.On[0].kind.Stream
}

// ID reads the id field of a decoded payload (an order_id, a product_id): an event whose id
// is not a UUID is a poison message, dead-lettered with field and value named, never retried.
func ID(field, value string) (uuid.UUID, error) {
	id, err := uuid.Parse(value)
	if err != nil || id == uuid.Nil {
		return uuid.Nil, Permanent(fmt.Errorf("%s %q: not an id", field, value))
	}
	return id, nil
}
