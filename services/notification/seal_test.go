package notification

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/kittest"
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/platform/seal"
	"github.com/souk/souk/subjects"
)

// testSeal is the data-encryption key of the tests' services: one per test binary.
var testSeal = sync.OnceValue(func() *seal.Keyring { return seal.MustParse(seal.Generate()) })

// startInstance runs one instance of the service with cfg and waits until it answers.
func (e *env) startInstance(cfg Config) *kittest.Instance {
	e.t.Helper()
	return e.k.Start(func(d kit.Deps) (kit.Service, error) { return Service(cfg, d) }, func() error {
		_, err := subjects.WebhookList.Call(e.admin, e.nc, subjects.ListRequest{Limit: 1})
		return err
	})
}

// storedSecret reads an endpoint's secret columns as PostgreSQL holds them.
func (e *env) storedSecret(id string) (clear *string, sealed []byte) {
	e.t.Helper()
	if err := e.db.QueryRow(e.ctx, `select secret, secret_sealed from notify.webhook_endpoints where id = $1`, id).Scan(&clear, &sealed); err != nil {
		e.t.Fatal(err)
	}
	return clear, sealed
}

// TestWebhookSecretSealedAtRest: an endpoint's secret is sealed in PostgreSQL (not in clear,
// its bytes nowhere in the row, opening only with the process's key at its own row); after a
// restart that rotates the data-encryption key it is sealed again under the new key and
// deliveries are still signed with it; a sealed secret moved onto another endpoint's row
// does not open there, and that endpoint's delivery fails rather than go out signed wrong.
func TestWebhookSecretSealedAtRest(t *testing.T) {
	e := newEnv(t)
	oldKey, newKey := seal.Generate(), seal.Generate()
	cfg := dev()
	cfg.Seal = seal.MustParse(oldKey)
	first := e.startInstance(cfg)
	rcv, other := newReceiver(t), newReceiver(t)
	hook, err := subjects.WebhookCreate.Call(e.admin, e.nc, subjects.WebhookCreateRequest{URL: rcv.srv.URL, Events: []string{"order.paid"}})
	if err != nil {
		t.Fatal(err)
	}
	clear, sealed := e.storedSecret(hook.ID)
	if clear != nil || bytes.Contains(sealed, []byte(hook.Secret)) {
		t.Fatalf("the secret is kept in clear: %v %x", clear, sealed)
	}
	if got, err := cfg.Seal.Open(sealed, secretPlace(hook.ID)); err != nil || string(got) != hook.Secret {
		t.Fatalf("the stored secret does not open with the data-encryption key: %v", err)
	}
	if _, err := seal.MustParse(newKey).Open(sealed, secretPlace(hook.ID)); !errors.Is(err, seal.ErrUnknownKey) {
		t.Fatalf("opened with another key: %v", err)
	}
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}

	cfg.Seal = seal.MustParse(newKey, oldKey)
	e.startInstance(cfg)
	clear, resealed := e.storedSecret(hook.ID)
	if got, err := seal.MustParse(newKey).Open(resealed, secretPlace(hook.ID)); clear != nil || err != nil || string(got) != hook.Secret {
		t.Fatalf("after rotation the secret is not sealed under the new key: %v", err)
	}
	moved, err := subjects.WebhookCreate.Call(e.admin, e.nc, subjects.WebhookCreateRequest{URL: other.srv.URL, Events: []string{"order.paid"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Exec(e.ctx, `update notify.webhook_endpoints set secret_sealed = $2 where id = $1`, moved.ID, resealed); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		r      *receiver
		secret string
	}{{rcv, hook.Secret}, {other, moved.Secret}} {
		r.r.mu.Lock()
		r.r.secret = r.secret
		r.r.mu.Unlock()
		r.r.setDown(false)
	}

	paid := e.paid(newID(), 1000)
	expect.Within(t, 20*time.Second, func() error {
		if tries, forged, got := rcv.state(); len(got) != 1 || forged != 0 || got[0].ID != paid.EventID {
			return fmt.Errorf("receiver: %d tries, %d forged, %d events", tries, forged, len(got))
		}
		var status, lastError string
		if err := e.db.QueryRow(e.ctx, `select status, last_error from notify.deliveries where endpoint_id = $1`, moved.ID).Scan(&status, &lastError); err != nil {
			return err
		}
		if status != "failed" || lastError != unopenedSecret {
			return fmt.Errorf("the moved secret's delivery: %s %q", status, lastError)
		}
		return nil
	})
	if tries, _, _ := other.state(); tries != 0 {
		t.Fatalf("a delivery went out with a secret moved from another endpoint (%d tries)", tries)
	}
}

func secretPlace(id string) seal.Place {
	return seal.Place{Table: "notify.webhook_endpoints", Column: "secret", Row: id}
}
