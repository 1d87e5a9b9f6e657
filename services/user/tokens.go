package user

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/subjects"
)

// The single-use tokens of the account flows: email verification (purposeVerify), change of
// email (purposeChange) and password reset. Only their SHA-256 is stored; the clear token
// leaves in the event that carries its link to the notification service.

// Purposes of an email verification token.
const (
	// purposeVerify marks the account's address verified; void once the account has another.
	purposeVerify = "verify"
	// purposeChange makes the token's address the account's.
	purposeChange = "change"
)

// linkLimit bounds the links of one kind sent to one account: one per Gap, Hourly an hour.
type linkLimit struct {
	Gap    time.Duration
	Hourly int
}

// Limits of the links an account is sent. Verification and change links answer 429 past
// them; reset links are silently not sent (the answer to a forgot request never differs).
var (
	verifyLimit = linkLimit{Gap: time.Minute, Hourly: 5}
	resetLimit  = linkLimit{Gap: time.Minute, Hourly: 5}
)

// RateLimitedError is a link asked for too soon; RetryAfter says when the next may be sent.
type RateLimitedError struct {
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("too many links; the next in %s", e.RetryAfter.Round(time.Second))
}

// check returns a *RateLimitedError when one more link would exceed l, given the count of
// links sent in the last hour, the first and the last of them, and the time now.
func (l linkLimit) check(n int, first, last, now time.Time) error {
	switch {
	case n == 0:
		return nil
	case now.Sub(last) < l.Gap:
		return &RateLimitedError{RetryAfter: l.Gap - now.Sub(last)}
	case n >= l.Hourly:
		return &RateLimitedError{RetryAfter: first.Add(time.Hour).Sub(now)}
	}
	return nil
}

// recentLinksSQL counts the links of a table sent to an account ($1) in the last hour, with
// the first, the last and the database's now; $2 names the purpose where the table has one.
const recentLinksSQL = `select count(*), coalesce(min(created_at), now()), coalesce(max(created_at), now()), now()
	from users.%s where user_id = $1 and created_at > now() - interval '1 hour'%s`

func recentLinks(ctx context.Context, tx pgx.Tx, l linkLimit, query string, args ...any) error {
	var n int
	var first, last, now time.Time
	if err := tx.QueryRow(ctx, query, args...).Scan(&n, &first, &last, &now); err != nil {
		return err
	}
	return l.check(n, first, last, now)
}

// link is a token to store and the event that carries its link.
type link struct {
	tokenHash string
	expires   time.Time
	// url is the link with the clear token: it goes only into the event.
	url string
}

// event is the outbox event of kind evt carrying l to the address email of user.
func (l link) event(evt subjects.Event[subjects.UserLink], user uuid.UUID, email string) outbox.Event {
	id := outbox.NewID()
	return outbox.Event{ID: id, Subject: evt.Subject(user.String()), Payload: subjects.UserLink{EventID: id.String(),
		OccurredAt: time.Now().UTC(), UserID: user.String(), Email: email, Link: l.url, ExpiresAt: l.expires.UTC()}}
}

// IssueVerification stores a new verification token of the account id, for its own address
// (purposeVerify, newEmail empty) or for newEmail (purposeChange), voids the unused earlier
// tokens of that purpose, and queues the event that mails the link. An account already
// verified is ErrAlreadyVerified (purposeVerify); a newEmail that has an account is
// ErrEmailTaken; too many links is a *RateLimitedError. Nothing is written on an error.
func (s *Store) IssueVerification(ctx context.Context, id uuid.UUID, purpose, newEmail string, l link) error {
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		a, err := scanAccount(tx.QueryRow(ctx, `select `+accountColumns+` from users.users where id = $1 for update`, id))
		if err != nil {
			return err
		}
		to, evt := a.Email, subjects.EvtUserVerificationRequested
		if purpose == purposeChange {
			to, evt = newEmail, subjects.EvtUserEmailChangeRequested
			var taken bool
			if err := tx.QueryRow(ctx, `select exists(select 1 from users.users where email = $1)`, to).Scan(&taken); err != nil {
				return err
			}
			if taken {
				return ErrEmailTaken
			}
		} else if a.VerifiedAt != nil {
			return ErrAlreadyVerified
		}
		if err := recentLinks(ctx, tx, verifyLimit, fmt.Sprintf(recentLinksSQL, "email_verifications", " and purpose = $2"), id, purpose); err != nil {
			return err
		}
		b := &pgx.Batch{}
		b.Queue(`update users.email_verifications set used_at = now() where user_id = $1 and purpose = $2 and used_at is null`, id, purpose)
		b.Queue(`insert into users.email_verifications (token_hash, user_id, email, purpose, expires_at) values ($1, $2, $3, $4, $5)`,
			l.tokenHash, id, to, purpose, l.expires)
		if err := outbox.Queue(ctx, b, Schema, l.event(evt, id, to)); err != nil {
			return err
		}
		return pg.Send(ctx, tx, b)
	})
	return storeError("issue verification", err)
}

// VerifyEmail spends a verification token (by its hash). A token of purposeVerify marks its
// account's address verified, if that is still the address it was sent to; a token of
// purposeChange makes its address the account's (verified), voids every other unused token
// of the account (a reset link sent to the old address included) and queues user.updated.
// A token unknown, spent, expired or void is ErrInvalidToken; an address taken meanwhile is
// ErrEmailTaken. Nothing changes on an error.
func (s *Store) VerifyEmail(ctx context.Context, tokenHash string) error {
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var userID uuid.UUID
		var email, purpose string
		err := tx.QueryRow(ctx, `update users.email_verifications set used_at = now()
			where token_hash = $1 and used_at is null and expires_at > now()
			returning user_id, email, purpose`, tokenHash).Scan(&userID, &email, &purpose)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrInvalidToken
		}
		if err != nil {
			return err
		}
		a, err := scanAccount(tx.QueryRow(ctx, `select `+accountColumns+` from users.users where id = $1 for update`, userID))
		if err != nil {
			return err
		}
		if purpose == purposeVerify {
			if a.Email != email {
				return ErrInvalidToken
			}
			_, err = tx.Exec(ctx, `update users.users set email_verified_at = coalesce(email_verified_at, now()), updated_at = now() where id = $1`, userID)
			return err
		}
		if _, err := tx.Exec(ctx, `update users.users set email = $2, email_verified_at = now(), updated_at = now() where id = $1`, userID, email); err != nil {
			return err
		}
		a.Email = email
		b := &pgx.Batch{}
		b.Queue(`update users.email_verifications set used_at = now() where user_id = $1 and used_at is null`, userID)
		b.Queue(`update users.password_resets set used_at = now() where user_id = $1 and used_at is null`, userID)
		if err := outbox.Queue(ctx, b, Schema, updatedEvent(a)); err != nil {
			return err
		}
		return pg.Send(ctx, tx, b)
	})
	return storeError("verify email", err)
}

// RequestReset stores a reset token for the account of a normalised email and queues the
// event that mails its link, voiding the account's unused earlier reset tokens. It reports
// whether a link was sent: not for an email without an account, nor past resetLimit. Both
// cases do the same work up to the account's lookup, and the caller answers alike.
func (s *Store) RequestReset(ctx context.Context, email string, l link) (sent bool, err error) {
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var id uuid.UUID
		var n int
		var first, last, now time.Time
		err := tx.QueryRow(ctx, `select u.id, count(r.*), coalesce(min(r.created_at), now()), coalesce(max(r.created_at), now()), now()
			from users.users u left join users.password_resets r on r.user_id = u.id and r.created_at > now() - interval '1 hour'
			where u.email = $1 group by u.id`, email).Scan(&id, &n, &first, &last, &now)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if resetLimit.check(n, first, last, now) != nil {
			return nil
		}
		b := &pgx.Batch{}
		b.Queue(`update users.password_resets set used_at = now() where user_id = $1 and used_at is null`, id)
		b.Queue(`insert into users.password_resets (token_hash, user_id, expires_at) values ($1, $2, $3)`, l.tokenHash, id, l.expires)
		if err := outbox.Queue(ctx, b, Schema, l.event(subjects.EvtUserPasswordResetRequested, id, email)); err != nil {
			return err
		}
		sent = true
		return pg.Send(ctx, tx, b)
	})
	return sent, storeError("request password reset", err)
}

// ResetAccount returns the account a reset token (by its hash) would reset, without spending
// it; ErrInvalidToken when it is unknown, spent or expired.
func (s *Store) ResetAccount(ctx context.Context, tokenHash string) (Account, error) {
	a, err := scanAccount(s.db.QueryRow(ctx, `select `+prefixed("u.", accountColumns)+` from users.password_resets r
		join users.users u on u.id = r.user_id where r.token_hash = $1 and r.used_at is null and r.expires_at > now()`, tokenHash))
	if errors.Is(err, ErrNotFound) {
		return Account{}, ErrInvalidToken
	}
	return a, storeError("reset account", err)
}

// ResetPassword spends a reset token (by its hash), sets the account's password hash, voids
// its other reset tokens and queues user.password_changed. ErrInvalidToken when the token is
// unknown, spent or expired; nothing changes then.
func (s *Store) ResetPassword(ctx context.Context, tokenHash, passwordHash string) error {
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var id uuid.UUID
		err := tx.QueryRow(ctx, `update users.password_resets set used_at = now()
			where token_hash = $1 and used_at is null and expires_at > now() returning user_id`, tokenHash).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrInvalidToken
		}
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		b.Queue(`update users.password_resets set used_at = now() where user_id = $1 and used_at is null`, id)
		return setPassword(ctx, tx, b, id, passwordHash, subjects.PasswordChangedByReset)
	})
	return storeError("reset password", err)
}

// ChangePassword replaces the password hash of the account id, if it is still oldHash (else
// ErrPasswordChanged), and queues user.password_changed.
func (s *Store) ChangePassword(ctx context.Context, id uuid.UUID, oldHash, newHash string) error {
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var current string
		err := tx.QueryRow(ctx, `select password_hash from users.users where id = $1 for update`, id).Scan(&current)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if current != oldHash {
			return ErrPasswordChanged
		}
		return setPassword(ctx, tx, &pgx.Batch{}, id, newHash, subjects.PasswordChangedByUser)
	})
	return storeError("change password", err)
}

// setPassword sends b with the new password hash of account id and its user.password_changed
// event, in tx, and revokes every session and access token of the account (revokeUser):
// whoever knew the old password, or held a token, is signed out.
func setPassword(ctx context.Context, tx pgx.Tx, b *pgx.Batch, id uuid.UUID, hash, reason string) error {
	b.Queue(`update users.users set password_hash = $2, updated_at = now() where id = $1`, id, hash)
	evID := outbox.NewID()
	err := outbox.Queue(ctx, b, Schema, outbox.Event{ID: evID, Subject: subjects.EvtUserPasswordChanged.Subject(id.String()),
		Payload: subjects.UserPasswordChanged{EventID: evID.String(), OccurredAt: time.Now().UTC(), UserID: id.String(), Reason: reason}})
	if err != nil {
		return err
	}
	if err := pg.Send(ctx, tx, b); err != nil {
		return err
	}
	return revokeUser(ctx, tx, id.String(), subjects.RevokedPassword)
}

// storeError passes the domain errors through and wraps the rest with what failed; a unique
// violation (an address taken by a concurrent change or registration) is ErrEmailTaken.
func storeError(what string, err error) error {
	var limited *RateLimitedError
	switch {
	case err == nil, errors.Is(err, ErrNotFound), errors.Is(err, ErrInvalidToken), errors.Is(err, ErrEmailTaken),
		errors.Is(err, ErrAlreadyVerified), errors.Is(err, ErrPasswordChanged), errors.As(err, &limited):
		return err
	case isUniqueViolation(err):
		return ErrEmailTaken
	}
	return fmt.Errorf("%s: %w", what, err)
}

// prefixed qualifies each of a comma-separated column list with prefix.
func prefixed(prefix, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = prefix + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}
