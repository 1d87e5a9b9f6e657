package auth_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/identitytest"
	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/platform/seal"
	"github.com/souk/souk/services/auth"
	"github.com/souk/souk/subjects"
)

// storedKey is one row of auth.signing_keys as PostgreSQL holds it.
type storedKey struct {
	kid           string
	clear, sealed []byte
}

func storedKeys(t *testing.T, e *identitytest.Env) []storedKey {
	t.Helper()
	rows, err := e.DB.Query(e.Ctx, `select kid, private_key, private_key_sealed from auth.signing_keys order by created_at`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []storedKey
	for rows.Next() {
		var k storedKey
		if err := rows.Scan(&k.kid, &k.clear, &k.sealed); err != nil {
			t.Fatal(err)
		}
		out = append(out, k)
	}
	return out
}

var keyPlace = func(kid string) seal.Place {
	return seal.Place{Table: "auth.signing_keys", Column: "private_key", Row: kid}
}

// openStored opens a stored key with r, checks it is the Ed25519 key of the JWKS's kid and
// not to be read in the row, and returns it.
func openStored(t *testing.T, r *seal.Keyring, k storedKey) ed25519.PrivateKey {
	t.Helper()
	if k.clear != nil || k.sealed == nil {
		t.Fatalf("key %s: in clear %x, sealed %x", k.kid, k.clear, k.sealed)
	}
	plain, err := r.Open(k.sealed, keyPlace(k.kid))
	if err != nil || len(plain) != ed25519.PrivateKeySize {
		t.Fatalf("key %s does not open with the data-encryption key: %v", k.kid, err)
	}
	priv := ed25519.PrivateKey(plain)
	if bytes.Contains(k.sealed, priv.Seed()) || bytes.Contains(k.sealed, priv.Public().(ed25519.PublicKey)) {
		t.Fatalf("key %s: the row holds the key's bytes", k.kid)
	}
	return priv
}

// startIdentity runs the auth service sealing with r and the user service, and returns a
// stop function of the auth service and the admin's tokens.
func startIdentity(t *testing.T, r *seal.Keyring) (*identitytest.Env, func() error, subjects.TokenPair) {
	e := identitytest.NewEnv(t)
	stop := runAuth(e, r)
	e.RunUser(identitytest.UserConfig(adminEmail, adminPassword))
	e.WaitReady()
	return e, stop, e.Login(adminEmail, adminPassword)
}

// runAuth runs the auth service sealing with r until the returned stop is called.
func runAuth(e *identitytest.Env, r *seal.Keyring) func() error {
	cfg := identitytest.AuthConfig()
	cfg.Seal = r
	stop := e.RunAuth(cfg)
	expect.Within(e.T, 30*time.Second, func() error {
		_, err := subjects.AuthJWKS.Call(e.Ctx, e.NC, subjects.Empty{})
		return err
	})
	return stop
}

// TestSigningKeysSealedAtRest: the signing key in PostgreSQL is sealed (no clear column, its
// bytes nowhere in the row, it opens with the process's key only), and tokens signed before
// a restart still verify after it, signed by the same key.
func TestSigningKeysSealedAtRest(t *testing.T) {
	r := seal.MustParse(seal.Generate())
	e, stop, before := startIdentity(t, r)

	keys := storedKeys(t, e)
	if len(keys) != 1 || keys[0].kid != kid(t, before.AccessToken) {
		t.Fatalf("stored keys %v", keys)
	}
	priv := openStored(t, r, keys[0])
	if _, err := seal.MustParse(seal.Generate()).Open(keys[0].sealed, keyPlace(keys[0].kid)); !errors.Is(err, seal.ErrUnknownKey) {
		t.Fatalf("opened without the data-encryption key: %v", err)
	}
	// The key that opened is the one that signs: the token verifies with its public half.
	head, rest, _ := strings.Cut(before.AccessToken, ".")
	payload, sig, _ := strings.Cut(rest, ".")
	if !ed25519.Verify(priv.Public().(ed25519.PublicKey), []byte(head+"."+payload), mustB64(t, sig)) {
		t.Fatal("the opened key did not sign the token")
	}

	if err := stop(); err != nil {
		t.Fatal(err)
	}
	runAuth(e, r)
	after := e.Login(adminEmail, adminPassword)
	if kid(t, after.AccessToken) != keys[0].kid {
		t.Fatalf("after a restart tokens are signed by %s, want %s", kid(t, after.AccessToken), keys[0].kid)
	}
	v := authn.NewVerifier(authn.NATSKeySource(e.NC), time.Millisecond)
	for _, tok := range []string{before.AccessToken, after.AccessToken} {
		if _, err := v.Verify(e.Ctx, tok); err != nil {
			t.Fatalf("after a restart: %v", err)
		}
	}
	if _, err := subjects.AuthRefresh.Call(e.Ctx, e.NC, subjects.RefreshRequest{RefreshToken: before.RefreshToken}); err != nil {
		t.Fatalf("refresh after a restart: %v", err)
	}
	if got := storedKeys(t, e); len(got) != 1 || !bytes.Equal(got[0].sealed, keys[0].sealed) {
		t.Fatal("a restart with the same data-encryption key changed the stored key")
	}
}

// TestSigningKeysRotateDataKey: after the data-encryption key is rotated (the old one given
// as previous), the keys sealed under the old one open, are sealed again under the new one at
// start, and keep signing; then the old data key is no longer needed. A key in clear (from
// before sealing) is sealed the same way.
func TestSigningKeysRotateDataKey(t *testing.T) {
	oldKey, newKey := seal.Generate(), seal.Generate()
	e, stop, admin := startIdentity(t, seal.MustParse(oldKey))
	rotated, err := subjects.AuthRotateKey.Call(e.As(admin.AccessToken), e.NC, subjects.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// A key as a release before sealing wrote it: in clear.
	old := storedKeys(t, e)
	priv := openStored(t, seal.MustParse(oldKey), old[0])
	if _, err := e.DB.Exec(e.Ctx, `update auth.signing_keys set private_key = $2, private_key_sealed = null where kid = $1`,
		old[0].kid, []byte(priv)); err != nil {
		t.Fatal(err)
	}

	stop = runAuth(e, seal.MustParse(newKey, oldKey))
	got := storedKeys(t, e)
	if len(got) != 2 {
		t.Fatalf("%d keys", len(got))
	}
	onlyNew := seal.MustParse(newKey)
	for i, k := range got {
		if openStored(t, onlyNew, k); bytes.Equal(k.sealed, old[i].sealed) {
			t.Fatalf("key %s was not sealed again", k.kid)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	runAuth(e, onlyNew)
	pair := e.Login(adminEmail, adminPassword)
	if kid(t, pair.AccessToken) != rotated.KID {
		t.Fatalf("signed by %s, want the current key %s", kid(t, pair.AccessToken), rotated.KID)
	}
	v := authn.NewVerifier(authn.NATSKeySource(e.NC), time.Millisecond)
	for _, tok := range []string{admin.AccessToken, pair.AccessToken} {
		if _, err := v.Verify(e.Ctx, tok); err != nil {
			t.Fatalf("after rotating the data key: %v", err)
		}
	}
}

// TestSigningKeyMovedToAnotherRowDoesNotOpen: a sealed key copied onto another key's row
// (someone with write access to the table swapping keys) does not open there, and the
// service refuses to start on it rather than sign with the wrong key.
func TestSigningKeyMovedToAnotherRowDoesNotOpen(t *testing.T) {
	r := seal.MustParse(seal.Generate())
	e, stop, admin := startIdentity(t, r)
	if _, err := subjects.AuthRotateKey.Call(e.As(admin.AccessToken), e.NC, subjects.Empty{}); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	keys := storedKeys(t, e)
	if _, err := e.DB.Exec(e.Ctx, `update auth.signing_keys set private_key_sealed = $2 where kid = $1`, keys[1].kid, keys[0].sealed); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Open(keys[0].sealed, keyPlace(keys[1].kid)); !errors.Is(err, seal.ErrOpen) {
		t.Fatalf("opened on another row: %v", err)
	}
	cfg := identitytest.AuthConfig()
	cfg.Seal = r
	deps := e.Deps()
	svc, err := auth.Service(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(e.Ctx, 30*time.Second)
	defer cancel()
	if err := kit.Run(ctx, deps, svc); err == nil || !strings.Contains(err.Error(), keys[1].kid) || !errors.Is(err, seal.ErrOpen) {
		t.Fatalf("started on a moved key: %v", err)
	}
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
