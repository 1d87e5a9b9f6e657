package authn_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwt"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/authn/authntest"
	"github.com/souk/souk/subjects"
)

// revocationsEnv is an embedded NATS server with the revocations bucket, and a verifier
// watching it.
type revocationsEnv struct {
	ctx  context.Context
	js   jetstream.JetStream
	kv   jetstream.KeyValue
	keys *authntest.Keys
	rev  *authn.Revocations
	v    *authn.Verifier
}

func newRevocationsEnv(t *testing.T) *revocationsEnv {
	t.Parallel()
	ctx := t.Context()
	js, kv := natstest.Bucket(t, ctx, bus.BucketRevocations)
	keys := authntest.NewKeys(t, "k1")
	rev := authn.NewRevocations(js)
	return &revocationsEnv{ctx: ctx, js: js, kv: kv, keys: keys, rev: rev,
		v: authn.NewVerifier(keys.Source, time.Hour).WithRevocations(rev)}
}

// run watches the bucket until the test ends, and waits until it is loaded.
func (e *revocationsEnv) run(t *testing.T) {
	expect.Start(t, e.rev.Run)
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	if err := e.rev.WaitLoaded(ctx); err != nil {
		t.Fatal(err)
	}
}

// token signs a token of user issued at iat in session sid.
func (e *revocationsEnv) token(t *testing.T, user string, iat time.Time, sid string) string {
	return e.keys.Sign(t, "k1", user, []string{subjects.RoleStaff}, func(b *jwt.Builder) {
		b.IssuedAt(iat)
		if sid != "" {
			b.Claim(authn.SessionClaim, sid)
		}
	})
}

// refused waits until token is refused with a 401.
func (e *revocationsEnv) refused(t *testing.T, token string) {
	t.Helper()
	expect.Within(t, 5*time.Second, func() error {
		if _, err := e.v.Verify(e.ctx, token); err == nil {
			return fmt.Errorf("token still accepted")
		} else if !authn.IsAuthError(err) {
			return err
		}
		return nil
	})
}

// A verifier that has not loaded the bucket refuses every token with a 503: it cannot tell
// whether a token was revoked. Loaded, it accepts a token nobody revoked.
func TestRevocationsNotLoadedRefuse(t *testing.T) {
	e := newRevocationsEnv(t)
	tok := e.token(t, "u1", time.Now(), "s1")
	_, err := e.v.Verify(e.ctx, tok)
	expect.Error(t, err, 503, "revocations_unavailable", "")
	if e.v.Ready() == nil {
		t.Fatal("ready before the bucket is loaded")
	}
	e.run(t)
	if _, err := e.v.Verify(e.ctx, tok); err != nil || e.v.Ready() != nil {
		t.Fatalf("loaded: %v, ready %v", err, e.v.Ready())
	}
}

// The iat-second edge: a revocation decided at t refuses every token issued before t,
// including one issued in the same second (iat = floor(t)) and, for ClockSlack, the next;
// a token dated NotBefore(t) passes. A token verified (and so remembered) before the
// revocation is refused after it, and a revocation written before the verifier started is
// loaded with the bucket.
func TestRevokedUserTokensBeforeNotBefore(t *testing.T) {
	e := newRevocationsEnv(t)
	at := time.Now().Truncate(time.Second).Add(999 * time.Millisecond) // the worst case: late in its second
	sameSecond := e.token(t, "u1", at.Add(-time.Millisecond), "")
	earlier := e.token(t, "u1", at.Add(-time.Minute), "")
	withinSlack := e.token(t, "u1", at.Add(authn.ClockSlack), "")
	dated := e.token(t, "u1", time.Unix(authn.NotBefore(at), 0), "")
	other := e.token(t, "u2", at.Add(-time.Minute), "")
	if err := authn.RevokeUser(e.ctx, e.kv, "u0", authn.NotBefore(at)); err != nil { // before the watch
		t.Fatal(err)
	}
	e.run(t)
	if _, err := e.v.Verify(e.ctx, e.token(t, "u0", at.Add(-time.Second), "")); !authn.IsAuthError(err) {
		t.Fatalf("a revocation stored before the verifier started: %v", err)
	}
	if _, err := e.v.Verify(e.ctx, sameSecond); err != nil { // remembered before the revocation
		t.Fatal(err)
	}
	if err := authn.RevokeUser(e.ctx, e.kv, "u1", authn.NotBefore(at)); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{sameSecond, earlier, withinSlack} {
		e.refused(t, tok)
	}
	for _, tok := range []string{dated, other} {
		if _, err := e.v.Verify(e.ctx, tok); err != nil {
			t.Fatalf("not revoked, refused: %v", err)
		}
	}
	// A later revocation moves the time on; an older one arriving late does not move it back.
	if err := authn.RevokeUser(e.ctx, e.kv, "u1", authn.NotBefore(at.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	e.refused(t, dated)
	if err := authn.RevokeUser(e.ctx, e.kv, "u1", authn.NotBefore(at)); err != nil {
		t.Fatal(err)
	}
	if got := e.rev.UserNotBefore("u1"); got != authn.NotBefore(at.Add(time.Minute)) {
		t.Fatalf("not-before %d, want the later one", got)
	}
}

// A session ended (a logout) refuses the tokens carrying its sid, and only those.
func TestRevokedSession(t *testing.T) {
	e := newRevocationsEnv(t)
	e.run(t)
	s1, s2 := e.token(t, "u1", time.Now(), "s1"), e.token(t, "u1", time.Now(), "s2")
	if _, err := e.v.Verify(e.ctx, s1); err != nil {
		t.Fatal(err)
	}
	if err := authn.RevokeSession(e.ctx, e.kv, "s1", time.Now()); err != nil {
		t.Fatal(err)
	}
	e.refused(t, s1)
	if _, err := e.v.Verify(e.ctx, s2); err != nil {
		t.Fatalf("another session refused: %v", err)
	}
}
