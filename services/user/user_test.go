package user_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/identitytest"
	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/services/user"
	"github.com/souk/souk/subjects"
)

const (
	adminEmail    = "root@souk.example"
	adminPassword = "an admin's long passphrase"
	alicePassword = "correct horse battery"
)

// verifyToken returns the token of the verification link that the user.registered event of
// userID carries on the USERS stream (the outbox relay publishes it shortly after the commit).
func verifyToken(e *identitytest.Env, userID string) string {
	e.T.Helper()
	var ev subjects.UserRegistered
	expect.Within(e.T, 10*time.Second, func() error {
		stream, err := e.JS.Stream(e.Ctx, subjects.StreamUsers)
		if err != nil {
			return err
		}
		msg, err := stream.GetLastMsgForSubject(e.Ctx, subjects.EvtUserRegistered.Subject(userID))
		if err != nil {
			return err
		}
		return json.Unmarshal(msg.Data, &ev)
	})
	if ev.UserID != userID || ev.VerifyExpiresAt == nil || ev.Email == "" {
		e.T.Fatalf("user.registered: %+v", ev)
	}
	_, tok, _ := strings.Cut(ev.VerifyLink, "token=")
	return tok
}

func TestUserService(t *testing.T) {
	e := identitytest.NewEnv(t)
	e.Start(adminEmail, adminPassword)
	ctx, nc := e.Ctx, e.NC

	alice := e.Register(" Alice@Example.com ", alicePassword, "Alice")
	if alice.Email != "alice@example.com" || alice.Locale != "en" || alice.EmailVerified ||
		len(alice.Roles) != 1 || alice.Roles[0] != subjects.RoleCustomer || alice.Addresses == nil {
		t.Fatalf("registered: %+v", alice)
	}
	if strings.Contains(e.Log.String(), alicePassword) {
		t.Fatal("the password is in the log")
	}
	if tok := verifyToken(e, alice.ID); strings.Contains(e.Log.String(), tok) {
		t.Fatal("the verification token is in the log")
	}

	t.Run("register refuses bad input and a taken email", func(t *testing.T) {
		_, err := subjects.UserRegister.Call(ctx, nc, subjects.RegisterRequest{Email: "alice@example.com", Password: "another long passphrase", Name: "Eve"})
		expect.Error(t, err, 409, "email_taken", "")
		_, err = subjects.UserRegister.Call(ctx, nc, subjects.RegisterRequest{Email: "bob@example.com", Password: "password123", Name: "Bob"})
		expect.Error(t, err, 400, "validation", "password")
		_, err = subjects.UserRegister.Call(ctx, nc, subjects.RegisterRequest{Email: "bob@example.com", Password: "bob@example.com!!", Name: "Bob"})
		expect.Error(t, err, 400, "validation", "password")
		_, err = subjects.UserRegister.Call(ctx, nc, subjects.RegisterRequest{Email: "not an email", Password: alicePassword, Name: "Bob"})
		expect.Error(t, err, 400, "validation", "email")
		_, err = subjects.UserRegister.Call(ctx, nc, subjects.RegisterRequest{Email: "bob@example.com", Password: alicePassword, Name: "", Locale: "??"})
		expect.Error(t, err, 400, "validation", "name")
		expect.Error(t, err, 400, "validation", "locale")
		_, err = subjects.UserRegister.Call(ctx, nc, subjects.RegisterRequest{Email: "bob@example.com", Password: strings.Repeat("x", 73), Name: "Bob"})
		expect.Error(t, err, 400, "validation", "password")
	})

	t.Run("verify email is single-use", func(t *testing.T) {
		tok := verifyToken(e, alice.ID)
		if _, err := subjects.UserVerifyEmail.Call(ctx, nc, subjects.VerifyEmailRequest{Token: tok}); err != nil {
			t.Fatal(err)
		}
		_, err := subjects.UserVerifyEmail.Call(ctx, nc, subjects.VerifyEmailRequest{Token: tok})
		expect.Error(t, err, 400, "invalid_token", "token")
		_, err = subjects.UserVerifyEmail.Call(ctx, nc, subjects.VerifyEmailRequest{Token: "forged"})
		expect.Error(t, err, 400, "invalid_token", "token")
		_, err = subjects.UserVerifyEmail.Call(ctx, nc, subjects.VerifyEmailRequest{})
		expect.Error(t, err, 400, "", "token")
	})

	aliceTok := e.Login("alice@example.com", alicePassword).AccessToken

	t.Run("me and update me", func(t *testing.T) {
		me, err := subjects.UserMe.Call(e.As(aliceTok), nc, subjects.Empty{})
		if err != nil || me.ID != alice.ID || !me.EmailVerified {
			t.Fatalf("me: %+v, %v", me, err)
		}
		_, err = subjects.UserMe.Call(ctx, nc, subjects.Empty{})
		expect.Error(t, err, 401, "", "")
		_, err = subjects.UserMe.Call(e.As("garbage"), nc, subjects.Empty{})
		expect.Error(t, err, 401, "", "")

		name, locale := "Alice A.", "de-AT"
		addrs := []subjects.Address{{Name: "Alice", Line1: "Ring 1", City: "Wien", PostalCode: "1010", Country: "AT"}}
		me, err = subjects.UserUpdateMe.Call(e.As(aliceTok), nc, subjects.UpdateMeRequest{Name: &name, Locale: &locale, Addresses: &addrs})
		if err != nil || me.Name != name || me.Locale != locale || len(me.Addresses) != 1 || me.Addresses[0].Country != "AT" {
			t.Fatalf("update: %+v, %v", me, err)
		}
		expect.Within(t, 10*time.Second, func() error {
			stream, err := e.JS.Stream(e.Ctx, subjects.StreamUsers)
			if err != nil {
				return err
			}
			msg, err := stream.GetLastMsgForSubject(e.Ctx, subjects.EvtUserUpdated.Subject(alice.ID))
			if err != nil {
				return err
			}
			var ev subjects.UserUpdated
			if err := json.Unmarshal(msg.Data, &ev); err != nil || ev.Locale != locale || ev.Name != name || ev.Email != alice.Email {
				return fmt.Errorf("user.updated %+v, %v", ev, err)
			}
			return nil
		})
		bad := []subjects.Address{addrs[0], {Name: "x", Line1: "y", City: "z", PostalCode: "1", Country: "at"}}
		_, err = subjects.UserUpdateMe.Call(e.As(aliceTok), nc, subjects.UpdateMeRequest{Addresses: &bad})
		expect.Error(t, err, 400, "validation", "addresses[1].country")
		// One text rule for every stored string: a NUL (PostgreSQL refuses it: this was a
		// 500), line breaks, an escape sequence or a bidirectional override in an address
		// field is a 400 naming the field.
		for field, text := range map[string]string{"line1": "Ring\x001", "line2": "Ring 1\r\nX-Injected: yes",
			"city": "Wien\x1b[31m", "name": "Alice \u202Eecila"} {
			a := addrs[0]
			*map[string]*string{"line1": &a.Line1, "line2": &a.Line2, "city": &a.City, "name": &a.Name}[field] = text
			bad := []subjects.Address{a}
			_, err = subjects.UserUpdateMe.Call(e.As(aliceTok), nc, subjects.UpdateMeRequest{Addresses: &bad})
			expect.Error(t, err, 400, "validation", "addresses[0]."+field)
		}
		empty := ""
		_, err = subjects.UserUpdateMe.Call(e.As(aliceTok), nc, subjects.UpdateMeRequest{Name: &empty})
		expect.Error(t, err, 400, "validation", "name")
		me, err = subjects.UserMe.Call(e.As(aliceTok), nc, subjects.Empty{})
		if err != nil || me.Name != name || len(me.Addresses) != 1 {
			t.Fatalf("a refused update changed the profile: %+v, %v", me, err)
		}
	})

	t.Run("internal endpoints refuse users and anonymous callers", func(t *testing.T) {
		_, err := subjects.UserVerifyCredentials.Call(ctx, nc, subjects.CredentialsRequest{Email: "alice@example.com", Password: alicePassword})
		expect.Error(t, err, 401, "", "")
		_, err = subjects.UserVerifyCredentials.Call(e.As(aliceTok), nc, subjects.CredentialsRequest{Email: "alice@example.com", Password: alicePassword})
		expect.Error(t, err, 403, "", "")
		_, err = subjects.UserPrincipal.Call(e.As(aliceTok), nc, subjects.UserIDRequest{ID: alice.ID})
		expect.Error(t, err, 403, "", "")
	})

	t.Run("admin endpoints refuse a customer", func(t *testing.T) {
		_, err := subjects.UserList.Call(e.As(aliceTok), nc, subjects.ListRequest{})
		expect.Error(t, err, 403, "", "")
		_, err = subjects.UserSetRoles.Call(e.As(aliceTok), nc, subjects.SetRolesRequest{ID: alice.ID, Roles: []string{subjects.RoleAdmin}})
		expect.Error(t, err, 403, "", "")
	})

	adminTok := e.Login(adminEmail, adminPassword).AccessToken
	bob := e.Register("bob@example.com", "Tr0ub4dor and friends", "Bob")

	t.Run("list pages through every user", func(t *testing.T) {
		var seen []string
		cursor := ""
		for range 10 {
			page, err := subjects.UserList.Call(e.As(adminTok), nc, subjects.ListRequest{Limit: 2, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range page.Items {
				seen = append(seen, u.Email)
			}
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
		want := []string{adminEmail, "alice@example.com", "bob@example.com"}
		if strings.Join(seen, ",") != strings.Join(want, ",") {
			t.Fatalf("listed %v, want %v", seen, want)
		}
		_, err := subjects.UserList.Call(e.As(adminTok), nc, subjects.ListRequest{Cursor: "forged!"})
		expect.Error(t, err, 400, "validation", "cursor")
		_, err = subjects.UserList.Call(e.As(adminTok), nc, subjects.ListRequest{Cursor: "YWJj"})
		expect.Error(t, err, 400, "validation", "cursor")
		_, err = subjects.UserList.Call(e.As(adminTok), nc, subjects.ListRequest{Limit: 101})
		expect.Error(t, err, 400, "validation", "limit")
		_, err = subjects.UserList.Call(e.As(adminTok), nc, subjects.ListRequest{Limit: -1})
		expect.Error(t, err, 400, "validation", "limit")
	})

	t.Run("set roles", func(t *testing.T) {
		u, err := subjects.UserSetRoles.Call(e.As(adminTok), nc, subjects.SetRolesRequest{ID: bob.ID, Roles: []string{"customer", "staff", "staff"}})
		if err != nil || strings.Join(u.Roles, ",") != "customer,staff" {
			t.Fatalf("set roles: %+v, %v", u, err)
		}
		for _, roles := range [][]string{nil, {"service"}, {"customer", "root"}} {
			_, err = subjects.UserSetRoles.Call(e.As(adminTok), nc, subjects.SetRolesRequest{ID: bob.ID, Roles: roles})
			expect.Error(t, err, 400, "validation", "roles")
		}
		_, err = subjects.UserSetRoles.Call(e.As(adminTok), nc, subjects.SetRolesRequest{ID: "0190a0a0-0000-7000-8000-000000000000", Roles: []string{"customer"}})
		expect.Error(t, err, 404, "", "")
		_, err = subjects.UserSetRoles.Call(e.As(adminTok), nc, subjects.SetRolesRequest{ID: "not-a-uuid", Roles: []string{"customer"}})
		expect.Error(t, err, 404, "", "")
	})

	t.Run("malformed body is a 400", func(t *testing.T) {
		_, err := subjects.Request(ctx, nc, subjects.UserRegister.Subject, []byte(`{"email": 5`))
		expect.Error(t, err, 400, "", "")
	})
}

func TestAdminEnsuredAtStartUp(t *testing.T) {
	e := identitytest.NewEnv(t)
	e.RunAuth(identitytest.AuthConfig())
	cfg := identitytest.UserConfig(adminEmail, adminPassword)
	// Two instances at once, then a restart with another password: one admin, first password.
	stopA, stopB := e.RunUser(cfg), e.RunUser(cfg)
	expect.Within(t, time.Minute, func() error {
		n := 0
		for _, l := range e.Log.Lines() {
			if l["service"] == "user" && l["message"] == "serving" {
				n++
			}
		}
		if n < 2 {
			return errors.New("both instances not serving yet")
		}
		return nil
	})
	if err := errors.Join(stopA(), stopB()); err != nil {
		t.Fatal(err)
	}
	// Demote the admin; the next start gives the role back but keeps the password.
	if _, err := e.DB.Exec(e.Ctx, `update users.users set roles = '{customer}' where email = $1`, adminEmail); err != nil {
		t.Fatal(err)
	}
	e.RunUser(identitytest.UserConfig(adminEmail, "a different long passphrase"))
	e.WaitReady()
	var n int
	if err := e.DB.QueryRow(e.Ctx, `select count(*) from users.users where email = $1 and 'admin' = any(roles) and email_verified_at is not null`, adminEmail).Scan(&n); err != nil || n != 1 {
		t.Fatalf("admins: %d, %v", n, err)
	}
	tok := e.Login(adminEmail, adminPassword).AccessToken
	c, err := authn.NewVerifier(authn.NATSKeySource(e.NC), 0).Verify(e.Ctx, tok)
	if err != nil || !c.Can(subjects.PermUsersAdmin) {
		t.Fatalf("admin claims %+v, %v", c, err)
	}

	weak, err := user.Service(identitytest.UserConfig("other@souk.example", "password123"), e.Deps())
	if err != nil {
		t.Fatal(err)
	}
	if err := kit.Run(e.Ctx, e.Deps(), weak); err == nil || strings.Contains(err.Error(), "password123") || !strings.Contains(err.Error(), "SOUK_ADMIN_PASSWORD") {
		t.Fatalf("weak admin password: %v", err)
	}
	if _, err := user.Service(user.Config{BcryptCost: user.MinBcryptCost - 1}, kit.Deps{}); err == nil {
		t.Fatalf("bcrypt cost %d accepted", user.MinBcryptCost-1)
	}
}

// TestDeclaredWithoutIO: souk migrate and the tests declare the service without running it,
// so declaring touches neither the database nor NATS (the Deps here have neither).
func TestDeclaredWithoutIO(t *testing.T) {
	svc, err := user.Service(user.Config{AdminEmail: adminEmail, AdminPassword: adminPassword}, kit.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Check(); err != nil || svc.Schema != user.Schema || svc.Start == nil || len(svc.Publishes) < 6 {
		t.Fatalf("declaration %s: %v", svc.Name, err)
	}
}
