package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/subjects"
)

// SSE limits.
const (
	// SSEKeepAlive is how often an idle stream sends a comment, so proxies keep it open and a
	// vanished client is noticed.
	SSEKeepAlive = 15 * time.Second
	// SSEMaxDuration bounds one stream; EventSource reconnects with Last-Event-ID.
	SSEMaxDuration = 30 * time.Minute
)

// orderEvents streams an order's status changes as Server-Sent Events: every event of the
// order on the ORDERS stream from the first (or after Last-Event-ID), then live, until the
// order is cancelled or delivered. Each SSE event is named after the status and carries the
// event's JSON; its id is the stream sequence. The order service is asked first, with the
// caller's token, so another customer's order is a 404 like everywhere else.
func (g *Gateway) orderEvents(c *fiber.Ctx) error {
	body, err := json.Marshal(subjects.OrderIDRequest{ID: c.Params("id")})
	if err != nil {
		return err
	}
	data, err := g.request(c, subjects.OrderGet.Subject, body)
	if err != nil {
		return err
	}
	var order subjects.Order
	if err := json.Unmarshal(data, &order); err != nil {
		return fmt.Errorf("order events: %w", err)
	}
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"souk.evt.order.*." + order.ID},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	}
	if seq, err := strconv.ParseUint(c.Get("Last-Event-ID"), 10, 64); err == nil && seq > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, seq+1
	}
	ctx, cancel := context.WithTimeout(context.Background(), SSEMaxDuration)
	cons, err := g.js.OrderedConsumer(ctx, "ORDERS", cfg)
	if err != nil {
		cancel()
		return fmt.Errorf("order events: %w", err)
	}
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("X-Accel-Buffering", "no")
	conn := c.Context().Conn()
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer cancel()
		g.streamOrder(ctx, cons, w, func() { _ = conn.SetWriteDeadline(time.Now().Add(SSEKeepAlive * 2)) })
	})
	return nil
}

// streamOrder writes the consumer's messages as SSE until the order ends, ctx ends, the
// gateway shuts down or the client goes away (a failed flush). extend pushes the connection's
// write deadline past the next keep-alive.
func (g *Gateway) streamOrder(ctx context.Context, cons jetstream.Consumer, w *bufio.Writer, extend func()) {
	keepAlive := time.NewTicker(SSEKeepAlive)
	defer keepAlive.Stop()
	flush := func() bool { extend(); return w.Flush() == nil }
	if _, err := w.WriteString(": order events\nretry: 2000\n\n"); err != nil || !flush() {
		return
	}
	for {
		next, err := nextMsg(ctx, cons, keepAlive.C, g.closing)
		if err != nil {
			return
		}
		if next == nil { // keep-alive
			if _, err := w.WriteString(": keep-alive\n\n"); err != nil || !flush() {
				return
			}
			continue
		}
		var ev struct {
			Status string `json:"status"`
		}
		_ = json.Unmarshal(next.Data(), &ev)
		if ev.Status == "" {
			ev.Status = "update"
		}
		meta, _ := next.Metadata()
		var seq uint64
		if meta != nil {
			seq = meta.Sequence.Stream
		}
		fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", seq, ev.Status, next.Data())
		if !flush() || ev.Status == subjects.OrderStatusCancelled || ev.Status == subjects.OrderStatusDelivered {
			return
		}
	}
}

// nextMsg waits for the next message; nil with no error means the keep-alive ticked.
func nextMsg(ctx context.Context, cons jetstream.Consumer, tick <-chan time.Time, closing <-chan struct{}) (jetstream.Msg, error) {
	for {
		fetchCtx, cancel := context.WithTimeout(ctx, time.Second)
		batch, err := cons.Fetch(1, jetstream.FetchContext(fetchCtx))
		if err == nil {
			for m := range batch.Messages() {
				cancel()
				return m, nil
			}
			err = batch.Error()
		}
		cancel()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-closing:
			return nil, context.Canceled
		case <-tick:
			return nil, nil
		default:
		}
		if err != nil && ctx.Err() != nil {
			return nil, err
		}
	}
}
