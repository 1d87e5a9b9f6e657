package authn

import (
	"crypto/sha256"
	"strconv"
	"testing"
	"time"
)

func TestVerifiedTokensAreRememberedUntilTheyExpire(t *testing.T) {
	var c verified
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	key := sha256.Sum256([]byte("token"))
	claims := Claims{Subject: "u1", Roles: []string{"customer"}, ExpiresAt: now.Add(time.Minute)}
	c.put(key, claims, now)
	if got, ok := c.get(key, now.Add(59*time.Second)); !ok || got.Subject != "u1" {
		t.Fatalf("before exp: %+v %v", got, ok)
	}
	if _, ok := c.get(sha256.Sum256([]byte("token2")), now); ok {
		t.Fatal("another token was answered from memory")
	}
	if _, ok := c.get(key, now.Add(time.Minute)); ok {
		t.Fatal("answered at its exp")
	}
	if c.len() != 0 {
		t.Fatal("an expired token stayed in memory")
	}
	c.put(key, Claims{Subject: "u1", ExpiresAt: now}, now)
	if c.len() != 0 {
		t.Fatal("an expired token was remembered")
	}
}

func TestVerifiedTokensStayBounded(t *testing.T) {
	var c verified
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	// Half of them expire after a minute, half after an hour.
	for i := range maxVerified {
		exp := now.Add(time.Minute)
		if i%2 == 0 {
			exp = now.Add(time.Hour)
		}
		c.put(sha256.Sum256([]byte(strconv.Itoa(i))), Claims{Subject: "u", ExpiresAt: exp}, now)
	}
	if c.len() != maxVerified {
		t.Fatalf("%d remembered, want %d", c.len(), maxVerified)
	}
	// Full, two minutes later: the expired half goes first, and nothing live is dropped.
	later := now.Add(2 * time.Minute)
	c.put(sha256.Sum256([]byte("new")), Claims{Subject: "u", ExpiresAt: later.Add(time.Hour)}, later)
	if c.len() != maxVerified/2+1 {
		t.Fatalf("%d remembered after the sweep, want %d", c.len(), maxVerified/2+1)
	}
	// Full of live tokens: a quarter of them make room.
	for i := range maxVerified {
		c.put(sha256.Sum256([]byte("live"+strconv.Itoa(i))), Claims{Subject: "u", ExpiresAt: later.Add(time.Hour)}, later)
		if c.len() > maxVerified {
			t.Fatalf("%d remembered, more than %d", c.len(), maxVerified)
		}
	}
}
