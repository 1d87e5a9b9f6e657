package deadletter_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/deadletter"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/platform/pgtest"
)

// within bounds every wait of these tests: generous, the machine may be busy.
const within = 60 * time.Second

// TestReplayAppliesOnce dead-letters an event whose handler is broken, mends the handler and
// replays the letter: the event is applied once, and replaying it again (past the stream's
// duplicate window, so the processed table is what must hold it) applies it still once. A
// replay within the window is reported as a duplicate and applies nothing.
func TestReplayAppliesOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*within)
	defer cancel()
	db, err := pg.Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if err := consumer.Migrate(ctx, db, "shop"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `create table shop.effects (event_id text not null)`); err != nil {
		t.Fatal(err)
	}
	_, js := natstest.JetStream(t, ctx)

	var broken atomic.Bool
	broken.Store(true)
	c := &consumer.Consumer{Name: "replay-test", Stream: "ORDERS", Subjects: []string{"souk.evt.order.>"},
		Schema: "shop", DB: db, JS: js, Log: zerolog.Nop(),
		Handle: func(ctx context.Context, tx pgx.Tx, m consumer.Msg) error {
			if broken.Load() {
				return consumer.Permanent(errors.New("the handler is broken"))
			}
			_, err := tx.Exec(ctx, `insert into shop.effects (event_id) values ($1)`, m.EventID)
			return err
		}}
	r := expect.Start(t, c.Run)
	defer func() {
		if err := r.Stop(); err != nil {
			t.Errorf("consumer: %v", err)
		}
	}()

	m := nats.NewMsg("souk.evt.order.placed.o-1")
	m.Data, m.Header = []byte(`{"id":"o-1"}`), nats.Header{"Traceparent": {"00-kept"}}
	if _, err := js.PublishMsg(ctx, m, jetstream.WithMsgID("evt-1")); err != nil {
		t.Fatal(err)
	}
	var l deadletter.Letter
	expect.Within(t, within, func() error {
		ls, err := deadletter.List(ctx, js, "replay-test", 10)
		if err != nil || len(ls) != 1 {
			return fmt.Errorf("dead letters %d, %v", len(ls), err)
		}
		l = ls[0]
		return nil
	})
	if l.Subject != m.Subject || l.Stream != "ORDERS" || l.StreamSeq != 1 || l.Consumer != "replay-test" ||
		l.EventID != "evt-1" || !strings.Contains(l.Error, "broken") || string(l.Data) != string(m.Data) ||
		l.Header.Get("Traceparent") != "00-kept" || l.Header.Get(consumer.DLQError) != "" {
		t.Fatalf("letter %+v", l)
	}

	broken.Store(false)
	// Within the stream's duplicate window (bus.DuplicateWindow, minutes) the replay is
	// dropped: nothing is delivered, and the caller is told.
	got, err := deadletter.Replay(ctx, js, l.Seq)
	if err != nil || !got.Duplicate || got.Window != bus.DuplicateWindow {
		t.Fatalf("replay within the window: %+v, %v", got, err)
	}
	if n := effects(t, ctx, db); n != 0 {
		t.Fatalf("a replay dropped as a duplicate applied the event %d times", n)
	}

	// A short window, so that the test need not wait minutes for it to pass. Set twice:
	// nats-server (v2.15.2, stream.go, update) fires its dedupe purge at once when the window
	// changes, but stores the new window only after, so a purge that runs first keeps evt-1
	// for the old window's five minutes (the test timed out so on a busy machine). The
	// second change's purge runs with the first's short window stored.
	short, _ := bus.Stream("ORDERS")
	for _, window := range []time.Duration{100 * time.Millisecond, 150 * time.Millisecond} {
		short.Duplicates = window
		if _, err := js.UpdateStream(ctx, short); err != nil {
			t.Fatal(err)
		}
	}
	for replay := 1; replay <= 2; replay++ {
		got := replayStored(t, ctx, js, l.Seq)
		settled(t, ctx, js, "replay-test", got.Seq)
		if n := effects(t, ctx, db); n != 1 {
			t.Fatalf("after replay %d the event is applied %d times, want 1", replay, n)
		}
	}
	if ls, err := deadletter.List(ctx, js, "", 10); err != nil || len(ls) != 1 {
		t.Fatalf("a replay that applied must not dead-letter again: %d letters, %v", len(ls), err)
	}
	if err := deadletter.Delete(ctx, js, l.Seq); err != nil {
		t.Fatal(err)
	}
	if ls, err := deadletter.List(ctx, js, "", 10); err != nil || len(ls) != 0 {
		t.Fatalf("after Delete: %d letters, %v", len(ls), err)
	}
}

// replayStored replays the letter at seq until the stream stores it (the duplicate window
// has passed).
func replayStored(t *testing.T, ctx context.Context, js jetstream.JetStream, seq uint64) deadletter.Replayed {
	t.Helper()
	var got deadletter.Replayed
	expect.Within(t, within, func() error {
		var err error
		if got, err = deadletter.Replay(ctx, js, seq); err != nil {
			t.Fatal(err)
		}
		if got.Duplicate {
			return errors.New("still within the duplicate window")
		}
		return nil
	})
	if got.Stream != "ORDERS" {
		t.Fatalf("replayed into %q", got.Stream)
	}
	return got
}

// settled waits until the durable consumer name of ORDERS has settled every message up to
// stream sequence seq.
func settled(t *testing.T, ctx context.Context, js jetstream.JetStream, name string, seq uint64) {
	t.Helper()
	expect.Within(t, within, func() error {
		c, err := js.Consumer(ctx, "ORDERS", name)
		if err != nil {
			return err
		}
		info, err := c.Info(ctx)
		if err != nil {
			return err
		}
		if info.NumPending != 0 || info.NumAckPending != 0 || info.AckFloor.Stream < seq {
			return fmt.Errorf("pending %d, ack pending %d, ack floor %d of %d", info.NumPending, info.NumAckPending, info.AckFloor.Stream, seq)
		}
		return nil
	})
}

// effects is how many times evt-1 was applied.
func effects(t *testing.T, ctx context.Context, db *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := db.QueryRow(ctx, `select count(*) from shop.effects where event_id = 'evt-1'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPurge removes the letters of one consumer, then all of them.
func TestPurge(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	_, js := natstest.JetStream(t, ctx)
	for i, name := range []string{"a", "b", "a"} {
		m := nats.NewMsg("souk.dlq.ORDERS." + name)
		m.Header.Set(consumer.DLQConsumer, name)
		if _, err := js.PublishMsg(ctx, m, jetstream.WithMsgID(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	count := func(name string) int {
		ls, err := deadletter.List(ctx, js, name, 10)
		if err != nil {
			t.Fatal(err)
		}
		return len(ls)
	}
	if a, all := count("a"), count(""); a != 2 || all != 3 {
		t.Fatalf("letters of a %d, all %d", a, all)
	}
	if _, err := deadletter.Replay(ctx, js, 1); !errors.Is(err, deadletter.ErrNotLetter) {
		t.Fatalf("replay of a hand-made letter: %v", err)
	}
	if err := deadletter.Purge(ctx, js, "a"); err != nil {
		t.Fatal(err)
	}
	if a, all := count("a"), count(""); a != 0 || all != 1 {
		t.Fatalf("after purging a: letters of a %d, all %d", a, all)
	}
	if err := deadletter.Purge(ctx, js, ""); err != nil || count("") != 0 {
		t.Fatalf("after purging all: %d, %v", count(""), err)
	}
}
