package user

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/page"
	"github.com/souk/souk/platform/secret"
	"github.com/souk/souk/subjects"
)

// verificationTTL is how long an email verification token stays valid.
const verificationTTL = 24 * time.Hour

// handlers serves the endpoints. Every method is safe to run twice.
type handlers struct {
	store     *Store
	cost      int
	verifyURL string
	// resetURL is the base of the password reset link.
	resetURL string
	// resets runs the forgotten-password requests' work after their answer.
	resets *resetRequests
	// hashing bounds the bcrypt work in flight: it is CPU-bound (~0.3 s at cost 12), and more
	// of it at once than there are cores only makes every login slower.
	hashing chan struct{}
	// dummyHash is compared against for unknown emails, so that they take as long as a wrong
	// password and the timing does not tell which emails have an account. It is computed on
	// first use, so that neither declaring nor starting the service waits for bcrypt.
	dummyHash func() ([]byte, error)
}

func newHandlers(store *Store, cost int, verifyURL string, concurrency int) *handlers {
	return &handlers{store: store, cost: cost, verifyURL: verifyURL, hashing: make(chan struct{}, concurrency),
		dummyHash: sync.OnceValues(func() ([]byte, error) {
			return bcrypt.GenerateFromPassword([]byte("souk dummy password, never a real one"), cost)
		})}
}

var errBusy = &subjects.Error{Code: http.StatusServiceUnavailable, Slug: "overloaded", Message: "too many password checks at once", RetryAfter: 1}

// bcryptSlot waits for a bcrypt slot until ctx ends; the caller calls the returned release.
func (h *handlers) bcryptSlot(ctx context.Context) (release func(), err error) {
	select {
	case h.hashing <- struct{}{}:
		return func() { <-h.hashing }, nil
	case <-ctx.Done():
		return nil, errBusy
	}
}

func (h *handlers) hash(ctx context.Context, password string) (string, error) {
	release, err := h.bcryptSlot(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	b, err := bcrypt.GenerateFromPassword([]byte(password), h.cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(b), nil
}

func (h *handlers) register(ctx context.Context, req subjects.RegisterRequest) (subjects.User, error) {
	var p subjects.Problems
	email, err := NormalizeEmail(req.Email)
	if err != nil {
		p.Add("email", err.Error())
	}
	if err := CheckPassword(req.Password, email); err != nil {
		p.Add("password", err.Error())
	}
	name, msg := subjects.CheckText(req.Name, MaxNameRunes, true, false)
	p.Add("name", msg)
	locale, msg := CheckLocale(req.Locale)
	p.Add("locale", msg)
	if err := p.Err(); err != nil {
		return subjects.User{}, err
	}
	// A taken email is answered before the bcrypt work; the unique constraint still decides
	// a race between two registrations.
	if _, err := h.store.ByEmail(ctx, email); !errors.Is(err, ErrNotFound) {
		if err == nil {
			err = ErrEmailTaken
		}
		return subjects.User{}, wireError(err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return subjects.User{}, err
	}
	hash, err := h.hash(ctx, req.Password)
	if err != nil {
		return subjects.User{}, err
	}
	token, tokenHash, err := secret.NewToken()
	if err != nil {
		return subjects.User{}, err
	}
	a := Account{ID: id, Email: email, PasswordHash: hash, Name: name, Locale: locale,
		Roles: []string{subjects.RoleCustomer}, CreatedAt: time.Now()}
	// The link goes to the notification service in the user.registered event, never to a
	// log. The token is single-use and only its hash is stored here.
	if err := h.store.Create(ctx, a, tokenHash, time.Now().Add(verificationTTL), h.verifyURL+token); err != nil {
		return subjects.User{}, wireError(err)
	}
	return a.User(), nil
}

func (h *handlers) verifyCredentials(ctx context.Context, req subjects.CredentialsRequest) (subjects.Principal, error) {
	release, err := h.bcryptSlot(ctx)
	if err != nil {
		return subjects.Principal{}, err
	}
	defer release()
	dummy, err := h.dummyHash()
	if err != nil {
		return subjects.Principal{}, fmt.Errorf("dummy hash: %w", err)
	}
	hash, password := dummy, req.Password
	email, emailErr := NormalizeEmail(req.Email)
	var a principalRow
	if emailErr == nil {
		a, err = h.store.Principal(ctx, "email", email)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return subjects.Principal{}, err
		}
		if err == nil {
			hash = []byte(a.PasswordHash)
		}
	}
	if len(password) > MaxPasswordBytes {
		password = password[:MaxPasswordBytes] // still spend the time; the answer is no anyway
		hash = dummy
	}
	match := bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
	if !match || emailErr != nil || a.ID == uuid.Nil || len(req.Password) > MaxPasswordBytes {
		return subjects.Principal{}, wireError(ErrBadCredentials)
	}
	return a.Principal, nil
}

func (h *handlers) principal(ctx context.Context, req subjects.UserIDRequest) (subjects.Principal, error) {
	id, err := uuid.Parse(req.ID)
	if err != nil {
		return subjects.Principal{}, wireError(ErrNotFound)
	}
	a, err := h.store.Principal(ctx, "id", id)
	if err != nil {
		return subjects.Principal{}, wireError(err)
	}
	return a.Principal, nil
}

// callerID is the caller's user id; a token of no user (a service's) is ErrNotFound.
func callerID(ctx context.Context) (uuid.UUID, error) {
	c, err := authn.MustClaims(ctx)
	if err != nil {
		return uuid.Nil, err
	}
	id, err := uuid.Parse(c.Subject)
	if err != nil {
		return uuid.Nil, wireError(ErrNotFound)
	}
	return id, nil
}

func (h *handlers) me(ctx context.Context, _ subjects.Empty) (subjects.User, error) {
	id, err := callerID(ctx)
	if err != nil {
		return subjects.User{}, err
	}
	a, err := h.store.ByID(ctx, id)
	if err != nil {
		return subjects.User{}, wireError(err)
	}
	return a.User(), nil
}

func (h *handlers) updateMe(ctx context.Context, req subjects.UpdateMeRequest) (subjects.User, error) {
	id, err := callerID(ctx)
	if err != nil {
		return subjects.User{}, err
	}
	var p subjects.Problems
	var name, locale, msg string
	var addrs []subjects.Address
	if req.Name != nil {
		name, msg = subjects.CheckText(*req.Name, MaxNameRunes, true, false)
		p.Add("name", msg)
	}
	if req.Locale != nil {
		locale, msg = CheckLocale(*req.Locale)
		p.Add("locale", msg)
	}
	if req.Addresses != nil {
		var bad subjects.Problems
		addrs, bad = CheckAddresses(*req.Addresses)
		p = append(p, bad...)
	}
	if err := p.Err(); err != nil {
		return subjects.User{}, err
	}
	a, err := h.store.Update(ctx, id, func(a *Account) error {
		if req.Name != nil {
			a.Name = name
		}
		if req.Locale != nil {
			a.Locale = locale
		}
		if req.Addresses != nil {
			a.Addresses = addrs
		}
		return nil
	})
	if err != nil {
		return subjects.User{}, wireError(err)
	}
	return a.User(), nil
}

func (h *handlers) verifyEmail(ctx context.Context, req subjects.VerifyEmailRequest) (subjects.Empty, error) {
	if req.Token == "" {
		return subjects.Empty{}, subjects.BadRequest("token", "is required")
	}
	if len(req.Token) > 128 {
		return subjects.Empty{}, wireError(ErrInvalidToken)
	}
	return subjects.Empty{}, wireError(h.store.VerifyEmail(ctx, secret.Hash(req.Token)))
}

func (h *handlers) list(ctx context.Context, req subjects.ListRequest) (subjects.UserPage, error) {
	items, next, err := page.List(req, "users", func(r page.Request) ([]Account, error) { return h.store.List(ctx, r) },
		func(a Account) page.Key { return page.Key{ID: a.ID} }, Account.User)
	return subjects.UserPage{Items: items, NextCursor: next}, err
}

func (h *handlers) setRoles(ctx context.Context, req subjects.SetRolesRequest) (subjects.User, error) {
	id, err := uuid.Parse(req.ID)
	if err != nil {
		return subjects.User{}, wireError(ErrNotFound)
	}
	if len(req.Roles) == 0 {
		return subjects.User{}, subjects.BadRequest("roles", "at least one role is required")
	}
	var roles []string
	for _, r := range req.Roles {
		if !slices.Contains(subjects.UserRoles, r) {
			return subjects.User{}, subjects.BadRequest("roles", fmt.Sprintf("unknown role %q; roles are %v", r, subjects.UserRoles))
		}
		if !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	a, err := h.store.Update(ctx, id, func(a *Account) error {
		a.Roles = roles
		return nil
	})
	if err != nil {
		return subjects.User{}, wireError(err)
	}
	return a.User(), nil
}

// wireError is the one mapping of domain errors to the wire. Anything it does not know is
// returned as is, and the transport masks it as a 500.
func wireError(err error) error {
	var limited *RateLimitedError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotFound):
		return subjects.Errorf(http.StatusNotFound, "user_not_found", "user not found")
	case errors.Is(err, ErrEmailTaken):
		return &subjects.Error{Code: http.StatusConflict, Slug: "email_taken", Message: "an account with this email exists",
			Fields: []subjects.FieldError{{Field: "email", Message: "is taken"}}}
	case errors.Is(err, ErrInvalidToken):
		return &subjects.Error{Code: http.StatusBadRequest, Slug: "invalid_token", Message: "the token is unknown, used or expired",
			Fields: []subjects.FieldError{{Field: "token", Message: "is unknown, used or expired"}}}
	case errors.Is(err, ErrAlreadyVerified):
		return subjects.Errorf(http.StatusConflict, "already_verified", "the email address is verified already")
	case errors.Is(err, ErrPasswordChanged):
		return subjects.Errorf(http.StatusConflict, "password_changed", "the password was changed meanwhile; try again")
	case errors.As(err, &limited):
		return &subjects.Error{Code: http.StatusTooManyRequests, Slug: "rate_limited", Message: "too many links sent; retry later",
			RetryAfter: max(1, int(limited.RetryAfter.Seconds()+0.999))}
	case errors.Is(err, ErrBadCredentials):
		return subjects.Errorf(http.StatusUnauthorized, "invalid_credentials", "wrong email or password")
	}
	return err
}
