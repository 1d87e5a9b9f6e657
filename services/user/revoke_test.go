package user_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/identitytest"
	"github.com/souk/souk/services/user"
	"github.com/souk/souk/subjects"
)

// A session revocation (revokeUser, what a password reset or an account removal does): the
// refresh session started before it ends at its next refresh and its access token stops at
// the services; a login after it starts a session that refreshes and works at once.
func TestRevokeSessions(t *testing.T) {
	e := identitytest.NewEnv(t)
	e.Start(adminEmail, adminPassword)
	bob := e.Register("bob@example.com", alicePassword, "Bob")
	old := e.Login("bob@example.com", alicePassword)
	if err := user.NewStore(e.DB).RevokeSessions(e.Ctx, uuid.MustParse(bob.ID), subjects.RevokedPassword); err != nil {
		t.Fatal(err)
	}
	expect.Within(t, 5*time.Second, func() error {
		if _, err := subjects.UserMe.Call(e.As(old.AccessToken), e.NC, subjects.Empty{}); !errors.Is(err, subjects.ErrUnauthorized) {
			return errors.New("the old access token still works")
		}
		return nil
	})
	_, err := subjects.AuthRefresh.Call(e.Ctx, e.NC, subjects.RefreshRequest{RefreshToken: old.RefreshToken})
	expect.Error(t, err, 401, "invalid_refresh_token", "")

	fresh := e.Login("bob@example.com", alicePassword)
	if _, err := subjects.UserMe.Call(e.As(fresh.AccessToken), e.NC, subjects.Empty{}); err != nil {
		t.Fatalf("a token issued after the revocation: %v", err)
	}
	pair, err := subjects.AuthRefresh.Call(e.Ctx, e.NC, subjects.RefreshRequest{RefreshToken: fresh.RefreshToken})
	if err != nil {
		t.Fatalf("a session started after the revocation: %v", err)
	}
	if _, err := subjects.UserMe.Call(e.As(pair.AccessToken), e.NC, subjects.Empty{}); err != nil {
		t.Fatal(err)
	}
	if err := user.NewStore(e.DB).RevokeSessions(e.Ctx, uuid.New(), subjects.RevokedPassword); !errors.Is(err, user.ErrNotFound) {
		t.Fatalf("unknown account: %v", err)
	}
}
