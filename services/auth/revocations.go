package auth

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/subjects"
)

// revocationsConsumer is the durable consumer of user.revoked (nats/bus declares it).
const revocationsConsumer = "auth-revocations"

// revoker writes revocations into the bucket every verifier watches (bus.BucketRevocations).
type revoker struct {
	// kv is the bucket; the service's Start sets it before anything runs.
	kv jetstream.KeyValue
}

// consumer applies the user service's user.revoked events.
func (r *revoker) consumer() *consumer.Consumer {
	return &consumer.Consumer{Name: revocationsConsumer,
		On: []consumer.Route{consumer.On(subjects.EvtUserRevoked, r.userRevoked)}}
}

// userRevoked raises the user's not-before time in the bucket. The refresh sessions of a
// revocation with Sessions need nothing here: a refresh reads the account's
// sessions_not_before with the principal, in PostgreSQL, and ends a session started before
// it. Safe to run twice (RevokeUser never lowers a time); the put is not in tx, so a commit
// that fails after it only puts the same time again on redelivery.
func (r *revoker) userRevoked(ctx context.Context, _ pgx.Tx, evt subjects.UserRevoked) error {
	return authn.RevokeUser(ctx, r.kv, evt.UserID, evt.NotBefore)
}

// session ends the access tokens of the session fam (a logout).
func (r *revoker) session(ctx context.Context, fam string) error {
	return authn.RevokeSession(ctx, r.kv, fam, time.Now())
}
