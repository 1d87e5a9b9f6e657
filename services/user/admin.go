package user

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/souk/souk/subjects"
)

// ensureAdmin creates the admin account, or grants the admin role to the existing account of
// email without touching its password; nothing when email or password is empty. Errors
// never contain the password.
func (h *handlers) ensureAdmin(ctx context.Context, rawEmail, password string, log zerolog.Logger) error {
	if rawEmail == "" || password == "" {
		return nil
	}
	email, err := NormalizeEmail(rawEmail)
	if err != nil {
		return fmt.Errorf("user: admin email (SOUK_ADMIN_EMAIL) %s", err)
	}
	if err := CheckPassword(password, email); err != nil {
		return fmt.Errorf("user: admin password (SOUK_ADMIN_PASSWORD) %s", err)
	}
	// The common case on a restart: the account exists; skip the bcrypt work.
	if err := h.store.GrantAdmin(ctx, email); err == nil {
		log.Info().Str("email", email).Msg("admin account present")
		return nil
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	hash, err := h.hash(ctx, password)
	if err != nil {
		return fmt.Errorf("user: admin account: %w", err)
	}
	created, err := h.store.EnsureAdmin(ctx, Account{ID: id, Email: email, PasswordHash: hash, Name: "Admin",
		Locale: DefaultLocale, Roles: []string{subjects.RoleCustomer, subjects.RoleStaff, subjects.RoleAdmin}})
	if err != nil {
		return err
	}
	log.Info().Str("email", email).Bool("created", created).Msg("admin account ensured")
	return nil
}
