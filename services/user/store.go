package user

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/page"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/subjects"
)

// Account is a user row: the profile and the password hash, which never leaves this package.
type Account struct {
	// ID is a UUIDv7, so id order is creation order.
	ID uuid.UUID
	// Email is normalised: trimmed and lower-cased.
	Email string
	// PasswordHash is the bcrypt hash of the password.
	PasswordHash string
	// Name is the display name.
	Name string
	// Locale is a canonical BCP 47 tag.
	Locale string
	// Roles are a subset of subjects.UserRoles.
	Roles []string
	// VerifiedAt is when the email was verified; nil until then.
	VerifiedAt *time.Time
	// Addresses is the address book.
	Addresses []subjects.Address
	// CreatedAt is when the account was registered.
	CreatedAt time.Time
}

// User returns the profile as the wire shows it.
func (a Account) User() subjects.User {
	addrs := a.Addresses
	if addrs == nil {
		addrs = []subjects.Address{}
	}
	return subjects.User{
		ID: a.ID.String(), Email: a.Email, Name: a.Name, Locale: a.Locale, Roles: a.Roles,
		EmailVerified: a.VerifiedAt != nil, Addresses: addrs, CreatedAt: a.CreatedAt.UTC(),
	}
}

// Store is the users schema.
type Store struct {
	db *pgxpool.Pool
}

// NewStore returns a Store over db.
func NewStore(db *pgxpool.Pool) *Store { return &Store{db: db} }

const accountColumns = `id, email, password_hash, name, locale, roles, email_verified_at, addresses, created_at`

func scanAccount(row pgx.Row) (Account, error) {
	var a Account
	err := row.Scan(&a.ID, &a.Email, &a.PasswordHash, &a.Name, &a.Locale, &a.Roles, &a.VerifiedAt, &a.Addresses, &a.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Account{}, ErrNotFound
	}
	return a, err
}

func isUniqueViolation(err error) bool { return pg.Code(err) == pg.UniqueViolation }

// Create inserts a new account together with the hash of its first email verification token
// and its user.registered event, which carries verifyLink (the link with the token) to the
// notification service. An email that is taken is ErrEmailTaken, and nothing is written.
func (s *Store) Create(ctx context.Context, a Account, tokenHash string, tokenExpires time.Time, verifyLink string) error {
	addrs := a.Addresses
	if addrs == nil {
		addrs = []subjects.Address{}
	}
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `insert into users.users (id, email, password_hash, name, locale, roles, email_verified_at, addresses)
			values ($1, $2, $3, $4, $5, $6, $7, $8)`,
			a.ID, a.Email, a.PasswordHash, a.Name, a.Locale, a.Roles, a.VerifiedAt, addrs)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `insert into users.email_verifications (token_hash, user_id, email, expires_at) values ($1, $2, $3, $4)`,
			tokenHash, a.ID, a.Email, tokenExpires)
		if err != nil {
			return err
		}
		id := outbox.NewID()
		expires := tokenExpires.UTC()
		return outbox.Add(ctx, tx, Schema, outbox.Event{ID: id, Subject: subjects.EvtUserRegistered.Subject(a.ID.String()),
			Payload: subjects.UserRegistered{EventID: id.String(), OccurredAt: time.Now().UTC(), UserID: a.ID.String(), Email: a.Email,
				Name: a.Name, Locale: a.Locale, VerifyLink: verifyLink, VerifyExpiresAt: &expires}})
	})
	if isUniqueViolation(err) {
		return ErrEmailTaken
	}
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	return nil
}

// ByEmail returns the account of a normalised email, or ErrNotFound.
func (s *Store) ByEmail(ctx context.Context, email string) (Account, error) {
	a, err := scanAccount(s.db.QueryRow(ctx, `select `+accountColumns+` from users.users where email = $1 and removed_at is null`, email))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return a, fmt.Errorf("user by email: %w", err)
	}
	return a, err
}

// ByID returns an account, or ErrNotFound.
func (s *Store) ByID(ctx context.Context, id uuid.UUID) (Account, error) {
	a, err := scanAccount(s.db.QueryRow(ctx, `select `+accountColumns+` from users.users where id = $1 and removed_at is null`, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return a, fmt.Errorf("user by id: %w", err)
	}
	return a, err
}

// Update runs fn on the account id under a row lock and writes back its name, locale,
// roles and addresses with a user.updated event of its contact details, all in one
// transaction; a change of roles revokes the account's access tokens (revokeTokens) in it
// too. fn's error aborts without writing.
func (s *Store) Update(ctx context.Context, id uuid.UUID, fn func(*Account) error) (Account, error) {
	var out Account
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		a, err := scanAccount(tx.QueryRow(ctx, `select `+accountColumns+` from users.users where id = $1 and removed_at is null for update`, id))
		if err != nil {
			return err
		}
		roles := slices.Clone(a.Roles)
		if err := fn(&a); err != nil {
			return err
		}
		if !slices.Equal(roles, a.Roles) { // the tokens carrying the old roles stop
			if err := revokeTokens(ctx, tx, a.ID.String(), subjects.RevokedRoles); err != nil {
				return err
			}
		}
		if a.Addresses == nil {
			a.Addresses = []subjects.Address{}
		}
		_, err = tx.Exec(ctx, `update users.users set name = $2, locale = $3, roles = $4, addresses = $5, updated_at = now() where id = $1`,
			a.ID, a.Name, a.Locale, a.Roles, a.Addresses)
		if err != nil {
			return err
		}
		out = a
		return outbox.Add(ctx, tx, Schema, updatedEvent(a))
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Account{}, fmt.Errorf("update user: %w", err)
	}
	return out, err
}

// List returns up to r.Limit+1 accounts after r.After in id order, which for UUIDv7 is
// creation order: the caller cuts the page with page.Next.
func (s *Store) List(ctx context.Context, r page.Request) ([]Account, error) {
	after := uuid.Nil
	if r.After != nil {
		after = r.After.ID
	}
	rows, err := s.db.Query(ctx, `select `+accountColumns+` from users.users where id > $1 and removed_at is null order by id limit $2`, after, r.Limit+1)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// updatedEvent is the user.updated event of a's contact details as they are now.
func updatedEvent(a Account) outbox.Event {
	id := outbox.NewID()
	return outbox.Event{ID: id, Subject: subjects.EvtUserUpdated.Subject(a.ID.String()),
		Payload: subjects.UserUpdated{EventID: id.String(), OccurredAt: time.Now().UTC(), UserID: a.ID.String(),
			Email: a.Email, Name: a.Name, Locale: a.Locale}}
}

// EnsureAdmin makes sure the account of email exists and holds the admin role. A missing
// account is created from a (verified, roles customer, staff, admin) with its user.updated
// event; an existing one keeps its password and only gains the admin role. Safe when several
// instances run it at once.
func (s *Store) EnsureAdmin(ctx context.Context, a Account) (created bool, err error) {
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, ensureAdminSQL, a.ID, a.Email, a.PasswordHash, a.Name, a.Locale, a.Roles).Scan(&created); err != nil || !created {
			return err
		}
		return outbox.Add(ctx, tx, Schema, updatedEvent(a))
	})
	if err != nil {
		return false, fmt.Errorf("ensure admin: %w", err)
	}
	return created, nil
}

const ensureAdminSQL = `insert into users.users (id, email, password_hash, name, locale, roles, email_verified_at, addresses)
		values ($1, $2, $3, $4, $5, $6, now(), '[]')
		on conflict (email) do update
			set roles = case when 'admin' = any(users.roles) then users.roles else users.roles || '{admin}'::text[] end,
			    updated_at = case when 'admin' = any(users.roles) then users.updated_at else now() end
		returning (xmax = 0)`

// GrantAdmin adds the admin role to the account of email; ErrNotFound when there is none.
func (s *Store) GrantAdmin(ctx context.Context, email string) error {
	tag, err := s.db.Exec(ctx, `update users.users set roles = roles || '{admin}'::text[], updated_at = now()
		where email = $1 and not ('admin' = any(roles))`, email)
	if err != nil {
		return fmt.Errorf("grant admin: %w", err)
	}
	if tag.RowsAffected() == 0 {
		var exists bool
		if err := s.db.QueryRow(ctx, `select exists(select 1 from users.users where email = $1)`, email).Scan(&exists); err != nil {
			return fmt.Errorf("grant admin: %w", err)
		}
		if !exists {
			return ErrNotFound
		}
	}
	return nil
}
