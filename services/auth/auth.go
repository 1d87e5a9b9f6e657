// Package auth is Souk's auth service: token signing keys, access tokens and refresh
// sessions.
//
// It owns the PostgreSQL schema "auth" (table signing_keys: Ed25519 keys, one current, old
// ones published until the tokens they signed have expired) and the refresh sessions in the
// JetStream KV bucket "sessions", and serves the subjects.Auth* endpoints as the micro
// service "auth". It calls the user service to check credentials and to read current roles,
// with a service token it mints for itself.
//
// Access tokens are EdDSA JWTs (kid in the header; sub, roles, iss, aud, exp, iat, jti).
// Refresh tokens are random 256-bit strings kept only as SHA-256 hashes. Each login starts a
// session family; a refresh spends its token (compare-and-swap on the KV revision) and issues
// the next one in the family; presenting a spent token again revokes the whole family.
package auth

import (
	"encoding/base64"
	"errors"
	"time"
)

// Domain errors; wireError in handlers.go maps them to the wire.
var (
	// ErrInvalidRefresh is a refresh token that is unknown, expired, of a revoked session,
	// or of a user that no longer exists.
	ErrInvalidRefresh = errors.New("invalid refresh token")
	// ErrReused is a refresh token presented after it was spent: its session is revoked.
	ErrReused = errors.New("refresh token reused")
	// ErrBadCredentials is a wrong email or password.
	ErrBadCredentials = errors.New("invalid credentials")
)

// tokenEntry is the KV value at tok.<sha256 of a refresh token>.
type tokenEntry struct {
	Family   string    `json:"family"`
	UserID   string    `json:"user_id"`
	Spent    bool      `json:"spent"`
	IssuedAt time.Time `json:"issued_at"`
}

// familyEntry is the KV value at fam.<family id>: one login's chain of refresh tokens.
type familyEntry struct {
	UserID    string    `json:"user_id"`
	Revoked   bool      `json:"revoked"`
	CreatedAt time.Time `json:"created_at"`
	// LastUsed is when the family last issued a token; the bucket's TTL counts from the last
	// write, so each refresh extends the session (sliding expiry).
	LastUsed time.Time `json:"last_used"`
}

func tokenKey(hash string) string { return "tok." + hash }
func familyKey(fam string) string { return "fam." + fam }
func validRefreshToken(t string) bool {
	// 32 bytes in base64url without padding are 43 characters.
	if len(t) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(t)
	return err == nil
}
