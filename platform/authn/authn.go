// Package authn verifies Souk's access tokens and answers who may do what. Every service
// checks the caller's token itself with a Verifier, not only the gateway. Keys come from the
// auth service's JWKS, cached, and fetched again when a token names a key id the cache does
// not hold (a rotation), at most once per MinRefresh.
package authn

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"github.com/nats-io/nats.go"

	"github.com/souk/souk/subjects"
)

// Token claims that Souk issues and checks.
const (
	// Issuer is the iss of every Souk access token.
	Issuer = "souk"
	// Audience is the aud of every Souk access token.
	Audience = "souk-api"
	// RolesClaim is the private claim holding the roles.
	RolesClaim = "roles"
	// SessionClaim is the private claim naming the refresh session (the login) a token was
	// issued in, so that a logout can end that session's access tokens (Revocations).
	SessionClaim = "sid"
)

// Claims are the verified facts of an access token.
type Claims struct {
	// Subject is the user id (or "service:<name>" for a service token).
	Subject string
	// Roles are the roles at the time the token was issued.
	Roles []string
	// ID is the token's jti.
	ID string
	// ExpiresAt is the token's exp.
	ExpiresAt time.Time
	// IssuedAt is the token's iat, in whole seconds.
	IssuedAt time.Time
	// SessionID is the token's sid: the refresh session it was issued in; empty for a
	// service token.
	SessionID string
}

// Can reports whether the claims' roles grant perm.
func (c Claims) Can(perm subjects.Permission) bool { return Allowed(c.Roles, perm) }

// KeySource fetches the current public key set.
type KeySource func(ctx context.Context) (jwk.Set, error)

// NATSKeySource fetches the key set from the auth service over NATS.
func NATSKeySource(nc *nats.Conn) KeySource {
	return func(ctx context.Context) (jwk.Set, error) {
		set, err := subjects.AuthJWKS.Call(ctx, nc, subjects.Empty{})
		if err != nil {
			return nil, fmt.Errorf("fetch jwks: %w", err)
		}
		raw, err := json.Marshal(set)
		if err != nil {
			return nil, err
		}
		return jwk.Parse(raw)
	}
}

// Verifier checks access tokens against a cached key set. It is safe for concurrent use.
type Verifier struct {
	source KeySource
	// MinRefresh is the least time between two fetches caused by unknown key ids, so a flood
	// of forged kids cannot turn into a flood of fetches.
	minRefresh time.Duration

	mu        sync.Mutex
	set       jwk.Set
	fetchedAt time.Time

	// seen holds the tokens verified already; now is the clock their expiry is read on.
	seen verified
	now  func() time.Time

	// revocations, when set, refuses revoked tokens (WithRevocations).
	revocations *Revocations
}

// NewVerifier returns a Verifier over source that fetches at most once per minRefresh
// (one second when zero) on unknown key ids.
func NewVerifier(source KeySource, minRefresh time.Duration) *Verifier {
	if minRefresh <= 0 {
		minRefresh = time.Second
	}
	return &Verifier{source: source, minRefresh: minRefresh, now: time.Now}
}

// NewVerifierFor is the Verifier of a service: keys when given (tests), else the auth
// service's JWKS over nc, fetched again at most once a second on unknown key ids; revoked
// tokens refused by revocations, whose Run the caller runs.
func NewVerifierFor(keys KeySource, nc *nats.Conn, revocations *Revocations) *Verifier {
	if keys == nil {
		keys = NATSKeySource(nc)
	}
	return NewVerifier(keys, time.Second).WithRevocations(revocations)
}

// WithRevocations makes v refuse the tokens revocations says are revoked, and every token
// while revocations is not loaded; the caller runs revocations.Run. Every Verifier of a
// running shop has them (platform/kit, cmd/souk); one without them (a test of signatures)
// accepts a token until it expires. It returns v.
func (v *Verifier) WithRevocations(revocations *Revocations) *Verifier {
	v.revocations = revocations
	return v
}

// Ready is nil when v can judge tokens: its revocations, if any, are loaded.
func (v *Verifier) Ready() error {
	if v.revocations != nil && !v.revocations.Loaded() {
		return errNotLoaded
	}
	return nil
}

var errInvalidToken = &subjects.Error{Code: 401, Slug: "invalid_token", Message: "invalid or expired access token"}

// Verify checks the signature, issuer, audience and lifetime of token, and that it is not
// revoked, and returns its claims. Every failure is a 401 *subjects.Error that does not say
// which check failed, except that a key set that cannot be fetched, or revocations not
// loaded yet, is a 503. A token verified before is answered from memory until it expires
// (see verified), its revocation checked every time; the Roles of the claims returned are
// shared, not copied, and must not be modified.
func (v *Verifier) Verify(ctx context.Context, token string) (Claims, error) {
	key := sha256.Sum256([]byte(token))
	c, ok := v.seen.get(key, v.now())
	if !ok {
		var err error
		if c, err = v.verify(ctx, token); err != nil {
			return Claims{}, err
		}
		v.seen.put(key, c, v.now())
	}
	if v.revocations != nil {
		if err := v.revocations.check(c); err != nil {
			return Claims{}, err
		}
	}
	return c, nil
}

// verify is Verify without the memory of verified tokens.
func (v *Verifier) verify(ctx context.Context, token string) (Claims, error) {
	kid, ok := keyID(token)
	if !ok {
		return Claims{}, errInvalidToken
	}
	set, err := v.keys(ctx, kid)
	if err != nil {
		return Claims{}, &subjects.Error{Code: 503, Slug: "keys_unavailable", Message: "token keys unavailable"}
	}
	if _, found := set.LookupKeyID(kid); !found {
		return Claims{}, errInvalidToken
	}
	tok, err := jwt.Parse([]byte(token),
		jwt.WithKeySet(set),
		jwt.WithValidate(true),
		jwt.WithIssuer(Issuer),
		jwt.WithAudience(Audience),
		jwt.WithAcceptableSkew(30*time.Second),
		jwt.WithRequiredClaim("sub"),
		jwt.WithRequiredClaim("exp"),
		jwt.WithRequiredClaim("iat"),
	)
	if err != nil {
		return Claims{}, errInvalidToken
	}
	var c Claims
	c.Subject, _ = tok.Subject()
	c.ID, _ = tok.JwtID()
	c.ExpiresAt, _ = tok.Expiration()
	c.IssuedAt, _ = tok.IssuedAt()
	_ = tok.Get(SessionClaim, &c.SessionID)
	var roles []any
	if err := tok.Get(RolesClaim, &roles); err == nil {
		for _, r := range roles {
			if s, ok := r.(string); ok {
				c.Roles = append(c.Roles, s)
			}
		}
	}
	return c, nil
}

// maxKeyWait is the longest a token under an unknown kid waits for the next fetch allowed;
// with a longer refresh interval it is refused at once, as before the wait existed.
const maxKeyWait = time.Second

// keys returns a key set that holds kid if one can be had: the cached set, or a fresh one
// when kid is unknown and the last fetch is older than minRefresh.
func (v *Verifier) keys(ctx context.Context, kid string) (jwk.Set, error) {
	waited := false
	for {
		v.mu.Lock()
		set, fetchedAt := v.set, v.fetchedAt
		if set != nil {
			_, known := set.LookupKeyID(kid)
			wait := v.minRefresh - time.Since(fetchedAt)
			if known || (wait > 0 && (waited || wait > maxKeyWait)) {
				v.mu.Unlock()
				return set, nil
			}
			if wait > 0 {
				// The set was fetched moments ago and may not be fetched again yet. A key rotated
				// since is valid: wait for the next fetch allowed rather than refuse its tokens
				// (every caller of a service would get a 401 for up to minRefresh after each
				// rotation). Once only, and not holding the lock: forged kids wait together and
				// cost one fetch per interval.
				v.mu.Unlock()
				waited = true
				t := time.NewTimer(wait)
				select {
				case <-t.C:
					continue
				case <-ctx.Done():
					t.Stop()
					return set, nil
				}
			}
		}
		fetched, err := v.source(ctx) // under the lock: one fetch at a time
		if err == nil {
			v.set, v.fetchedAt = fetched, time.Now()
		}
		v.mu.Unlock()
		switch {
		case err == nil:
			return fetched, nil
		case set != nil:
			return set, nil // keep serving the keys we know
		default:
			return nil, err
		}
	}
}

// keyID reads the kid from a compact JWS header without trusting anything else in it.
func keyID(token string) (string, bool) {
	head, _, ok := strings.Cut(token, ".")
	if !ok || len(head) > 1024 {
		return "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return "", false
	}
	var h struct {
		KID string `json:"kid"`
	}
	if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&h); err != nil || h.KID == "" {
		return "", false
	}
	return h.KID, true
}

// ErrNoToken is the 401 for a request that needs a token and carries none.
var ErrNoToken = &subjects.Error{Code: 401, Slug: "unauthenticated", Message: "authentication required"}

// ErrForbidden is the 403 for a valid token whose roles do not grant the permission.
var ErrForbidden = &subjects.Error{Code: 403, Slug: "forbidden", Message: "not allowed"}

// Authorize checks an Authorization header value against access. A public access with no
// header returns zero claims and no error; a header that is present is always verified.
func (v *Verifier) Authorize(ctx context.Context, header string, access subjects.Access) (Claims, error) {
	if header == "" {
		if access.IsPublic() {
			return Claims{}, nil
		}
		return Claims{}, ErrNoToken
	}
	tok, ok := strings.CutPrefix(header, "Bearer ")
	if !ok || tok == "" {
		return Claims{}, errInvalidToken
	}
	c, err := v.Verify(ctx, tok)
	if err != nil {
		return Claims{}, err
	}
	if !access.IsPublic() && !c.Can(access.Permission()) {
		return c, ErrForbidden
	}
	return c, nil
}

type claimsKey struct{}

// WithClaims returns ctx carrying the verified claims of the caller.
func WithClaims(ctx context.Context, c Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// ClaimsFrom returns the verified claims of the caller; ok is false for an anonymous call.
func ClaimsFrom(ctx context.Context) (Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(Claims)
	return c, ok && c.Subject != ""
}

// MustClaims returns the caller's claims or the 401 to answer with.
func MustClaims(ctx context.Context) (Claims, error) {
	c, ok := ClaimsFrom(ctx)
	if !ok {
		return Claims{}, ErrNoToken
	}
	return c, nil
}

// IsAuthError reports whether err is a 401 or 403 from this package.
func IsAuthError(err error) bool {
	return errors.Is(err, subjects.ErrUnauthorized) || errors.Is(err, subjects.ErrForbidden)
}
