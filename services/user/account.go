package user

import (
	"context"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/souk/souk/platform/secret"
	"github.com/souk/souk/subjects"
)

// The account flows of a newcomer: a new verification link, a change of email, a forgotten
// password and a password change. Every link is single-use, expires, and leaves this service
// only in the event that the notification service mails (see tokens.go).

// resetTTL is how long a password reset link stays valid.
const resetTTL = 30 * time.Minute

// maxTokenBytes bounds a token read from a request: ours are 43 characters.
const maxTokenBytes = 128

// newLink makes a token, and its link under base, valid for ttl.
func newLink(base string, ttl time.Duration) (link, error) {
	token, hash, err := secret.NewToken()
	if err != nil {
		return link{}, err
	}
	return link{tokenHash: hash, expires: time.Now().Add(ttl), url: base + token}, nil
}

// passwordMatches compares password with hash in a bcrypt slot.
func (h *handlers) passwordMatches(ctx context.Context, hash, password string) (bool, error) {
	if len(password) > MaxPasswordBytes {
		return false, nil // bcrypt would truncate: such a password was never set
	}
	release, err := h.bcryptSlot(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil, nil
}

func (h *handlers) resendVerification(ctx context.Context, _ subjects.Empty) (subjects.Empty, error) {
	id, err := callerID(ctx)
	if err != nil {
		return subjects.Empty{}, err
	}
	l, err := newLink(h.verifyURL, verificationTTL)
	if err != nil {
		return subjects.Empty{}, err
	}
	return subjects.Empty{}, wireError(h.store.IssueVerification(ctx, id, purposeVerify, "", l))
}

func (h *handlers) changeEmail(ctx context.Context, req subjects.ChangeEmailRequest) (subjects.Empty, error) {
	id, err := callerID(ctx)
	if err != nil {
		return subjects.Empty{}, err
	}
	var p subjects.Problems
	email, err := NormalizeEmail(req.Email)
	if err != nil {
		p.Add("email", err.Error())
	}
	if req.Password == "" {
		p.Add("password", "is required")
	}
	if err := p.Err(); err != nil {
		return subjects.Empty{}, err
	}
	a, err := h.store.ByID(ctx, id)
	if err != nil {
		return subjects.Empty{}, wireError(err)
	}
	if email == a.Email {
		return subjects.Empty{}, subjects.BadRequest("email", "is your current address")
	}
	ok, err := h.passwordMatches(ctx, a.PasswordHash, req.Password)
	if err != nil {
		return subjects.Empty{}, err
	}
	if !ok {
		return subjects.Empty{}, subjects.BadRequest("password", "is wrong")
	}
	l, err := newLink(h.verifyURL, verificationTTL)
	if err != nil {
		return subjects.Empty{}, err
	}
	return subjects.Empty{}, wireError(h.store.IssueVerification(ctx, id, purposeChange, email, l))
}

// forgotPassword answers every well-formed email alike, account or not: the token is made and
// the account looked up in both cases, no bcrypt work in either; only an account within its
// reset limit gets the link (see Store.RequestReset).
func (h *handlers) forgotPassword(ctx context.Context, req subjects.ForgotPasswordRequest) (subjects.Empty, error) {
	email, err := NormalizeEmail(req.Email)
	if err != nil {
		return subjects.Empty{}, subjects.BadRequest("email", err.Error())
	}
	l, err := newLink(h.resetURL, resetTTL)
	if err != nil {
		return subjects.Empty{}, err
	}
	_, err = h.store.RequestReset(ctx, email, l)
	return subjects.Empty{}, err
}

func (h *handlers) resetPassword(ctx context.Context, req subjects.ResetPasswordRequest) (subjects.Empty, error) {
	if req.Token == "" {
		return subjects.Empty{}, subjects.BadRequest("token", "is required")
	}
	if len(req.Token) > maxTokenBytes {
		return subjects.Empty{}, wireError(ErrInvalidToken)
	}
	tokenHash := secret.Hash(req.Token)
	a, err := h.store.ResetAccount(ctx, tokenHash)
	if err != nil {
		return subjects.Empty{}, wireError(err)
	}
	if err := CheckPassword(req.Password, a.Email); err != nil {
		return subjects.Empty{}, subjects.BadRequest("password", err.Error())
	}
	hash, err := h.hash(ctx, req.Password)
	if err != nil {
		return subjects.Empty{}, err
	}
	return subjects.Empty{}, wireError(h.store.ResetPassword(ctx, tokenHash, hash))
}

func (h *handlers) changePassword(ctx context.Context, req subjects.ChangePasswordRequest) (subjects.Empty, error) {
	id, err := callerID(ctx)
	if err != nil {
		return subjects.Empty{}, err
	}
	a, err := h.store.ByID(ctx, id)
	if err != nil {
		return subjects.Empty{}, wireError(err)
	}
	var p subjects.Problems
	if req.CurrentPassword == "" {
		p.Add("current_password", "is required")
	}
	if err := CheckPassword(req.NewPassword, a.Email); err != nil {
		p.Add("new_password", err.Error())
	}
	if err := p.Err(); err != nil {
		return subjects.Empty{}, err
	}
	ok, err := h.passwordMatches(ctx, a.PasswordHash, req.CurrentPassword)
	if err != nil {
		return subjects.Empty{}, err
	}
	if !ok {
		return subjects.Empty{}, subjects.BadRequest("current_password", "is wrong")
	}
	hash, err := h.hash(ctx, req.NewPassword)
	if err != nil {
		return subjects.Empty{}, err
	}
	return subjects.Empty{}, wireError(h.store.ChangePassword(ctx, id, a.PasswordHash, hash))
}
