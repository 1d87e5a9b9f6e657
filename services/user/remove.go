package user

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/subjects"
)

// remove removes an account (subjects.UserRemove): see Store.Remove. An admin removing
// their own account is refused (400): the shop would lose the account that can undo it.
func (h *handlers) remove(ctx context.Context, req subjects.UserIDRequest) (subjects.Empty, error) {
	id, err := uuid.Parse(req.ID)
	if err != nil {
		return subjects.Empty{}, wireError(ErrNotFound)
	}
	if caller, err := callerID(ctx); err == nil && caller == id {
		return subjects.Empty{}, subjects.BadRequest("id", "is your own account; another admin may remove it")
	}
	return subjects.Empty{}, wireError(h.store.Remove(ctx, id))
}

// removedEmail is the address a removed account is left with: unique, undeliverable
// (.invalid, RFC 2606), and not the owner's, which may register again.
func removedEmail(id uuid.UUID) string { return "removed-" + id.String() + "@souk.invalid" }

// Remove removes the account id in one transaction: its email, name, addresses, password and
// roles are erased (the row and its id stay, so the orders it placed keep their history),
// its pending email links are deleted, it is revoked (revokeUser: its sessions end, its
// access tokens stop within a second) and user.updated carries the erased contact details to
// the services that keep a copy. A removed account is not found by anything, login
// included. An unknown or removed account is ErrNotFound.
func (s *Store) Remove(ctx context.Context, id uuid.UUID) error {
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		a := Account{ID: id, Email: removedEmail(id), Locale: DefaultLocale}
		tag, err := tx.Exec(ctx, `update users.users set email = $2, name = '', password_hash = '!', roles = '{}',
				addresses = '[]', removed_at = now(), updated_at = now()
			where id = $1 and removed_at is null`, id, a.Email)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		if _, err := tx.Exec(ctx, `delete from users.email_verifications where user_id = $1`, id); err != nil {
			return err
		}
		if err := revokeUser(ctx, tx, id.String(), subjects.RevokedRemoved); err != nil {
			return err
		}
		return outbox.Add(ctx, tx, Schema, updatedEvent(a))
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("remove user: %w", err)
	}
	return err
}

// principalRow is what a login or a refresh reads of an account.
type principalRow struct {
	ID           uuid.UUID
	PasswordHash string
	Principal    subjects.Principal
}

// Principal reads the account whose column ("id" or "email") is value for a login or a
// refresh: its id, password hash, roles and not-before times, or ErrNotFound (removed
// accounts included). It locks the row for share, so a read that meets a revocation being
// committed (revoke locks the row first) waits for it and returns the new roles and times:
// the roles a token is issued with are never older than the not-before time it is dated by.
func (s *Store) Principal(ctx context.Context, column string, value any) (principalRow, error) {
	if column != "id" && column != "email" {
		return principalRow{}, fmt.Errorf("principal by %q", column)
	}
	var r principalRow
	err := s.db.QueryRow(ctx, `select id, password_hash, roles, tokens_not_before, sessions_not_before from users.users
		where `+column+` = $1 and removed_at is null for share`, value).
		Scan(&r.ID, &r.PasswordHash, &r.Principal.Roles, &r.Principal.NotBefore, &r.Principal.SessionsNotBefore)
	if errors.Is(err, pgx.ErrNoRows) {
		return principalRow{}, ErrNotFound
	}
	if err != nil {
		return principalRow{}, fmt.Errorf("principal: %w", err)
	}
	r.Principal.UserID = r.ID.String()
	return r, nil
}
