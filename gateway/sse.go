package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go"

	"github.com/souk/souk/subjects"
)

// SSE limits.
const (
	// SSEKeepAlive is how often an idle stream sends a comment, so proxies keep it open and a
	// vanished client is noticed.
	SSEKeepAlive = 15 * time.Second
	// SSEMaxDuration bounds one stream; EventSource reconnects with Last-Event-ID.
	SSEMaxDuration = 30 * time.Minute
	// sseRetryAfter is the Retry-After of a stream refused because its account holds
	// RateLimits.SSEPerUser open already: a slot frees when one of them closes.
	sseRetryAfter = 5 * time.Second
)

// orderEvents streams an order's status history as Server-Sent Events, from the first status
// (or after Last-Event-ID), then each change live, until the order is cancelled or delivered.
//
// The history is the order service's (PostgreSQL's record), not the ORDERS stream's: an
// interest stream lets an event go once every service applied it. The events only say when
// to look again: a subscription to the order's events (follow), made after the order is
// first read (a 404 subscribes to nothing), and the order is read again once it holds, so a
// change made in between is not missed; then every event of the order, and every
// keep-alive, makes the gateway read it again and send the statuses the client has not had.
//
// Each SSE event is named after the status and carries the history entry
// (subjects.OrderStatus); its id is the entry's position in the history, 1 for the first.
// A history only grows and holds each status once, so position n is the same status on
// every read, and Last-Event-ID n resumes after the n-th. The caller's token is checked on
// every read: a token that expires ends the stream, and the client reconnects with a new one.
func (g *Gateway) orderEvents(c *fiber.Ctx) error {
	meta := subjects.Meta{Authorization: c.Get(fiber.HeaderAuthorization), RequestID: stateOf(c).id}
	if tp := c.Get(subjects.HeaderTraceparent); len(tp) <= 128 {
		meta.Traceparent = tp
	}
	read := func(ctx context.Context, id string) (subjects.Order, error) {
		ctx, cancel := context.WithTimeout(subjects.WithMeta(ctx, meta), g.cfg.RequestTimeout)
		defer cancel()
		return subjects.OrderGet.Call(ctx, g.deps.NC, subjects.OrderIDRequest{ID: id})
	}
	// The route checked the token; Verify answers it again from memory, for its subject.
	tok, _ := strings.CutPrefix(meta.Authorization, "Bearer ")
	claims, err := g.deps.Verifier.Verify(c.UserContext(), tok)
	if err != nil {
		return err
	}
	order, err := read(stateOf(c).ctx, c.Params("id"))
	if err != nil {
		return err
	}
	release, err := g.limits.streams.take(claims.Subject)
	if err != nil {
		return err
	}
	sent, _ := strconv.Atoi(c.Get("Last-Event-ID"))
	if sent < 0 || sent > len(order.History) { // not an id of this scheme
		sent = 0
	}
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("X-Accel-Buffering", "no")
	conn := c.Context().Conn()
	// Events only wake the loop; one pending wake covers any number of them.
	s := &orderStream{id: order.ID, sent: sent, read: read, wake: make(chan struct{}, 1)}
	if !ended(order.History) {
		s.follow = func() (func(), error) { return g.follow(order.ID, s.wake) }
	}
	// The connection is not reused: its reads belong to hangUp while the stream lasts.
	c.Context().SetConnectionClose()
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer release()
		ctx, cancel := context.WithTimeout(context.Background(), SSEMaxDuration)
		defer cancel()
		gone, stop := hangUp(conn)
		defer stop()
		s.w, s.extend, s.gone = w, func() { _ = conn.SetWriteDeadline(time.Now().Add(SSEKeepAlive * 2)) }, gone
		s.run(ctx, order.History, g.closing)
	})
	return nil
}

// sseFollowTimeout bounds the round trip that makes the server hold a stream's subscription
// (follow's flush). Its failure costs nothing but latency: the read at the next keep-alive
// catches an event the subscription missed.
const sseFollowTimeout = 5 * time.Second

// follow wakes the stream, a non-blocking send on wake, for every event of the order
// published from now on, until the returned stop. A plain NATS subscription on the order's
// subjects, not a consumer of ORDERS: the events only say when to read again, and a consumer
// of an interest stream must have as many replicas as the stream, so with
// SOUK_NATS_REPLICAS=3 an ordered (one-replica) consumer is refused and any other would be a
// replicated group per open stream. The flush makes the server hold the subscription before
// the first read again, within sseFollowTimeout; an event it misses still (the flush timed
// out on a busy connection, the gateway reconnects, a cluster's other nodes do not have the
// subscription yet) is caught by the read at the next keep-alive.
func (g *Gateway) follow(orderID string, wake chan<- struct{}) (stop func(), err error) {
	sub, err := g.deps.NC.Subscribe(subjects.EvtOrder.Entity(orderID), func(*nats.Msg) { poke(wake) })
	if err != nil {
		return nil, fmt.Errorf("order events: %w", err)
	}
	if err := g.deps.NC.FlushTimeout(min(sseFollowTimeout, g.cfg.RequestTimeout)); err != nil {
		g.deps.Log.Warn().Err(err).Str("order_id", orderID).Msg("order events: subscription not confirmed; the keep-alive reads catch up")
	}
	return func() { _ = sub.Unsubscribe() }, nil
}

// poke asks the stream of wake to read the order again: a pending wake covers any number, so
// poke never waits.
func poke(wake chan<- struct{}) {
	select {
	case wake <- struct{}{}:
	default:
	}
}

// ended reports whether history's last status is one an order never leaves.
func ended(history []subjects.OrderStatus) bool {
	if len(history) == 0 {
		return false
	}
	last := history[len(history)-1].Status
	return last == subjects.OrderStatusCancelled || last == subjects.OrderStatusDelivered
}

// orderStream is one open SSE stream of an order.
type orderStream struct {
	id   string
	sent int // history entries the client has
	read func(ctx context.Context, id string) (subjects.Order, error)
	// follow subscribes wake to the order's events (Gateway.follow); nil for an order that
	// has ended, whose stream sends its history and ends.
	follow func() (stop func(), err error)
	wake   chan struct{} // buffered, one: a pending wake covers any number
	w      *bufio.Writer
	extend func() // pushes the connection's write deadline past the next keep-alive
	// gone is closed when the client hangs up.
	gone <-chan struct{}
}

// hangUp watches conn while a stream is written to it: an SSE client sends nothing, so a read
// that returns means the client closed the connection (or broke the protocol), and gone is
// closed at once, rather than when a keep-alive fails to write up to two intervals later.
// stop ends the watch and waits for it, so nothing reads conn afterwards.
func hangUp(conn net.Conn) (gone <-chan struct{}, stop func()) {
	ch := make(chan struct{})
	_ = conn.SetReadDeadline(time.Time{}) // the server's deadline for reading the request
	go func() {
		defer close(ch)
		var b [1]byte
		_, _ = conn.Read(b[:])
	}()
	return ch, func() {
		_ = conn.SetReadDeadline(time.Now())
		<-ch
	}
}

// run sends history's entries the client has not had, then those of every read the wake
// channel calls for, until the order ends, ctx ends, the gateway shuts down, a read fails or
// the client goes away (a failed flush).
//
// The first bytes, a comment, go out before anything is waited for: the client has the
// headers and knows the stream is open however long the subscription (follow) takes. The
// history is sent after it, so that an event of the order is either in the history or wakes
// the stream, then read again.
func (s *orderStream) run(ctx context.Context, history []subjects.OrderStatus, closing <-chan struct{}) {
	keepAlive := time.NewTicker(SSEKeepAlive)
	defer keepAlive.Stop()
	if _, err := s.w.WriteString(": order events\nretry: 2000\n\n"); err != nil || !s.flush() {
		return
	}
	if s.follow != nil {
		unfollow, err := s.follow()
		if err != nil {
			return
		}
		defer unfollow()
		// Read again once subscribed. Not a plain send: events that came during follow's
		// flush filled the channel already, and a send would wait for good (it did, under
		// load: the stream never started).
		poke(s.wake)
	}
	for {
		if more, ok := s.send(history); !more || !ok {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-closing:
			return
		case <-s.gone:
			return
		case <-keepAlive.C:
			if _, err := s.w.WriteString(": keep-alive\n\n"); err != nil || !s.flush() {
				return
			}
			poke(s.wake) // and read again, for an event the subscription missed (see follow)
		case <-s.wake:
			order, err := s.read(ctx, s.id)
			if err != nil {
				return
			}
			history = order.History
		}
	}
}

// send writes the entries of history past those sent. more is false once the order has
// ended; ok is false when the client is gone.
func (s *orderStream) send(history []subjects.OrderStatus) (more, ok bool) {
	more = !ended(history)
	if s.sent >= len(history) {
		return more, true
	}
	for ; s.sent < len(history); s.sent++ {
		h := history[s.sent]
		data, err := json.Marshal(h)
		if err != nil {
			return false, false
		}
		fmt.Fprintf(s.w, "id: %d\nevent: %s\ndata: %s\n\n", s.sent+1, h.Status, data)
	}
	return more, s.flush()
}

func (s *orderStream) flush() bool { s.extend(); return s.w.Flush() == nil }
