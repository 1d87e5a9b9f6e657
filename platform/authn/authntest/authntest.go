// Package authntest signs Souk access tokens with keys made in the test, for tests of code
// that verifies tokens (the gateway, platform/authn) without running the auth service.
package authntest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/souk/souk/platform/authn"
)

// Keys is a set of Ed25519 signing keys by kid and the public set that publishes them.
type Keys struct {
	mu     sync.Mutex
	priv   map[string]jwk.Key
	public jwk.Set
	// Fetches counts the calls of Source.
	Fetches atomic.Int32
}

// NewKeys returns a key set holding one key per kid.
func NewKeys(t testing.TB, kids ...string) *Keys {
	k := &Keys{priv: map[string]jwk.Key{}, public: jwk.NewSet()}
	for _, kid := range kids {
		k.Add(t, kid)
	}
	return k
}

// Add makes a new key under kid and publishes its public half.
func (k *Keys) Add(t testing.TB, kid string) {
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
	k.mu.Lock()
	defer k.mu.Unlock()
	k.priv[kid] = key
	_ = k.public.AddKey(pub)
}

// Source is an authn.KeySource over the public keys.
func (k *Keys) Source(context.Context) (jwk.Set, error) {
	k.Fetches.Add(1)
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.public.Clone()
}

// Sign returns a valid Souk access token for sub with roles, signed under kid and living 15
// minutes; mutate, when not nil, changes the claims before signing.
func (k *Keys) Sign(t testing.TB, kid, sub string, roles []string, mutate func(*jwt.Builder)) string {
	t.Helper()
	b := jwt.NewBuilder().Subject(sub).Issuer(authn.Issuer).Audience([]string{authn.Audience}).
		IssuedAt(time.Now()).Expiration(time.Now().Add(15*time.Minute)).JwtID("j-"+sub).Claim(authn.RolesClaim, roles)
	if mutate != nil {
		mutate(b)
	}
	tok, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	k.mu.Lock()
	key := k.priv[kid]
	k.mu.Unlock()
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.EdDSA(), key))
	if err != nil {
		t.Fatal(err)
	}
	return string(signed)
}
