package user_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/identitytest"
	"github.com/souk/souk/subjects"
)

// lastLink returns the newest event of kind evt for userID on the USERS stream whose link is
// not one of seen, waiting for the outbox relay to publish it.
func lastLink(e *identitytest.Env, evt subjects.Event[subjects.UserLink], userID string, seen ...string) subjects.UserLink {
	e.T.Helper()
	var ev subjects.UserLink
	expect.Within(e.T, 10*time.Second, func() error {
		stream, err := e.JS.Stream(e.Ctx, subjects.StreamUsers)
		if err != nil {
			return err
		}
		msg, err := stream.GetLastMsgForSubject(e.Ctx, evt.Subject(userID))
		if err != nil {
			return err
		}
		ev = subjects.UserLink{}
		if err := json.Unmarshal(msg.Data, &ev); err != nil {
			return err
		}
		for _, s := range seen {
			if ev.Link == s {
				return errors.New("no new link yet")
			}
		}
		return nil
	})
	if ev.UserID != userID || ev.Link == "" || ev.ExpiresAt.IsZero() {
		e.T.Fatalf("%s: %+v", evt.Kind, ev)
	}
	if strings.Contains(e.Log.String(), ev.Link) {
		e.T.Fatal("a link is in the log")
	}
	return ev
}

// tokenOf is the token of a link.
func tokenOf(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil || u.Query().Get("token") == "" {
		t.Fatalf("link %q has no token", link)
	}
	return u.Query().Get("token")
}

// backdate makes the links of userID look sent long ago, so the next is not refused as too
// soon (the limit is one a minute).
func backdate(e *identitytest.Env, table, userID string) {
	e.T.Helper()
	if _, err := e.DB.Exec(e.Ctx, `update users.`+table+` set created_at = created_at - interval '2 minutes' where user_id = $1`, userID); err != nil {
		e.T.Fatal(err)
	}
}

// count is the number of rows of a query with one argument.
func count(e *identitytest.Env, query string, arg any) int {
	e.T.Helper()
	var n int
	if err := e.DB.QueryRow(e.Ctx, query, arg).Scan(&n); err != nil {
		e.T.Fatal(err)
	}
	return n
}

func TestResendVerification(t *testing.T) {
	e := identitytest.NewEnv(t)
	e.Start(adminEmail, adminPassword)
	ada := e.Register("ada@example.com", alicePassword, "Ada")
	first := verifyToken(e, ada.ID)
	tok := e.Login("ada@example.com", alicePassword).AccessToken

	// The registration's link counts: a new one a second later is refused, with the wait.
	_, err := subjects.UserResendVerification.Call(e.As(tok), e.NC, subjects.Empty{})
	expect.Error(t, err, 429, "rate_limited", "")
	var se *subjects.Error
	if !errors.As(err, &se) || se.RetryAfter < 1 || se.RetryAfter > 60 {
		t.Fatalf("retry after: %+v", err)
	}
	_, err = subjects.UserResendVerification.Call(e.Ctx, e.NC, subjects.Empty{})
	expect.Error(t, err, 401, "", "")

	backdate(e, "email_verifications", ada.ID)
	if _, err := subjects.UserResendVerification.Call(e.As(tok), e.NC, subjects.Empty{}); err != nil {
		t.Fatal(err)
	}
	ev := lastLink(e, subjects.EvtUserVerificationRequested, ada.ID)
	if ev.Email != "ada@example.com" {
		t.Fatalf("resent to %q", ev.Email)
	}
	// The new link replaces the old one.
	_, err = subjects.UserVerifyEmail.Call(e.Ctx, e.NC, subjects.VerifyEmailRequest{Token: first})
	expect.Error(t, err, 400, "invalid_token", "token")
	if _, err := subjects.UserVerifyEmail.Call(e.Ctx, e.NC, subjects.VerifyEmailRequest{Token: tokenOf(t, ev.Link)}); err != nil {
		t.Fatal(err)
	}
	backdate(e, "email_verifications", ada.ID)
	_, err = subjects.UserResendVerification.Call(e.As(tok), e.NC, subjects.Empty{})
	expect.Error(t, err, 409, "already_verified", "")

	// At most five links an hour, whatever the gaps.
	bob := e.Register("bob@example.com", alicePassword, "Bob")
	bobTok := e.Login("bob@example.com", alicePassword).AccessToken
	for i := range 4 {
		backdate(e, "email_verifications", bob.ID)
		if _, err := subjects.UserResendVerification.Call(e.As(bobTok), e.NC, subjects.Empty{}); err != nil {
			t.Fatalf("resend %d: %v", i+1, err)
		}
	}
	backdate(e, "email_verifications", bob.ID)
	_, err = subjects.UserResendVerification.Call(e.As(bobTok), e.NC, subjects.Empty{})
	expect.Error(t, err, 429, "rate_limited", "")
	if n := count(e, `select count(*) from users.email_verifications where user_id = $1 and used_at is null`, bob.ID); n != 1 {
		t.Fatalf("%d live verification links, want 1", n)
	}
}

func TestPasswordReset(t *testing.T) {
	e := identitytest.NewEnv(t)
	e.Start(adminEmail, adminPassword)
	ada := e.Register("ada@example.com", alicePassword, "Ada")
	pair := e.Login("ada@example.com", alicePassword)

	// An unknown email is answered alike and sends nothing; a malformed one is a 400. The work
	// is done after the answer, so "nothing" is checked once a later request's link is out.
	bob := e.Register("bob@example.com", alicePassword, "Bob")
	if _, err := subjects.UserForgotPassword.Call(e.Ctx, e.NC, subjects.ForgotPasswordRequest{Email: "nobody@example.com"}); err != nil {
		t.Fatal(err)
	}
	_, err := subjects.UserForgotPassword.Call(e.Ctx, e.NC, subjects.ForgotPasswordRequest{Email: "not an email"})
	expect.Error(t, err, 400, "validation", "email")
	if _, err := subjects.UserForgotPassword.Call(e.Ctx, e.NC, subjects.ForgotPasswordRequest{Email: " ADA@example.com "}); err != nil {
		t.Fatal(err)
	}
	ev := lastLink(e, subjects.EvtUserPasswordResetRequested, ada.ID)
	if ev.Email != "ada@example.com" || time.Until(ev.ExpiresAt) > 31*time.Minute || time.Until(ev.ExpiresAt) < 29*time.Minute {
		t.Fatalf("reset link: %+v", ev)
	}
	tok := tokenOf(t, ev.Link)
	// A second request within the minute is answered alike and sends nothing.
	if _, err := subjects.UserForgotPassword.Call(e.Ctx, e.NC, subjects.ForgotPasswordRequest{Email: "ada@example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := subjects.UserForgotPassword.Call(e.Ctx, e.NC, subjects.ForgotPasswordRequest{Email: "bob@example.com"}); err != nil {
		t.Fatal(err)
	}
	lastLink(e, subjects.EvtUserPasswordResetRequested, bob.ID)
	if n := count(e, `select count(*) from users.password_resets where user_id = $1`, ada.ID); n != 1 {
		t.Fatalf("%d reset links within a minute, want 1", n)
	}
	if n := count(e, `select count(*) from users.outbox where subject like $1`, "souk.evt.user.password_reset_requested.%"); n != 2 {
		t.Fatalf("%d reset events, want ada's and bob's", n)
	}

	// A weak password is a 400 that spends nothing; a forged token changes nothing.
	_, err = subjects.UserResetPassword.Call(e.Ctx, e.NC, subjects.ResetPasswordRequest{Token: tok, Password: "password123"})
	expect.Error(t, err, 400, "validation", "password")
	_, err = subjects.UserResetPassword.Call(e.Ctx, e.NC, subjects.ResetPasswordRequest{Token: "forged", Password: "a brand new passphrase"})
	expect.Error(t, err, 400, "invalid_token", "token")
	_, err = subjects.UserResetPassword.Call(e.Ctx, e.NC, subjects.ResetPasswordRequest{Password: "a brand new passphrase"})
	expect.Error(t, err, 400, "", "token")

	if _, err := subjects.UserResetPassword.Call(e.Ctx, e.NC, subjects.ResetPasswordRequest{Token: tok, Password: "a brand new passphrase"}); err != nil {
		t.Fatal(err)
	}
	_, err = subjects.UserResetPassword.Call(e.Ctx, e.NC, subjects.ResetPasswordRequest{Token: tok, Password: "another new passphrase"})
	expect.Error(t, err, 400, "invalid_token", "token")
	e.Login("ada@example.com", "a brand new passphrase")
	_, err = subjects.AuthLogin.Call(e.Ctx, e.NC, subjects.LoginRequest{Email: "ada@example.com", Password: alicePassword})
	expect.Error(t, err, 401, "", "")
	// Every session of the account ends (revokeUser, in the reset's transaction).
	expectRevoked(e, ada.ID, pair.RefreshToken)
	if strings.Contains(e.Log.String(), "a brand new passphrase") {
		t.Fatal("the password is in the log")
	}
	expectPasswordChanged(e, ada.ID, subjects.PasswordChangedByReset)

	// An expired link changes nothing.
	backdate(e, "password_resets", ada.ID)
	if _, err := subjects.UserForgotPassword.Call(e.Ctx, e.NC, subjects.ForgotPasswordRequest{Email: "ada@example.com"}); err != nil {
		t.Fatal(err)
	}
	expired := tokenOf(t, lastLink(e, subjects.EvtUserPasswordResetRequested, ada.ID, ev.Link).Link)
	if _, err := e.DB.Exec(e.Ctx, `update users.password_resets set expires_at = now() - interval '1 second' where used_at is null`); err != nil {
		t.Fatal(err)
	}
	_, err = subjects.UserResetPassword.Call(e.Ctx, e.NC, subjects.ResetPasswordRequest{Token: expired, Password: "yet another passphrase"})
	expect.Error(t, err, 400, "invalid_token", "token")
	e.Login("ada@example.com", "a brand new passphrase")
}

// expectPasswordChanged waits for the user.password_changed event of userID with reason.
func expectPasswordChanged(e *identitytest.Env, userID, reason string) {
	e.T.Helper()
	expect.Within(e.T, 10*time.Second, func() error {
		stream, err := e.JS.Stream(e.Ctx, subjects.StreamUsers)
		if err != nil {
			return err
		}
		msg, err := stream.GetLastMsgForSubject(e.Ctx, subjects.EvtUserPasswordChanged.Subject(userID))
		if err != nil {
			return err
		}
		var ev subjects.UserPasswordChanged
		if err := json.Unmarshal(msg.Data, &ev); err != nil || ev.Reason != reason {
			return fmt.Errorf("password_changed %+v, %v", ev, err)
		}
		return nil
	})
}

// expectRevoked checks that every session of userID was revoked in the change's transaction:
// one user.revoked event, sessions included, is queued, and refresh, a refresh token of a
// session from before, is refused.
func expectRevoked(e *identitytest.Env, userID, refresh string) {
	e.T.Helper()
	if n := count(e, `select count(*) from users.outbox where subject = 'souk.evt.user.revoked.' || $1
		and convert_from(payload, 'UTF8')::jsonb->>'sessions' = 'true'`, userID); n != 1 {
		e.T.Fatalf("%d user.revoked events with sessions, want 1", n)
	}
	_, err := subjects.AuthRefresh.Call(e.Ctx, e.NC, subjects.RefreshRequest{RefreshToken: refresh})
	expect.Error(e.T, err, 401, "", "")
}

func TestChangePassword(t *testing.T) {
	e := identitytest.NewEnv(t)
	e.Start(adminEmail, adminPassword)
	ada := e.Register("ada@example.com", alicePassword, "Ada")
	pair := e.Login("ada@example.com", alicePassword)
	as := e.As(pair.AccessToken)

	_, err := subjects.UserChangePassword.Call(as, e.NC, subjects.ChangePasswordRequest{CurrentPassword: "not my password", NewPassword: "a brand new passphrase"})
	expect.Error(t, err, 400, "validation", "current_password")
	_, err = subjects.UserChangePassword.Call(as, e.NC, subjects.ChangePasswordRequest{CurrentPassword: alicePassword, NewPassword: "short"})
	expect.Error(t, err, 400, "validation", "new_password")
	_, err = subjects.UserChangePassword.Call(e.Ctx, e.NC, subjects.ChangePasswordRequest{CurrentPassword: alicePassword, NewPassword: "a brand new passphrase"})
	expect.Error(t, err, 401, "", "")
	e.Login("ada@example.com", alicePassword) // nothing changed

	if _, err := subjects.UserChangePassword.Call(as, e.NC, subjects.ChangePasswordRequest{CurrentPassword: alicePassword, NewPassword: "a brand new passphrase"}); err != nil {
		t.Fatal(err)
	}
	e.Login("ada@example.com", "a brand new passphrase")
	_, err = subjects.AuthLogin.Call(e.Ctx, e.NC, subjects.LoginRequest{Email: "ada@example.com", Password: alicePassword})
	expect.Error(t, err, 401, "", "")
	expectRevoked(e, ada.ID, pair.RefreshToken)
	expectPasswordChanged(e, ada.ID, subjects.PasswordChangedByUser)
}

func TestChangeEmail(t *testing.T) {
	e := identitytest.NewEnv(t)
	e.Start(adminEmail, adminPassword)
	ada := e.Register("ada@example.com", alicePassword, "Ada")
	e.Register("taken@example.com", alicePassword, "Taken")
	as := e.As(e.Login("ada@example.com", alicePassword).AccessToken)

	for _, c := range []struct {
		req         subjects.ChangeEmailRequest
		code        int
		slug, field string
	}{
		{subjects.ChangeEmailRequest{Email: "new@example.com", Password: "not my password"}, 400, "validation", "password"},
		{subjects.ChangeEmailRequest{Email: "new@example.com"}, 400, "validation", "password"},
		{subjects.ChangeEmailRequest{Email: "no email", Password: alicePassword}, 400, "validation", "email"},
		{subjects.ChangeEmailRequest{Email: "ADA@example.com", Password: alicePassword}, 400, "validation", "email"},
		{subjects.ChangeEmailRequest{Email: "taken@example.com", Password: alicePassword}, 409, "email_taken", "email"},
	} {
		_, err := subjects.UserChangeEmail.Call(as, e.NC, c.req)
		expect.Error(t, err, c.code, c.slug, c.field)
	}
	if _, err := subjects.UserChangeEmail.Call(as, e.NC, subjects.ChangeEmailRequest{Email: "New@Example.com", Password: alicePassword}); err != nil {
		t.Fatal(err)
	}
	ev := lastLink(e, subjects.EvtUserEmailChangeRequested, ada.ID)
	if ev.Email != "new@example.com" {
		t.Fatalf("change link sent to %q", ev.Email)
	}
	// Until the link is used, the account keeps its address.
	e.Login("ada@example.com", alicePassword)
	me, err := subjects.UserMe.Call(as, e.NC, subjects.Empty{})
	if err != nil || me.Email != "ada@example.com" {
		t.Fatalf("me before the link: %+v, %v", me, err)
	}
	// The registration's link, still unused, no longer verifies once the address changed.
	registration := verifyToken(e, ada.ID)

	if _, err := subjects.UserVerifyEmail.Call(e.Ctx, e.NC, subjects.VerifyEmailRequest{Token: tokenOf(t, ev.Link)}); err != nil {
		t.Fatal(err)
	}
	me, err = subjects.UserMe.Call(as, e.NC, subjects.Empty{})
	if err != nil || me.Email != "new@example.com" || !me.EmailVerified {
		t.Fatalf("me after the link: %+v, %v", me, err)
	}
	e.Login("new@example.com", alicePassword)
	_, err = subjects.AuthLogin.Call(e.Ctx, e.NC, subjects.LoginRequest{Email: "ada@example.com", Password: alicePassword})
	expect.Error(t, err, 401, "", "")
	_, err = subjects.UserVerifyEmail.Call(e.Ctx, e.NC, subjects.VerifyEmailRequest{Token: tokenOf(t, ev.Link)})
	expect.Error(t, err, 400, "invalid_token", "token")
	_, err = subjects.UserVerifyEmail.Call(e.Ctx, e.NC, subjects.VerifyEmailRequest{Token: registration})
	expect.Error(t, err, 400, "invalid_token", "token")

	// An address taken between the request and the link: 409, and nothing changes.
	backdate(e, "email_verifications", ada.ID)
	if _, err := subjects.UserChangeEmail.Call(as, e.NC, subjects.ChangeEmailRequest{Email: "late@example.com", Password: alicePassword}); err != nil {
		t.Fatal(err)
	}
	late := lastLink(e, subjects.EvtUserEmailChangeRequested, ada.ID, ev.Link)
	e.Register("late@example.com", alicePassword, "Late")
	_, err = subjects.UserVerifyEmail.Call(e.Ctx, e.NC, subjects.VerifyEmailRequest{Token: tokenOf(t, late.Link)})
	expect.Error(t, err, 409, "email_taken", "email")
	if me, err := subjects.UserMe.Call(as, e.NC, subjects.Empty{}); err != nil || me.Email != "new@example.com" {
		t.Fatalf("me after a refused link: %+v, %v", me, err)
	}
}
