package authn

import (
	"crypto/sha256"
	"sync"
	"time"
)

// maxVerified bounds the tokens a Verifier remembers: a few hundred bytes each, so the
// cache stays under a few MiB however many callers a service sees.
const maxVerified = 8192

// verified remembers the claims of tokens whose signature and claims have been checked, by
// the SHA-256 of the token's exact bytes, until the token expires. A second request with the
// same token (every call of a signed-in customer, and every service after the gateway) then
// costs a hash and a map lookup instead of a signature check and a JWT parse. Any change to
// a token is another key, so nothing unverified is ever served from it.
//
// A token stays accepted until its exp even if its key is withdrawn from the key set in the
// meantime; access tokens live 15 minutes, and withdrawing a key is for rotation, which
// keeps the old key published until its tokens have expired anyway.
type verified struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]Claims
}

// get returns the claims of token if it was verified and has not expired at now.
func (c *verified) get(key [sha256.Size]byte, now time.Time) (Claims, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	claims, ok := c.m[key]
	if ok && !now.Before(claims.ExpiresAt) {
		delete(c.m, key)
		return Claims{}, false
	}
	return claims, ok
}

// put remembers claims under key until they expire. A full cache first drops the expired
// entries, then, if that was not enough, a quarter of the rest (map order: arbitrary ones).
func (c *verified) put(key [sha256.Size]byte, claims Claims, now time.Time) {
	if !now.Before(claims.ExpiresAt) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[[sha256.Size]byte]Claims)
	}
	if len(c.m) >= maxVerified {
		for k, v := range c.m {
			if !now.Before(v.ExpiresAt) {
				delete(c.m, k)
			}
		}
		for k := range c.m {
			if len(c.m) < maxVerified*3/4 {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[key] = claims
}

// len is how many tokens are remembered.
func (c *verified) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
