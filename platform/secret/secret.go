// Package secret makes the opaque random tokens Souk hands out (refresh tokens, email
// verification tokens, webhook secrets) and the hashes it stores instead of them.
package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// NewToken returns a random 256-bit token, base64url without padding, and its Hash.
func NewToken() (token, hash string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", err
	}
	token = base64.RawURLEncoding.EncodeToString(b[:])
	return token, Hash(token), nil
}

// Hash is the SHA-256 (hex) of a token: the only form in which a token is stored. A 256-bit
// random token needs no salt or slow hash: it cannot be guessed from its hash.
func Hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
