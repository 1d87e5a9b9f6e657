package authn_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/subjects"
)

type keyring struct {
	priv    map[string]jwk.Key
	public  jwk.Set
	fetches atomic.Int32
}

func newKeyring(t *testing.T) *keyring {
	return &keyring{priv: map[string]jwk.Key{}, public: jwk.NewSet()}
}

func (k *keyring) add(t *testing.T, kid string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := jwk.Import(priv)
	if err != nil {
		t.Fatal(err)
	}
	_ = key.Set(jwk.KeyIDKey, kid)
	_ = key.Set(jwk.AlgorithmKey, jwa.EdDSA())
	pub, err := key.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	k.priv[kid] = key
	_ = k.public.AddKey(pub)
}

func (k *keyring) source(context.Context) (jwk.Set, error) {
	k.fetches.Add(1)
	return k.public.Clone()
}

func (k *keyring) sign(t *testing.T, kid string, mutate func(*jwt.Builder)) string {
	t.Helper()
	b := jwt.NewBuilder().Subject("u1").Issuer(authn.Issuer).Audience([]string{authn.Audience}).
		IssuedAt(time.Now()).Expiration(time.Now().Add(15*time.Minute)).JwtID("j1").Claim(authn.RolesClaim, []string{subjects.RoleCustomer})
	if mutate != nil {
		mutate(b)
	}
	tok, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.EdDSA(), k.priv[kid]))
	if err != nil {
		t.Fatal(err)
	}
	return string(signed)
}

func TestVerifyAndRefreshOnUnknownKid(t *testing.T) {
	ring := newKeyring(t)
	ring.add(t, "k1")
	v := authn.NewVerifier(ring.source, time.Nanosecond)
	ctx := context.Background()
	c, err := v.Verify(ctx, ring.sign(t, "k1", nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "u1" || len(c.Roles) != 1 || !c.Can(authn.PermProfile) || c.Can(authn.PermUsersAdmin) {
		t.Fatalf("claims: %+v", c)
	}
	// A rotation: a token under a key the cache has never seen is verified after a refetch.
	ring.add(t, "k2")
	before := ring.fetches.Load()
	if _, err := v.Verify(ctx, ring.sign(t, "k2", nil)); err != nil {
		t.Fatal(err)
	}
	if ring.fetches.Load() != before+1 {
		t.Fatalf("want one refetch for the unknown kid, got %d", ring.fetches.Load()-before)
	}
	// A known kid does not refetch.
	if _, err := v.Verify(ctx, ring.sign(t, "k1", nil)); err != nil || ring.fetches.Load() != before+1 {
		t.Fatalf("known kid refetched or failed: %v", err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	ring := newKeyring(t)
	ring.add(t, "k1")
	other := newKeyring(t)
	other.add(t, "k1") // same kid, another key: a forgery
	v := authn.NewVerifier(ring.source, time.Hour)
	cases := map[string]string{
		"garbage":      "not.a.token",
		"empty":        "",
		"forged":       other.sign(t, "k1", nil),
		"expired":      ring.sign(t, "k1", func(b *jwt.Builder) { b.Expiration(time.Now().Add(-time.Hour)) }),
		"wrong issuer": ring.sign(t, "k1", func(b *jwt.Builder) { b.Issuer("evil") }),
		"wrong aud":    ring.sign(t, "k1", func(b *jwt.Builder) { b.Audience([]string{"other"}) }),
		"unknown kid":  "eyJhbGciOiJFZERTQSIsImtpZCI6Im5vcGUifQ.e30.AA",
	}
	for name, tok := range cases {
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, subjects.ErrUnauthorized) {
			t.Errorf("%s: want 401, got %v", name, err)
		}
	}
}

func TestAuthorize(t *testing.T) {
	ring := newKeyring(t)
	ring.add(t, "k1")
	v := authn.NewVerifier(ring.source, time.Hour)
	ctx := context.Background()
	tok := "Bearer " + ring.sign(t, "k1", nil)
	if _, err := v.Authorize(ctx, "", authn.Public); err != nil {
		t.Fatal("public without token:", err)
	}
	if _, err := v.Authorize(ctx, "", authn.Require(authn.PermProfile)); !errors.Is(err, subjects.ErrUnauthorized) {
		t.Fatal("no token must be 401:", err)
	}
	if _, err := v.Authorize(ctx, tok, authn.Require(authn.PermProfile)); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Authorize(ctx, tok, authn.Require(authn.PermUsersAdmin)); !errors.Is(err, subjects.ErrForbidden) {
		t.Fatal("customer on admin must be 403:", err)
	}
	if _, err := v.Authorize(ctx, "Basic abc", authn.Public); !errors.Is(err, subjects.ErrUnauthorized) {
		t.Fatal("a bad header on a public route is still 401:", err)
	}
}

func TestRolesToPermissions(t *testing.T) {
	if !authn.Allowed([]string{subjects.RoleAdmin}, authn.PermCatalogWrite) || authn.Allowed([]string{subjects.RoleStaff}, authn.PermUsersAdmin) ||
		authn.Allowed([]string{"root"}, authn.PermProfile) || authn.Allowed([]string{subjects.RoleAdmin}, authn.PermInternal) {
		t.Fatal("role table is wrong")
	}
}
