package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/secret"
	"github.com/souk/souk/subjects"
)

// handlers serves the endpoints.
type handlers struct {
	nc         *nats.Conn
	keys       *keyring
	service    *serviceToken
	sessions   *Sessions
	revoker    *revoker
	accessTTL  time.Duration
	refreshTTL time.Duration
}

// maxCredential bounds the email and password a login may send on to the user service.
const maxCredential = 1024

func (h *handlers) login(ctx context.Context, req subjects.LoginRequest) (subjects.TokenPair, error) {
	var bad subjects.Problems
	if req.Email == "" {
		bad.Add("email", "is required")
	} else if len(req.Email) > maxCredential {
		bad.Add("email", "is too long")
	}
	if req.Password == "" {
		bad.Add("password", "is required")
	} else if len(req.Password) > maxCredential {
		bad.Add("password", "is too long")
	}
	if err := bad.Err(); err != nil {
		return subjects.TokenPair{}, err
	}
	sctx, err := h.service.ctx(ctx)
	if err != nil {
		return subjects.TokenPair{}, err
	}
	readAt := time.Now()
	p, err := subjects.UserVerifyCredentials.Call(sctx, h.nc, subjects.CredentialsRequest(req))
	if err != nil {
		return subjects.TokenPair{}, upstream(err, "verify credentials")
	}
	fam, err := uuid.NewV7()
	if err != nil {
		return subjects.TokenPair{}, err
	}
	// The session dates from before the credentials were read, as the access token does
	// (see issue); after the account's latest session revocation when it knew of it.
	created := notEarlier(readAt, p.SessionsNotBefore).UTC()
	f := familyEntry{UserID: p.UserID, CreatedAt: created, LastUsed: time.Now().UTC()}
	if err := h.sessions.CreateFamily(ctx, fam.String(), f); err != nil {
		return subjects.TokenPair{}, err
	}
	return h.issue(ctx, p, fam.String(), readAt)
}

// notEarlier is t, or the Unix second notBefore when that is later.
func notEarlier(t time.Time, notBefore int64) time.Time {
	if nb := time.Unix(notBefore, 0); nb.After(t) {
		return nb
	}
	return t
}

// upstream maps an error of a call to the user service: a credentials mismatch is ours to
// tell, unavailability and timeouts pass through, anything else is our fault and masked.
func upstream(err error, what string) error {
	var se *subjects.Error
	switch {
	case errors.As(err, &se) && se.Code == http.StatusUnauthorized && se.Slug == "invalid_credentials":
		return wireError(ErrBadCredentials)
	case errors.As(err, &se) && se.Code == http.StatusNotFound:
		return wireError(ErrInvalidRefresh) // the user is gone
	case errors.As(err, &se) && (se.Code == http.StatusServiceUnavailable || se.Code == http.StatusGatewayTimeout):
		return se
	}
	// %v, not %w: a 4xx of the user service here is a bug of ours, not the client's.
	return fmt.Errorf("%s: %v", what, err)
}

// issue mints an access token for p in session fam and a new refresh token in it. readAt is
// when the user service was asked for p: the token is dated then (its iat), not when it is
// signed, so that roles read before a revocation committed make a token the revocation
// refuses (its not-before time is later than any such read: authn.NotBefore, and the user
// service locks the account for it). When p carries a not-before time later than readAt,
// the roles were read after that revocation, and the token is dated by it, so it passes.
func (h *handlers) issue(ctx context.Context, p subjects.Principal, fam string, readAt time.Time) (subjects.TokenPair, error) {
	access, err := h.keys.mint(ctx, p.UserID, p.Roles, h.accessTTL, notEarlier(readAt, p.NotBefore), fam)
	if err != nil {
		return subjects.TokenPair{}, err
	}
	refresh, hash, err := secret.NewToken()
	if err != nil {
		return subjects.TokenPair{}, err
	}
	if err := h.sessions.AddToken(ctx, hash, tokenEntry{Family: fam, UserID: p.UserID, IssuedAt: time.Now().UTC()}); err != nil {
		return subjects.TokenPair{}, err
	}
	return subjects.TokenPair{AccessToken: access, RefreshToken: refresh, TokenType: "Bearer",
		ExpiresIn: int(h.accessTTL / time.Second)}, nil
}

func (h *handlers) refresh(ctx context.Context, req subjects.RefreshRequest) (subjects.TokenPair, error) {
	if req.RefreshToken == "" {
		return subjects.TokenPair{}, subjects.BadRequest("refresh_token", "is required")
	}
	if !validRefreshToken(req.RefreshToken) {
		return subjects.TokenPair{}, wireError(ErrInvalidRefresh)
	}
	hash := secret.Hash(req.RefreshToken)
	tok, rev, err := h.sessions.Token(ctx, hash)
	if err != nil {
		return subjects.TokenPair{}, wireError(err)
	}
	fam, _, err := h.sessions.Family(ctx, tok.Family)
	if err != nil {
		return subjects.TokenPair{}, wireError(err)
	}
	if fam.Revoked || time.Since(tok.IssuedAt) > h.refreshTTL {
		return subjects.TokenPair{}, wireError(ErrInvalidRefresh)
	}
	if tok.Spent {
		return subjects.TokenPair{}, h.reused(ctx, tok)
	}
	// Read the roles before spending the token: if the user service is down, the client
	// keeps a token it can try again.
	sctx, err := h.service.ctx(ctx)
	if err != nil {
		return subjects.TokenPair{}, err
	}
	readAt := time.Now()
	p, err := subjects.UserPrincipal.Call(sctx, h.nc, subjects.UserIDRequest{ID: tok.UserID})
	if err != nil {
		return subjects.TokenPair{}, upstream(err, "read principal")
	}
	if fam.CreatedAt.Unix() < p.SessionsNotBefore { // a password changed, an account removed
		if err := h.sessions.Revoke(ctx, tok.Family); err != nil {
			return subjects.TokenPair{}, err
		}
		return subjects.TokenPair{}, wireError(ErrInvalidRefresh)
	}
	if err := h.sessions.Spend(ctx, hash, tok, rev); err != nil {
		if errors.Is(err, ErrReused) {
			// A concurrent refresh spent it first: one of the two presenters is not the
			// client the token was issued to, and we cannot tell which.
			return subjects.TokenPair{}, h.reused(ctx, tok)
		}
		return subjects.TokenPair{}, err
	}
	pair, err := h.issue(ctx, p, tok.Family, readAt)
	if err != nil {
		return subjects.TokenPair{}, err
	}
	// Touch the family under CAS: the bucket's TTL counts from the last write, so each
	// refresh extends the session. A family revoked meanwhile (a logout, or a reuse detected
	// by a concurrent refresh) stays revoked: the refresh token just issued is dead, and the
	// access token lives out its short lifetime like every other.
	err = h.sessions.UpdateFamily(ctx, tok.Family, func(f *familyEntry) error {
		if f.Revoked {
			return errAlreadyRevoked
		}
		f.LastUsed = time.Now().UTC()
		return nil
	})
	if err != nil && !errors.Is(err, errAlreadyRevoked) && !errors.Is(err, ErrInvalidRefresh) {
		return subjects.TokenPair{}, err
	}
	return pair, nil
}

// reused revokes the family of a token presented after it was spent, and answers 401.
func (h *handlers) reused(ctx context.Context, tok tokenEntry) error {
	zerolog.Ctx(ctx).Warn().Str("user_id", tok.UserID).Str("family", tok.Family).
		Msg("spent refresh token presented again: session revoked")
	if err := h.sessions.Revoke(ctx, tok.Family); err != nil {
		return err
	}
	return wireError(ErrReused)
}

func (h *handlers) logout(ctx context.Context, req subjects.RefreshRequest) (subjects.Empty, error) {
	c, err := authn.MustClaims(ctx)
	if err != nil {
		return subjects.Empty{}, err
	}
	if req.RefreshToken == "" {
		return subjects.Empty{}, subjects.BadRequest("refresh_token", "is required")
	}
	// Unknown tokens and tokens of other users get the same empty answer as a success, so
	// logout cannot be used to test tokens.
	if !validRefreshToken(req.RefreshToken) {
		return subjects.Empty{}, nil
	}
	tok, _, err := h.sessions.Token(ctx, secret.Hash(req.RefreshToken))
	if errors.Is(err, ErrInvalidRefresh) || (err == nil && tok.UserID != c.Subject) {
		return subjects.Empty{}, nil
	}
	if err != nil {
		return subjects.Empty{}, err
	}
	if err := h.sessions.Revoke(ctx, tok.Family); err != nil {
		return subjects.Empty{}, err
	}
	// The session's access tokens stop too (their sid), at every verifier within a second.
	// Answered only once stored: a client that got no answer logs out again.
	return subjects.Empty{}, h.revoker.session(ctx, tok.Family)
}

func (h *handlers) jwks(ctx context.Context, _ subjects.Empty) (subjects.JWKS, error) {
	return h.keys.JWKS(ctx)
}

func (h *handlers) rotate(ctx context.Context, _ subjects.Empty) (subjects.KeyInfo, error) {
	k, err := h.keys.store.Rotate(ctx)
	if err != nil {
		return subjects.KeyInfo{}, err
	}
	// This instance signs with the new key at once; others within keyRefresh.
	if err := h.keys.load(ctx, 0); err != nil {
		return subjects.KeyInfo{}, err
	}
	zerolog.Ctx(ctx).Info().Str("kid", k.KID).Msg("signing key rotated")
	return subjects.KeyInfo{KID: k.KID, Algorithm: "EdDSA", CreatedAt: k.CreatedAt.UTC()}, nil
}

// wireError is the one mapping of domain errors to the wire; anything else is returned as is
// and masked as a 500 by the transport.
func wireError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrBadCredentials):
		return subjects.Errorf(http.StatusUnauthorized, "invalid_credentials", "wrong email or password")
	case errors.Is(err, ErrReused):
		return subjects.Errorf(http.StatusUnauthorized, "refresh_token_reused", "refresh token already used; the session is revoked")
	case errors.Is(err, ErrInvalidRefresh):
		return subjects.Errorf(http.StatusUnauthorized, "invalid_refresh_token", "invalid or expired refresh token")
	}
	return err
}
