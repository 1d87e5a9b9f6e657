package auth_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/identitytest"
	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/subjects"
)

// stopped waits until the user service, which checks tokens itself, refuses tok with a 401.
func stopped(t *testing.T, e *identitytest.Env, tok string) {
	t.Helper()
	expect.Within(t, 5*time.Second, func() error {
		_, err := subjects.UserMe.Call(e.As(tok), e.NC, subjects.Empty{})
		if errors.Is(err, subjects.ErrUnauthorized) {
			return nil
		}
		return errors.New("the token still works")
	})
}

// works fails t unless the user service accepts tok.
func works(t *testing.T, e *identitytest.Env, tok string) subjects.User {
	t.Helper()
	u, err := subjects.UserMe.Call(e.As(tok), e.NC, subjects.Empty{})
	if err != nil {
		t.Fatalf("token refused: %v", err)
	}
	return u
}

// Revocation at the services: a logout ends that session's access token and no other; a
// role change stops the tokens with the old roles, and the refresh right after gets the new
// roles in a token that works at once (dated by the revocation); a removed account's tokens
// stop, its session ends, it cannot log in, and its email is free again.
func TestRevocation(t *testing.T) {
	e := identitytest.NewEnv(t)
	e.Start(adminEmail, adminPassword)
	alice := e.Register("alice@example.com", alicePassword, "Alice")
	admin := e.Login(adminEmail, adminPassword)
	one, two := e.Login("alice@example.com", alicePassword), e.Login("alice@example.com", alicePassword)
	works(t, e, one.AccessToken)

	t.Run("logout", func(t *testing.T) {
		if _, err := subjects.AuthLogout.Call(e.As(one.AccessToken), e.NC, subjects.RefreshRequest{RefreshToken: one.RefreshToken}); err != nil {
			t.Fatal(err)
		}
		stopped(t, e, one.AccessToken)
		works(t, e, two.AccessToken)
	})

	t.Run("roles", func(t *testing.T) {
		_, err := subjects.UserSetRoles.Call(e.As(admin.AccessToken), e.NC,
			subjects.SetRolesRequest{ID: alice.ID, Roles: []string{subjects.RoleCustomer, subjects.RoleStaff}})
		if err != nil {
			t.Fatal(err)
		}
		stopped(t, e, two.AccessToken)
		pair, err := subjects.AuthRefresh.Call(e.Ctx, e.NC, subjects.RefreshRequest{RefreshToken: two.RefreshToken})
		if err != nil {
			t.Fatal(err)
		}
		if u := works(t, e, pair.AccessToken); !slices.Contains(u.Roles, subjects.RoleStaff) {
			t.Fatalf("roles %v", u.Roles)
		}
		two = pair
	})

	t.Run("removed", func(t *testing.T) {
		_, err := subjects.UserRemove.Call(e.As(two.AccessToken), e.NC, subjects.UserIDRequest{ID: alice.ID})
		expect.Error(t, err, 403, "forbidden", "")
		_, err = subjects.UserRemove.Call(e.As(admin.AccessToken), e.NC, subjects.UserIDRequest{ID: alice.ID})
		if err != nil {
			t.Fatal(err)
		}
		stopped(t, e, two.AccessToken)
		_, err = subjects.AuthRefresh.Call(e.Ctx, e.NC, subjects.RefreshRequest{RefreshToken: two.RefreshToken})
		expect.Error(t, err, 401, "invalid_refresh_token", "")
		_, err = subjects.AuthLogin.Call(e.Ctx, e.NC, subjects.LoginRequest{Email: "alice@example.com", Password: alicePassword})
		expect.Error(t, err, 401, "invalid_credentials", "")
		_, err = subjects.UserRemove.Call(e.As(admin.AccessToken), e.NC, subjects.UserIDRequest{ID: alice.ID})
		expect.Error(t, err, 404, "", "")
		page, err := subjects.UserList.Call(e.As(admin.AccessToken), e.NC, subjects.ListRequest{Limit: 100})
		if err != nil || slices.ContainsFunc(page.Items, func(u subjects.User) bool { return u.ID == alice.ID }) {
			t.Fatalf("list after removal: %v, %v", page.Items, err)
		}
		e.Register("alice@example.com", alicePassword, "Alice again") // the address is free
	})

	t.Run("own account", func(t *testing.T) {
		c, err := authn.NewVerifier(authn.NATSKeySource(e.NC), time.Second).Verify(context.Background(), admin.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		_, err = subjects.UserRemove.Call(e.As(admin.AccessToken), e.NC, subjects.UserIDRequest{ID: c.Subject})
		expect.Error(t, err, 400, "validation", "id")
	})
}
