package user

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/subjects"
)

// revokeUser ends, inside tx, every refresh session of the account userID and every access
// token issued to it until now: the sessions at their next refresh (the auth service reads
// sessions_not_before with the principal), the access tokens within a second of the commit
// (the user.revoked event queued here reaches the auth service, which writes the not-before
// time every verifier watches). reason is a subjects.Revoked* value. Call it in the
// transaction of the change that calls for it (a password changed or reset, an account
// removed), after that change's own writes: the event is committed with them or not at all.
func revokeUser(ctx context.Context, tx pgx.Tx, userID string, reason string) error {
	return revoke(ctx, tx, userID, reason, true)
}

// revokeTokens is revokeUser for the access tokens only (a role change: the sessions go on,
// and their next refresh reads the new roles).
func revokeTokens(ctx context.Context, tx pgx.Tx, userID string, reason string) error {
	return revoke(ctx, tx, userID, reason, false)
}

// revoke locks the account's row, then takes the revocation time: a principal read (login,
// refresh) either ran before the lock, and so before that time, or waits for the commit and
// reads the new state (principalSQL locks for share). The not-before time is derived from it
// by authn.NotBefore.
func revoke(ctx context.Context, tx pgx.Tx, userID, reason string, sessions bool) error {
	var locked bool
	if err := tx.QueryRow(ctx, `select true from users.users where id = $1 for update`, userID).Scan(&locked); err != nil {
		return fmt.Errorf("revoke %s: %w", userID, err)
	}
	now := time.Now()
	nb := authn.NotBefore(now)
	if sessions {
		if _, err := tx.Exec(ctx, `update users.users set sessions_not_before = greatest(sessions_not_before, $2) where id = $1`,
			userID, time.Unix(nb, 0)); err != nil {
			return fmt.Errorf("revoke %s: %w", userID, err)
		}
	}
	id := outbox.NewID()
	return outbox.Add(ctx, tx, Schema, outbox.Event{ID: id, Subject: subjects.EvtUserRevoked.Subject(userID),
		Payload: subjects.UserRevoked{EventID: id.String(), OccurredAt: now.UTC(), UserID: userID, NotBefore: nb,
			Sessions: sessions, Reason: reason}})
}
