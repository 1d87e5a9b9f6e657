package outbox_test

import (
	"context"
	"errors"
	"fmt"

	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/platform/pgtest"
)

// The tests publish the user service's events: schema users, stream USERS.
const (
	schema = "users"
	stream = "USERS"
)

type created struct {
	ID string `json:"id"`
}

// migrated creates a database with the outbox tables and returns its URL and a pool on it.
func migrated(t testing.TB, ctx context.Context) (string, *pgxpool.Pool) {
	t.Helper()
	url := pgtest.NewDatabase(t)
	db := open(t, ctx, url)
	if err := outbox.Migrate(ctx, db, schema); err != nil {
		t.Fatal(err)
	}
	return url, db
}

// open opens a pool on url, closed when t ends (closing twice is harmless).
func open(t testing.TB, ctx context.Context, url string) *pgxpool.Pool {
	t.Helper()
	db, err := pg.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

// events makes n events and returns them with their ids.
func events(n int) ([]outbox.Event, []string) {
	evs := make([]outbox.Event, n)
	ids := make([]string, n)
	for i := range evs {
		id := outbox.NewID()
		evs[i] = outbox.Event{ID: id, Subject: "souk.evt.user.registered." + id.String(), Payload: created{ID: id.String()}}
		ids[i] = id.String()
	}
	return evs, ids
}

// addEvents commits n events in one transaction and returns their ids.
func addEvents(t *testing.T, ctx context.Context, db *pgxpool.Pool, n int) []string {
	t.Helper()
	evs, ids := events(n)
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error { return outbox.Add(ctx, tx, schema, evs...) })
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// streamIDs reads every message of the stream and counts them by Nats-Msg-Id.
func streamIDs(ctx context.Context, js jetstream.JetStream) (map[string]int, error) {
	ids := map[string]int{}
	err := eachStreamMsg(ctx, js, func(m *jetstream.RawStreamMsg) { ids[m.Header.Get(jetstream.MsgIDHeader)]++ })
	return ids, err
}

// eachStreamMsg calls fn with every message the stream holds, in order.
func eachStreamMsg(ctx context.Context, js jetstream.JetStream, fn func(*jetstream.RawStreamMsg)) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return err
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		fn(m)
	}
	return nil
}

// holdsExactly checks that the stream holds each of want exactly once and nothing else.
func holdsExactly(ctx context.Context, js jetstream.JetStream, want []string) error {
	got, err := streamIDs(ctx, js)
	if err != nil {
		return err
	}
	for _, id := range want {
		if got[id] != 1 {
			return fmt.Errorf("stream holds %d messages (%d distinct); event %s %d times, want once", total(got), len(got), id, got[id])
		}
	}
	if len(got) != len(want) || total(got) != len(want) {
		return fmt.Errorf("stream holds %d messages (%d distinct), want exactly %d", total(got), len(got), len(want))
	}
	return nil
}

func total(m map[string]int) (n int) {
	for _, c := range m {
		n += c
	}
	return n
}

// unsent counts the events not published yet (the view outbox_pending: above the watermark
// and not sent one by one, or marked for resending).
func unsent(ctx context.Context, db *pgxpool.Pool) (int, error) {
	var n int
	err := db.QueryRow(ctx, `select count(*) from users.outbox_pending`).Scan(&n)
	return n, err
}

// sentAgo moves the record of everything sent so far back by d, as if it had been sent d
// earlier: the runs of keys the watermark passed, the current one, and the rows sent one by
// one.
func sentAgo(t *testing.T, ctx context.Context, db *pgxpool.Pool, d time.Duration) {
	t.Helper()
	for _, q := range []string{
		`update users.outbox_run set first_at = first_at - make_interval(secs => $1), last_at = last_at - make_interval(secs => $1)`,
		`update users.outbox_cursor set run_from = run_from - make_interval(secs => $1), run_to = run_to - make_interval(secs => $1)`,
		`update users.outbox set sent_at = sent_at - make_interval(secs => $1) where sent_at is not null`,
	} {
		if _, err := db.Exec(ctx, q, d.Seconds()); err != nil {
			t.Fatal(err)
		}
	}
}

func allSent(ctx context.Context, db *pgxpool.Pool) error {
	n, err := unsent(ctx, db)
	if err == nil && n > 0 {
		err = fmt.Errorf("%d events not marked sent", n)
	}
	return err
}

// backdate moves every timestamp of the outbox schema's tables back by d: the clock moving
// forward by d, without waiting for it.
func backdate(t *testing.T, ctx context.Context, db *pgxpool.Pool, d time.Duration) {
	t.Helper()
	rows, err := db.Query(ctx, `select table_name, column_name from information_schema.columns
		where table_schema = $1 and data_type = 'timestamp with time zone' and table_name <> 'schema_migrations'`, schema)
	if err != nil {
		t.Fatal(err)
	}
	cols, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct{ Table, Column string }])
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cols {
		col := pgx.Identifier{c.Column}.Sanitize()
		q := `update ` + pgx.Identifier{schema, c.Table}.Sanitize() + ` set ` + col + ` = ` + col + ` - make_interval(secs => $1)`
		if _, err := db.Exec(ctx, q, d.Seconds()); err != nil {
			t.Fatal(err)
		}
	}
}

// loseStream deletes the stream and creates it again empty, with a fresh duplicate window:
// what a NATS server that lost its unsynced tail holds of it.
func loseStream(t *testing.T, ctx context.Context, js jetstream.JetStream) {
	t.Helper()
	if err := js.DeleteStream(ctx, stream); err != nil {
		t.Fatal(err)
	}
	if err := bus.EnsureStreams(ctx, js); err != nil {
		t.Fatal(err)
	}
}

// killable is a relay on its own pool that can be stopped cleanly or killed: the kill closes
// its pool before cancelling it, so it writes nothing more, as after a SIGKILL.
type killable struct {
	db     *pgxpool.Pool
	cancel context.CancelFunc
	done   chan error
}

func startRelay(t *testing.T, ctx context.Context, url string, js jetstream.JetStream) *killable {
	t.Helper()
	k := &killable{db: open(t, ctx, url), done: make(chan error, 1)}
	rctx, cancel := context.WithCancel(context.Background())
	k.cancel = cancel
	r := outbox.NewRelay(schema, k.db, js, zerolog.Nop())
	go func() { k.done <- r.Run(rctx) }()
	t.Cleanup(func() {
		k.cancel()
		select {
		case <-k.done:
		case <-time.After(15 * time.Second):
			t.Error("relay did not return within 15s of its context ending")
		}
	})
	return k
}

// stop cancels the relay and waits for it; a clean stop returns no error.
func (k *killable) stop(t *testing.T) {
	t.Helper()
	k.cancel()
	if err := k.wait(t); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("relay: %v", err)
	}
}

// kill closes the relay's pool under it (refusing every later statement; Close waits only
// for the ones in flight) and then cancels it: it dies without a word to the database.
func (k *killable) kill(t *testing.T) {
	t.Helper()
	k.db.Close()
	k.cancel()
	_ = k.wait(t)
}

func (k *killable) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-k.done:
		k.done <- err // for the cleanup
		return err
	case <-time.After(15 * time.Second):
		t.Fatal("relay did not return within 15s of its context ending")
		return nil
	}
}
