package authn_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/authn/authntest"
	"github.com/souk/souk/subjects"
)

// sign is a customer token for u1 under kid.
func sign(t *testing.T, k *authntest.Keys, kid string, mutate func(*jwt.Builder)) string {
	return k.Sign(t, kid, "u1", []string{subjects.RoleCustomer}, mutate)
}

func TestVerifyAndRefreshOnUnknownKid(t *testing.T) {
	ring := authntest.NewKeys(t, "k1")
	v := authn.NewVerifier(ring.Source, time.Nanosecond)
	ctx := context.Background()
	c, err := v.Verify(ctx, sign(t, ring, "k1", nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "u1" || len(c.Roles) != 1 || !c.Can(subjects.PermProfile) || c.Can(subjects.PermUsersAdmin) {
		t.Fatalf("claims: %+v", c)
	}
	// A rotation: a token under a key the cache has never seen is verified after a refetch.
	ring.Add(t, "k2")
	before := ring.Fetches.Load()
	if _, err := v.Verify(ctx, sign(t, ring, "k2", nil)); err != nil {
		t.Fatal(err)
	}
	if ring.Fetches.Load() != before+1 {
		t.Fatalf("want one refetch for the unknown kid, got %d", ring.Fetches.Load()-before)
	}
	// A known kid does not refetch.
	if _, err := v.Verify(ctx, sign(t, ring, "k1", nil)); err != nil || ring.Fetches.Load() != before+1 {
		t.Fatalf("known kid refetched or failed: %v", err)
	}
}

// A key rotated right after a fetch: the verifier fetched a moment ago, so it may not fetch
// again yet, but a token under the new key is valid. It waits for the next fetch it may make
// instead of refusing the token (a 401 for every caller of a service for up to a second after
// each rotation). Forged kids still cost one fetch per interval, however many arrive.
func TestUnknownKidRightAfterAFetchWaitsForTheNextOne(t *testing.T) {
	ring := authntest.NewKeys(t, "k1")
	v := authn.NewVerifier(ring.Source, 300*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := v.Verify(ctx, sign(t, ring, "k1", nil)); err != nil {
		t.Fatal(err)
	}
	ring.Add(t, "k2")
	if _, err := v.Verify(ctx, sign(t, ring, "k2", nil)); err != nil {
		t.Fatalf("a token under a key rotated just after the fetch: %v", err)
	}
	before := ring.Fetches.Load()
	forged := "eyJhbGciOiJFZERTQSIsImtpZCI6Im5vcGUifQ.e30.AA"
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := v.Verify(ctx, forged); !errors.Is(err, subjects.ErrUnauthorized) {
				t.Errorf("forged kid: want 401, got %v", err)
			}
		})
	}
	wg.Wait()
	// Twenty forged tokens at once wait together for the next allowed fetch: one fetch, two
	// if the interval ends while they wait, never one each.
	if n := ring.Fetches.Load() - before; n > 2 {
		t.Fatalf("%d fetches for 20 forged kids at once", n)
	}
}

func TestVerifyRefuses(t *testing.T) {
	ring := authntest.NewKeys(t, "k1")
	other := authntest.NewKeys(t, "k1") // same kid, another key: a forgery
	v := authn.NewVerifier(ring.Source, time.Hour)
	cases := map[string]string{
		"garbage":      "not.a.token",
		"empty":        "",
		"forged":       sign(t, other, "k1", nil),
		"expired":      sign(t, ring, "k1", func(b *jwt.Builder) { b.Expiration(time.Now().Add(-time.Hour)) }),
		"wrong issuer": sign(t, ring, "k1", func(b *jwt.Builder) { b.Issuer("evil") }),
		"wrong aud":    sign(t, ring, "k1", func(b *jwt.Builder) { b.Audience([]string{"other"}) }),
		"unknown kid":  "eyJhbGciOiJFZERTQSIsImtpZCI6Im5vcGUifQ.e30.AA",
	}
	// The keys are fetched first, so an unknown kid meets the hour-long refresh interval: it
	// is refused at once, never held until the next fetch allowed (an hour) or its deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := v.Verify(ctx, sign(t, ring, "k1", nil)); err != nil {
		t.Fatal(err)
	}
	for name, tok := range cases {
		if _, err := v.Verify(ctx, tok); !errors.Is(err, subjects.ErrUnauthorized) {
			t.Errorf("%s: want 401, got %v", name, err)
		}
		if ctx.Err() != nil {
			t.Fatalf("%s: held until the deadline", name)
		}
	}
}

// A token verified once is answered from memory: the same claims, and a token differing in
// any byte (a forged signature, a changed claim) is still checked and refused.
func TestVerifiedTokenIsRememberedButNotAnyOther(t *testing.T) {
	ring := authntest.NewKeys(t, "k1")
	v := authn.NewVerifier(ring.Source, time.Hour)
	ctx := context.Background()
	tok := sign(t, ring, "k1", nil)
	first, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	again, err := v.Verify(ctx, tok)
	if err != nil || again.Subject != first.Subject || again.ID != first.ID || !again.ExpiresAt.Equal(first.ExpiresAt) ||
		len(again.Roles) != 1 || again.Roles[0] != subjects.RoleCustomer {
		t.Fatalf("from memory: %+v, %v; first %+v", again, err, first)
	}
	head, rest, _ := strings.Cut(tok, ".")
	payload, sig, _ := strings.Cut(rest, ".")
	flip := func(s string) string {
		b := []byte(s)
		b[len(b)/2] ^= 1
		return string(b)
	}
	for name, bad := range map[string]string{
		"signature": head + "." + payload + "." + flip(sig),
		"payload":   head + "." + flip(payload) + "." + sig,
	} {
		if _, err := v.Verify(ctx, bad); !errors.Is(err, subjects.ErrUnauthorized) {
			t.Errorf("%s changed after the token was remembered: want 401, got %v", name, err)
		}
	}
}

func TestAuthorize(t *testing.T) {
	ring := authntest.NewKeys(t, "k1")
	v := authn.NewVerifier(ring.Source, time.Hour)
	ctx := context.Background()
	tok := "Bearer " + sign(t, ring, "k1", nil)
	if _, err := v.Authorize(ctx, "", subjects.Public); err != nil {
		t.Fatal("public without token:", err)
	}
	if _, err := v.Authorize(ctx, "", subjects.Require(subjects.PermProfile)); !errors.Is(err, subjects.ErrUnauthorized) {
		t.Fatal("no token must be 401:", err)
	}
	if _, err := v.Authorize(ctx, tok, subjects.Require(subjects.PermProfile)); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Authorize(ctx, tok, subjects.Require(subjects.PermUsersAdmin)); !errors.Is(err, subjects.ErrForbidden) {
		t.Fatal("customer on admin must be 403:", err)
	}
	if _, err := v.Authorize(ctx, "Basic abc", subjects.Public); !errors.Is(err, subjects.ErrUnauthorized) {
		t.Fatal("a bad header on a public route is still 401:", err)
	}
}

func TestRolesToPermissions(t *testing.T) {
	if !authn.Allowed([]string{subjects.RoleAdmin}, subjects.PermCatalogWrite) || authn.Allowed([]string{subjects.RoleStaff}, subjects.PermUsersAdmin) ||
		authn.Allowed([]string{"root"}, subjects.PermProfile) || authn.Allowed([]string{subjects.RoleAdmin}, subjects.PermInternal) {
		t.Fatal("role table is wrong")
	}
}
