package user

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/subjects"
)

// revokeUser ends, inside tx, every refresh session of the account userID and every access
// token issued to it until now: the sessions at their next refresh (the auth service reads
// sessions_not_before with the principal), the access tokens within a second of the commit
// (the user.revoked event queued here reaches the auth service, which writes the not-before
// time every verifier watches; tokens_not_before tells the auth service to date the tokens
// it issues afterwards no earlier). reason is a subjects.Revoked* value. Call it in the
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
	// A token issued after the previous revocation may be dated by its time (see
	// Principal.NotBefore), so a revocation moves the time on by at least a second.
	var nb int64
	err := tx.QueryRow(ctx, `update users.users set tokens_not_before = greatest(tokens_not_before + 1, $2),
			sessions_not_before = case when $3 then greatest(sessions_not_before + 1, $2) else sessions_not_before end
		where id = $1 returning tokens_not_before`, userID, authn.NotBefore(now), sessions).Scan(&nb)
	if err != nil {
		return fmt.Errorf("revoke %s: %w", userID, err)
	}
	id := outbox.NewID()
	return outbox.Add(ctx, tx, Schema, outbox.Event{ID: id, Subject: subjects.EvtUserRevoked.Subject(userID),
		Payload: subjects.UserRevoked{EventID: id.String(), OccurredAt: now.UTC(), UserID: userID, NotBefore: nb,
			Sessions: sessions, Reason: reason}})
}

// RevokeSessions ends every session and access token of the account id (revokeUser) in a
// transaction of its own, for reason: a "log out everywhere", and what tests revoke with.
// An unknown account is ErrNotFound.
func (s *Store) RevokeSessions(ctx context.Context, id uuid.UUID, reason string) error {
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error { return revokeUser(ctx, tx, id.String(), reason) })
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	return err
}
