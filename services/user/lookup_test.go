package user_test

import (
	"testing"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/identitytest"
	"github.com/souk/souk/subjects"
)

// Staff find a customer's account by email, however it is spelt; an email of no account
// is 404, one that is no email 400 naming it; a customer may not probe for accounts (403).
func TestStaffFindAnAccountByEmail(t *testing.T) {
	e := identitytest.NewEnv(t)
	e.Start(adminEmail, adminPassword)
	ada := e.Register("ada@example.com", alicePassword, "Ada")
	staff := e.As(e.Login(adminEmail, adminPassword).AccessToken)

	ref, err := subjects.UserByEmail.Call(staff, e.NC, subjects.UserEmailRequest{Email: " Ada@Example.COM "})
	if err != nil || ref.ID != ada.ID {
		t.Fatalf("found %+v (%v), want %s", ref, err, ada.ID)
	}
	_, err = subjects.UserByEmail.Call(staff, e.NC, subjects.UserEmailRequest{Email: "nobody@example.com"})
	expect.Error(t, err, 404, "", "")
	_, err = subjects.UserByEmail.Call(staff, e.NC, subjects.UserEmailRequest{Email: "ada"})
	expect.Error(t, err, 400, "validation", "email")

	customer := e.As(e.Login("ada@example.com", alicePassword).AccessToken)
	_, err = subjects.UserByEmail.Call(customer, e.NC, subjects.UserEmailRequest{Email: "ada@example.com"})
	expect.Error(t, err, 403, "", "")
}
