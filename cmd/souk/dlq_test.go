package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/platform/consumer"
)

// TestDLQCommand runs `souk dlq` against a server holding one dead letter: ls and show print
// where and why it failed, replay within the duplicate window says nothing was delivered and
// fails, purge removes it. platform/deadletter's own test shows a replay applies once.
func TestDLQCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	nc, js := natstest.JetStream(t, ctx)
	orig := nats.NewMsg("souk.evt.order.paid.o-1")
	if _, err := js.PublishMsg(ctx, orig, jetstream.WithMsgID("evt-1")); err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg("souk.dlq.ORDERS.shipping-orders")
	m.Data = []byte(`{"order_id":"o-1"}`)
	for k, v := range map[string]string{consumer.DLQError: "shipments refused", consumer.DLQSubject: orig.Subject,
		consumer.DLQStream: "ORDERS", consumer.DLQSequence: "1", consumer.DLQConsumer: "shipping-orders", consumer.DLQEventID: "evt-1"} {
		m.Header.Set(k, v)
	}
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	env := envOf(map[string]string{"NATS_URL": nc.ConnectedUrl()})
	run := func(wantCode int, args ...string) string {
		t.Helper()
		var out, errs bytes.Buffer
		if code := cli(ctx, append([]string{"dlq"}, args...), env, &out, &errs); code != wantCode {
			t.Fatalf("souk dlq %v: exit %d, want %d\n%s%s", args, code, wantCode, out.String(), errs.String())
		}
		return out.String() + errs.String()
	}
	for _, want := range []string{"shipping-orders", orig.Subject, "evt-1", "shipments refused"} {
		if out := run(0, "ls"); !strings.Contains(out, want) {
			t.Errorf("ls: no %q in\n%s", want, out)
		}
	}
	if out := run(0, "show", "1"); !strings.Contains(out, "ORDERS, sequence 1") || !strings.Contains(out, `{"order_id":"o-1"}`) {
		t.Errorf("show:\n%s", out)
	}
	if out := run(1, "replay", "1"); !strings.Contains(out, "dropped as a duplicate") {
		t.Errorf("replay within the window:\n%s", out)
	}
	run(1, "purge") // says what to purge
	run(0, "purge", "-all")
	if out := run(0, "ls"); strings.Contains(out, "evt-1") {
		t.Errorf("ls after purge:\n%s", out)
	}
}
