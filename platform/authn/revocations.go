package authn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/platform/kvwatch"
	"github.com/souk/souk/subjects"
)

// Keys of the revocations bucket (bus.BucketRevocations).
const (
	userPrefix    = "user."
	sessionPrefix = "session."
)

// Revocations is a verifier's copy of the revocations bucket: per user the not-before time
// (Unix seconds; a token issued earlier is refused, see NotBefore) and the sessions ended
// by a logout (a token carrying one of them as its sid is refused). Run keeps it current
// with a KV watch, so checking a token costs a map lookup and no round trip. Entries leave
// with the bucket's TTL (bus.RevocationsTTL), longer than any access token lives, so the
// copy is bounded by the revocations of the last TTL. It is safe for concurrent use.
type Revocations struct {
	// Follower watches the bucket (Run), and says when it is loaded (WaitLoaded, Loaded):
	// until then no token is accepted.
	*kvwatch.Follower
	// now is the clock entries expire on.
	now func() time.Time

	mu       sync.RWMutex
	users    map[string]revocation
	sessions map[string]revocation
}

// revocation is one entry: its value and when the bucket stored it (its TTL runs from then).
type revocation struct {
	notBefore int64
	stored    time.Time
}

// NewRevocations returns the copy of the revocations bucket on js; it is empty, and refuses
// every token, until Run has loaded the bucket. Run watches the bucket until ctx ends (see
// kvwatch.Follower.Run); a service starts serving only after WaitLoaded, so that its first
// callers are not refused.
func NewRevocations(js jetstream.JetStream) *Revocations {
	r := &Revocations{now: time.Now, users: map[string]revocation{}, sessions: map[string]revocation{}}
	r.Follower = kvwatch.New(js, bus.BucketRevocations, r.apply).WithTick(pruneEvery, r.prune)
	return r
}

// errRevocationsNotLoaded is the answer to a token while the revocations are not loaded: a
// verifier that cannot tell whether a token was revoked does not accept it.
var errRevocationsNotLoaded = &subjects.Error{Code: http.StatusServiceUnavailable, Slug: "revocations_unavailable",
	Message: "token revocations not loaded yet", RetryAfter: 1}

// errNotLoaded is what Verifier.Ready says while the revocations load.
var errNotLoaded = errors.New("revocations: loading the bucket")

// pruneEvery is how often entries older than the bucket's TTL are dropped from the copy.
const pruneEvery = time.Minute

// apply takes one entry of the watch into the copy.
func (r *Revocations) apply(e jetstream.KeyValueEntry) {
	m, id := r.users, strings.TrimPrefix(e.Key(), userPrefix)
	if strings.HasPrefix(e.Key(), sessionPrefix) {
		m, id = r.sessions, strings.TrimPrefix(e.Key(), sessionPrefix)
	} else if id == e.Key() {
		return // not ours
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.Operation() != jetstream.KeyValuePut {
		delete(m, id) // an operator lifted it (nats kv del)
		return
	}
	nb, err := strconv.ParseInt(string(e.Value()), 10, 64)
	if err != nil {
		nb = r.now().Add(time.Hour).Unix() // unreadable: refuse every token of it while it lasts
	}
	m[id] = revocation{notBefore: nb, stored: e.Created()}
}

// prune drops the entries the bucket has let expire: no token they stop can still be valid.
func (r *Revocations) prune() {
	cut := r.now().Add(-bus.RevocationsTTL)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range []map[string]revocation{r.users, r.sessions} {
		for k, v := range m {
			if v.stored.Before(cut) {
				delete(m, k)
			}
		}
	}
}

// UserNotBefore is the not-before time of user (Unix seconds) as known here; 0 when none.
// The auth service dates the tokens it issues no earlier (see NotBefore).
func (r *Revocations) UserNotBefore(user string) int64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.users[user].notBefore
}

// check refuses claims revoked by their user's not-before time or their session's end.
func (r *Revocations) check(c Claims) error {
	if !r.Loaded() {
		return errRevocationsNotLoaded
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if u, ok := r.users[c.Subject]; ok && c.IssuedAt.Unix() < u.notBefore {
		return errInvalidToken
	}
	if _, ok := r.sessions[c.SessionID]; ok && c.SessionID != "" {
		return errInvalidToken
	}
	return nil
}

// casRetries bounds RevokeUser's compare-and-swap loop.
const casRetries = 8

// RevokeUser raises the not-before time of user in the revocations bucket kv to notBefore
// (see NotBefore); a later time already there stays. Safe to repeat, and under concurrent
// writers (compare-and-swap on the entry's revision).
func RevokeUser(ctx context.Context, kv jetstream.KeyValue, user string, notBefore int64) error {
	key := userPrefix + user
	val := []byte(strconv.FormatInt(notBefore, 10))
	for range casRetries {
		e, err := kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			_, err = kv.Create(ctx, key, val)
		case err != nil:
			return fmt.Errorf("revoke user %s: %w", user, err)
		default:
			if old, perr := strconv.ParseInt(string(e.Value()), 10, 64); perr == nil && old >= notBefore {
				return nil
			}
			_, err = kv.Update(ctx, key, val, e.Revision())
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return fmt.Errorf("revoke user %s: %w", user, err)
		}
	}
	return fmt.Errorf("revoke user %s: too much contention", user)
}

// RevokeSession ends the access tokens of session sid (their sid claim) in the revocations
// bucket kv. Safe to repeat.
func RevokeSession(ctx context.Context, kv jetstream.KeyValue, sid string, at time.Time) error {
	if _, err := kv.Put(ctx, sessionPrefix+sid, []byte(strconv.FormatInt(at.Unix(), 10))); err != nil {
		return fmt.Errorf("revoke session %s: %w", sid, err)
	}
	return nil
}
