package outbox_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/pgtest"
)

type created struct {
	ID string `json:"id"`
}

func waitCount(t *testing.T, js jetstream.JetStream, want uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var got uint64
	for time.Now().Before(deadline) {
		s, err := js.Stream(context.Background(), "USERS")
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got = info.State.Msgs; got == want {
			return
		}
		<-time.After(20 * time.Millisecond)
	}
	t.Fatalf("stream holds %d messages, want %d", got, want)
}

func TestRelayPublishesCommittedEventsOnceEvenAfterUncleanStop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := pgtest.Pool(t, ctx)
	if err := outbox.Migrate(ctx, db, "users"); err != nil {
		t.Fatal(err)
	}
	_, js := natstest.JetStream(t, ctx)
	add := func(commit bool, n int) {
		tx, err := db.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		evs := make([]outbox.Event, n)
		for i := range evs {
			id := outbox.NewID()
			evs[i] = outbox.Event{ID: id, Subject: "souk.evt.user.registered." + id.String(), Payload: created{ID: id.String()}}
		}
		if err := outbox.Add(ctx, tx, "users", evs...); err != nil {
			t.Fatal(err)
		}
		if commit {
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	add(true, 300) // more than one batch
	add(false, 5)  // rolled back: never published

	run := func() (stop func()) {
		rctx, rcancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- outbox.NewRelay("users", db, js, zerolog.Nop()).Run(rctx) }()
		return func() {
			rcancel()
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				t.Fatal(err)
			}
		}
	}
	stop := run()
	waitCount(t, js, 300)
	stop()

	// A crash: the state says the last stop was unclean. The next relay sends the recent
	// window again, and the duplicate window drops every copy.
	if _, err := db.Exec(ctx, `update users.outbox_state set clean_stop = false`); err != nil {
		t.Fatal(err)
	}
	stop = run()
	var unsent int
	waitFor := time.Now().Add(10 * time.Second)
	for {
		if err := db.QueryRow(ctx, `select count(*) from users.outbox where sent_at is null`).Scan(&unsent); err != nil {
			t.Fatal(err)
		}
		if unsent == 0 || time.Now().After(waitFor) {
			break
		}
		<-time.After(20 * time.Millisecond)
	}
	stop()
	if unsent != 0 {
		t.Fatalf("%d events not republished after the unclean stop", unsent)
	}
	waitCount(t, js, 300)
	var total int
	if err := db.QueryRow(ctx, `select count(*) from users.outbox`).Scan(&total); err != nil {
		t.Fatal(err)
	}
	if total != 300 {
		t.Fatalf("outbox holds %d rows, want 300 (the rolled-back ones must not exist)", total)
	}
}
