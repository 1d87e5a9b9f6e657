package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/subjects"
)

// keyRefresh is how stale the cached keys may get before they are read again from
// PostgreSQL, so that a rotation by another instance is picked up.
const keyRefresh = 30 * time.Second

// keyring caches the live signing keys of the KeyStore. It is safe for concurrent use.
type keyring struct {
	store *KeyStore
	// publishFor is how long a retired key stays published: the access token lifetime, plus
	// the time other instances may go on signing with it before they notice the rotation
	// (keyRefresh), plus clock skew.
	publishFor time.Duration

	mu       sync.Mutex
	current  jwk.Key // private, with kid and alg
	public   jwk.Set
	jwks     subjects.JWKS
	loadedAt time.Time
}

func newKeyring(store *KeyStore, accessTTL time.Duration) *keyring {
	return &keyring{store: store, publishFor: accessTTL + 2*keyRefresh + time.Minute}
}

// load reads the live keys unless the cache is younger than maxAge.
func (k *keyring) load(ctx context.Context, maxAge time.Duration) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.current != nil && time.Since(k.loadedAt) < maxAge {
		return nil
	}
	rows, err := k.store.Live(ctx, k.publishFor)
	if err != nil {
		if k.current != nil {
			return nil // keep signing with what we have; Postgres will be back
		}
		return err
	}
	var current jwk.Key
	public := jwk.NewSet()
	jwks := subjects.JWKS{Keys: []json.RawMessage{}}
	for _, r := range rows {
		priv, err := jwk.Import(r.Private)
		if err != nil {
			return fmt.Errorf("signing key %s: %w", r.KID, err)
		}
		if err := errors.Join(priv.Set(jwk.KeyIDKey, r.KID), priv.Set(jwk.AlgorithmKey, jwa.EdDSA()),
			priv.Set(jwk.KeyUsageKey, jwk.ForSignature)); err != nil {
			return err
		}
		pub, err := priv.PublicKey()
		if err != nil {
			return err
		}
		raw, err := json.Marshal(pub)
		if err != nil {
			return err
		}
		if err := public.AddKey(pub); err != nil {
			return err
		}
		jwks.Keys = append(jwks.Keys, raw)
		if !r.IsRetired {
			current = priv
		}
	}
	if current == nil {
		return errors.New("no current signing key")
	}
	k.current, k.public, k.jwks, k.loadedAt = current, public, jwks, time.Now()
	return nil
}

// signer returns the current private key, reloading the cache when it is stale.
func (k *keyring) signer(ctx context.Context) (jwk.Key, error) {
	if err := k.load(ctx, keyRefresh); err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.current, nil
}

// JWKS returns the published public keys.
func (k *keyring) JWKS(ctx context.Context) (subjects.JWKS, error) {
	if err := k.load(ctx, keyRefresh); err != nil {
		return subjects.JWKS{}, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.jwks, nil
}

// Source is the authn.KeySource over this instance's own key store: the auth service checks
// tokens without a NATS round trip to itself. The Verifier calls it for a key id it does not
// know, so it reads PostgreSQL again (the Verifier limits how often).
func (k *keyring) Source(ctx context.Context) (jwk.Set, error) {
	if err := k.load(ctx, 0); err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.public.Clone()
}

// mint signs an access token for sub with roles, valid for ttl from now, issued at iat (its
// seconds: see issue for why it may differ from now) in the refresh session sid (none for
// a service token).
func (k *keyring) mint(ctx context.Context, sub string, roles []string, ttl time.Duration, iat time.Time, sid string) (string, error) {
	key, err := k.signer(ctx)
	if err != nil {
		return "", err
	}
	jti, err := uuid.NewV7()
	if err != nil {
		return "", err
	}
	if roles == nil {
		roles = []string{}
	}
	b := jwt.NewBuilder().Subject(sub).Issuer(authn.Issuer).Audience([]string{authn.Audience}).
		IssuedAt(iat.Truncate(time.Second)).Expiration(time.Now().Add(ttl)).JwtID(jti.String()).Claim(authn.RolesClaim, roles)
	if sid != "" {
		b = b.Claim(authn.SessionClaim, sid)
	}
	tok, err := b.Build()
	if err != nil {
		return "", fmt.Errorf("build token: %w", err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.EdDSA(), key))
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return string(signed), nil
}

// serviceTTL is the lifetime of the auth service's own service token.
const serviceTTL = 5 * time.Minute

// serviceToken is the auth service's token for its calls to the user service, cached and
// minted again when less than half its lifetime is left.
type serviceToken struct {
	keys *keyring

	mu  sync.Mutex
	tok string
	exp time.Time
}

// ctx returns ctx carrying the service token.
func (s *serviceToken) ctx(ctx context.Context) (context.Context, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok == "" || time.Until(s.exp) < serviceTTL/2 {
		tok, err := s.keys.mint(ctx, "service:auth", []string{subjects.RoleService}, serviceTTL, time.Now(), "")
		if err != nil {
			return nil, err
		}
		s.tok, s.exp = tok, time.Now().Add(serviceTTL)
	}
	return subjects.WithAuthorization(ctx, s.tok), nil
}
