package user

import (
	"context"
	"time"

	"github.com/rs/zerolog"
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

// forgotPassword answers every well-formed email at once and alike, account or not, and does
// the work after the answer: the lookup and, for an account within its limit, the link. A
// write transaction's commit (its WAL flush) takes milliseconds more than a lookup, which
// answering after it would tell (measured here: ~1 ms for an unknown email, ~5 ms when a link
// was written). See resetRequests for the bound.
func (h *handlers) forgotPassword(ctx context.Context, req subjects.ForgotPasswordRequest) (subjects.Empty, error) {
	email, err := NormalizeEmail(req.Email)
	if err != nil {
		return subjects.Empty{}, subjects.BadRequest("email", err.Error())
	}
	l, err := newLink(h.resetURL, resetTTL)
	if err != nil {
		return subjects.Empty{}, err
	}
	h.resets.start(ctx, func(ctx context.Context) error {
		_, err := h.store.RequestReset(ctx, email, l)
		return err
	})
	return subjects.Empty{}, nil
}

// resetRequests runs the work of forgotten-password requests after their answer, at most
// cap(slots) at once. A request that finds every slot taken is answered like any other and
// its work is dropped, logged (never its email): waiting for a slot would make its answer's
// time depend on the other requests' work, and so on whether their emails have accounts.
// The per-address limit of /v1/auth/* keeps that rare; the owner asks again.
type resetRequests struct {
	slots chan struct{}
	log   zerolog.Logger
}

// resetRequestsInFlight bounds the forgotten-password work running at once per instance;
// resetRequestTimeout bounds each.
const (
	resetRequestsInFlight = 16
	resetRequestTimeout   = 10 * time.Second
)

func newResetRequests(log zerolog.Logger) *resetRequests {
	return &resetRequests{slots: make(chan struct{}, resetRequestsInFlight), log: log}
}

// start runs work in the background with the values of ctx (trace, tracking) but not its
// cancellation, bounded by resetRequestTimeout; or drops it when every slot is taken.
func (r *resetRequests) start(ctx context.Context, work func(context.Context) error) {
	select {
	case r.slots <- struct{}{}:
	default:
		r.log.Warn().Msg("password reset requests: too many at once; one was dropped")
		return
	}
	go func() {
		defer func() { <-r.slots }()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), resetRequestTimeout)
		defer cancel()
		if err := work(ctx); err != nil {
			r.log.Warn().Err(err).Msg("password reset request failed; no link sent")
		}
	}()
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
