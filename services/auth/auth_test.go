package auth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/identitytest"
	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/services/auth"
	"github.com/souk/souk/subjects"
)

const (
	adminEmail    = "root@souk.example"
	adminPassword = "an admin's long passphrase"
	alicePassword = "correct horse battery"
)

// kid reads the key id of a compact JWS.
func kid(t *testing.T, tok string) string {
	t.Helper()
	head, _, _ := strings.Cut(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		KID string `json:"kid"`
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(raw, &h); err != nil || h.KID == "" || h.Alg != "EdDSA" {
		t.Fatalf("header %s: %v", raw, err)
	}
	return h.KID
}

func TestAuthService(t *testing.T) {
	e := identitytest.NewEnv(t)
	e.Start(adminEmail, adminPassword)
	ctx, nc := e.Ctx, e.NC
	alice := e.Register("alice@example.com", alicePassword, "Alice")
	verifier := authn.NewVerifier(authn.NATSKeySource(nc), time.Millisecond)
	admin := e.Login(adminEmail, adminPassword)

	t.Run("login", func(t *testing.T) {
		pair := e.Login("Alice@example.com", alicePassword)
		if pair.TokenType != "Bearer" || pair.ExpiresIn != 900 || pair.RefreshToken == "" {
			t.Fatalf("pair: %+v", pair)
		}
		c, err := verifier.Verify(ctx, pair.AccessToken)
		if err != nil || c.Subject != alice.ID || strings.Join(c.Roles, ",") != "customer" || c.ID == "" ||
			time.Until(c.ExpiresAt) > 15*time.Minute || time.Until(c.ExpiresAt) < 14*time.Minute {
			t.Fatalf("claims %+v, %v", c, err)
		}
		_, err = subjects.AuthLogin.Call(ctx, nc, subjects.LoginRequest{Email: "alice@example.com", Password: "wrong but long enough"})
		expect.Error(t, err, 401, "invalid_credentials", "")
		_, err = subjects.AuthLogin.Call(ctx, nc, subjects.LoginRequest{Email: "nobody@example.com", Password: alicePassword})
		expect.Error(t, err, 401, "invalid_credentials", "")
		_, err = subjects.AuthLogin.Call(ctx, nc, subjects.LoginRequest{Email: "alice@example.com", Password: strings.Repeat("x", 100)})
		expect.Error(t, err, 401, "invalid_credentials", "")
		_, err = subjects.AuthLogin.Call(ctx, nc, subjects.LoginRequest{})
		expect.Error(t, err, 400, "validation", "email")
		expect.Error(t, err, 400, "validation", "password")
	})

	t.Run("jwks", func(t *testing.T) {
		set, err := subjects.AuthJWKS.Call(ctx, nc, subjects.Empty{})
		if err != nil || len(set.Keys) != 1 {
			t.Fatalf("jwks %+v, %v", set, err)
		}
		var k map[string]any
		_ = json.Unmarshal(set.Keys[0], &k)
		if k["alg"] != "EdDSA" || k["use"] != "sig" || k["kty"] != "OKP" || k["kid"] == "" || k["d"] != nil {
			t.Fatalf("jwk %v", k)
		}
	})

	t.Run("refresh rotates, reuse revokes the family", func(t *testing.T) {
		first := e.Login("alice@example.com", alicePassword)
		second, err := subjects.AuthRefresh.Call(ctx, nc, subjects.RefreshRequest{RefreshToken: first.RefreshToken})
		if err != nil || second.RefreshToken == first.RefreshToken {
			t.Fatalf("refresh: %+v, %v", second, err)
		}
		if c, err := verifier.Verify(ctx, second.AccessToken); err != nil || c.Subject != alice.ID {
			t.Fatalf("refreshed claims %+v, %v", c, err)
		}
		_, err = subjects.AuthRefresh.Call(ctx, nc, subjects.RefreshRequest{RefreshToken: first.RefreshToken})
		expect.Error(t, err, 401, "refresh_token_reused", "")
		_, err = subjects.AuthRefresh.Call(ctx, nc, subjects.RefreshRequest{RefreshToken: second.RefreshToken})
		expect.Error(t, err, 401, "", "")
		// Another session of the same user is untouched.
		other := e.Login("alice@example.com", alicePassword)
		if _, err := subjects.AuthRefresh.Call(ctx, nc, subjects.RefreshRequest{RefreshToken: other.RefreshToken}); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"x", strings.Repeat("A", 43), strings.Repeat("!", 43)} {
			_, err = subjects.AuthRefresh.Call(ctx, nc, subjects.RefreshRequest{RefreshToken: bad})
			expect.Error(t, err, 401, "invalid_refresh_token", "")
		}
		_, err = subjects.AuthRefresh.Call(ctx, nc, subjects.RefreshRequest{})
		expect.Error(t, err, 400, "validation", "refresh_token")
		if strings.Contains(e.Log.String(), first.RefreshToken) {
			t.Fatal("a refresh token is in the log")
		}
	})

	t.Run("concurrent refresh with one token: exactly one wins", func(t *testing.T) {
		pair := e.Login("alice@example.com", alicePassword)
		const n = 8
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		var won subjects.TokenPair
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				next, err := subjects.AuthRefresh.Call(ctx, nc, subjects.RefreshRequest{RefreshToken: pair.RefreshToken})
				if err == nil {
					mu.Lock()
					wins++
					won = next
					mu.Unlock()
				} else if !errors.Is(err, subjects.ErrUnauthorized) {
					t.Errorf("loser: %v", err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("%d refreshes won", wins)
		}
		// The losers presented a token spent by someone else: that is reuse, so the session
		// is revoked and the winner's new refresh token is dead too.
		_, err := subjects.AuthRefresh.Call(ctx, nc, subjects.RefreshRequest{RefreshToken: won.RefreshToken})
		expect.Error(t, err, 401, "", "")
	})

	t.Run("logout", func(t *testing.T) {
		pair := e.Login("alice@example.com", alicePassword)
		_, err := subjects.AuthLogout.Call(ctx, nc, subjects.RefreshRequest{RefreshToken: pair.RefreshToken})
		expect.Error(t, err, 401, "", "")
		// Someone else's token: the same empty answer, and nothing changes.
		if _, err := subjects.AuthLogout.Call(e.As(admin.AccessToken), nc, subjects.RefreshRequest{RefreshToken: pair.RefreshToken}); err != nil {
			t.Fatal(err)
		}
		if _, err := subjects.AuthLogout.Call(e.As(pair.AccessToken), nc, subjects.RefreshRequest{RefreshToken: strings.Repeat("A", 43)}); err != nil {
			t.Fatal(err)
		}
		next, err := subjects.AuthRefresh.Call(ctx, nc, subjects.RefreshRequest{RefreshToken: pair.RefreshToken})
		if err != nil {
			t.Fatalf("another user's logout ended the session: %v", err)
		}
		if _, err := subjects.AuthLogout.Call(e.As(next.AccessToken), nc, subjects.RefreshRequest{RefreshToken: next.RefreshToken}); err != nil {
			t.Fatal(err)
		}
		// The session's access token ended with it: logging out again with it is a 401.
		expect.Within(t, 5*time.Second, func() error {
			_, err := subjects.AuthLogout.Call(e.As(next.AccessToken), nc, subjects.RefreshRequest{RefreshToken: next.RefreshToken})
			if !errors.Is(err, subjects.ErrUnauthorized) {
				return fmt.Errorf("second logout: %v", err)
			}
			return nil
		})
		_, err = subjects.AuthRefresh.Call(ctx, nc, subjects.RefreshRequest{RefreshToken: next.RefreshToken})
		expect.Error(t, err, 401, "invalid_refresh_token", "")
	})

	t.Run("refresh reads current roles", func(t *testing.T) {
		pair := e.Login("alice@example.com", alicePassword)
		if _, err := subjects.UserSetRoles.Call(e.As(admin.AccessToken), nc, subjects.SetRolesRequest{ID: alice.ID, Roles: []string{"customer", "staff"}}); err != nil {
			t.Fatal(err)
		}
		next, err := subjects.AuthRefresh.Call(ctx, nc, subjects.RefreshRequest{RefreshToken: pair.RefreshToken})
		if err != nil {
			t.Fatal(err)
		}
		if c, err := verifier.Verify(ctx, next.AccessToken); err != nil || strings.Join(c.Roles, ",") != "customer,staff" {
			t.Fatalf("claims %+v, %v", c, err)
		}
	})

	t.Run("the service endpoints refuse a forged caller", func(t *testing.T) {
		_, err := subjects.UserVerifyCredentials.Call(ctx, nc, subjects.CredentialsRequest{Email: "alice@example.com", Password: alicePassword})
		expect.Error(t, err, 401, "", "")
		// A valid token without the permission (alice's own was revoked by her role change).
		_, err = subjects.UserVerifyCredentials.Call(e.As(admin.AccessToken), nc, subjects.CredentialsRequest{Email: "alice@example.com", Password: alicePassword})
		expect.Error(t, err, 403, "", "")
		_, err = subjects.UserPrincipal.Call(ctx, nc, subjects.UserIDRequest{ID: alice.ID})
		expect.Error(t, err, 401, "", "")
	})

	t.Run("key rotation", func(t *testing.T) {
		old := e.Login("alice@example.com", alicePassword)
		_, err := subjects.AuthRotateKey.Call(e.As(old.AccessToken), nc, subjects.Empty{})
		expect.Error(t, err, 403, "", "")
		_, err = subjects.AuthRotateKey.Call(ctx, nc, subjects.Empty{})
		expect.Error(t, err, 401, "", "")
		info, err := subjects.AuthRotateKey.Call(e.As(admin.AccessToken), nc, subjects.Empty{})
		if err != nil || info.KID == "" || info.KID == kid(t, old.AccessToken) || info.Algorithm != "EdDSA" {
			t.Fatalf("rotate: %+v, %v", info, err)
		}
		fresh, err := subjects.AuthRefresh.Call(ctx, nc, subjects.RefreshRequest{RefreshToken: old.RefreshToken})
		if err != nil {
			t.Fatal(err)
		}
		if kid(t, fresh.AccessToken) != info.KID {
			t.Fatalf("new token signed by %s, want %s", kid(t, fresh.AccessToken), info.KID)
		}
		// A verifier that never saw the keys, and the one that cached the old set.
		for _, v := range []*authn.Verifier{authn.NewVerifier(authn.NATSKeySource(nc), time.Millisecond), verifier} {
			for _, tok := range []string{old.AccessToken, fresh.AccessToken} {
				if _, err := v.Verify(ctx, tok); err != nil {
					t.Fatalf("verify %s: %v", kid(t, tok), err)
				}
			}
		}
		set, err := subjects.AuthJWKS.Call(ctx, nc, subjects.Empty{})
		if err != nil || len(set.Keys) != 2 {
			t.Fatalf("jwks after rotation: %d keys, %v", len(set.Keys), err)
		}
		// The old access token still works on the services.
		if _, err := subjects.UserMe.Call(e.As(old.AccessToken), nc, subjects.Empty{}); err != nil {
			t.Fatal(err)
		}
		if _, err := subjects.UserMe.Call(e.As(fresh.AccessToken), nc, subjects.Empty{}); err != nil {
			t.Fatal(err)
		}
		if _, err := subjects.AuthLogout.Call(e.As(old.AccessToken), nc, subjects.RefreshRequest{RefreshToken: fresh.RefreshToken}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestKVUpdateStaleRevision pins down the error the sessions store matches on: an Update with
// a stale revision is jetstream.ErrKeyRevisionMismatch, carrying API error 10071.
func TestKVUpdateStaleRevision(t *testing.T) {
	_, nc := natstest.Server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.EnsureBuckets(ctx, js); err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, bus.BucketSessions)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := kv.Create(ctx, "tok.abc", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Update(ctx, "tok.abc", []byte(`{"spent":true}`), rev); err != nil {
		t.Fatal(err)
	}
	_, err = kv.Update(ctx, "tok.abc", []byte(`{"spent":true}`), rev)
	var apiErr *jetstream.APIError
	if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) || !errors.As(err, &apiErr) ||
		apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence {
		t.Fatalf("stale update: %v (%T)", err, err)
	}
	t.Logf("stale revision error: %v (code %d)", err, apiErr.ErrorCode)
}

// TestDeclaredWithoutIO: souk migrate and the tests declare the service without running it,
// so declaring touches neither the database nor NATS (the Deps here have neither); a
// configuration out of range is refused then.
func TestDeclaredWithoutIO(t *testing.T) {
	svc, err := auth.Service(auth.Config{}, kit.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Check(); err != nil || svc.Schema != auth.Schema || svc.Start == nil {
		t.Fatalf("declaration %s: %v", svc.Name, err)
	}
	for _, cfg := range []auth.Config{{AccessTTL: time.Second}, {AccessTTL: time.Hour, RefreshTTL: time.Minute}, {RefreshTTL: 365 * 24 * time.Hour}} {
		if _, err := auth.Service(cfg, kit.Deps{}); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}
