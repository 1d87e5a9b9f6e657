package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/souk/souk/internal/expect"
)

// link finds the token of the newest link that an event of kind (souk.evt.user.<kind>) for
// userID carries, other than those in seen (linkToken).
func (s *shop) link(kind, userID string, seen ...string) string {
	s.t.Helper()
	return s.linkToken("souk.evt.user."+kind+"."+userID, "link", seen...)
}

// linkToken finds the token of the link in field of the newest event on subject, other than
// those in seen, in the user service's outbox (the relay keeps sent rows for minutes). It is
// in no log: the notification service mails it, and its log channel redacts it.
func (s *shop) linkToken(subject, field string, seen ...string) string {
	s.t.Helper()
	var tok string
	expect.Within(s.t, 10*time.Second, func() error {
		conn, err := pgx.Connect(context.Background(), s.env["DATABASE_URL"])
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		var link string
		if err := conn.QueryRow(context.Background(), `select convert_from(payload, 'UTF8')::jsonb->>$2 from users.outbox
			where subject = $1 order by id desc limit 1`, subject, field).Scan(&link); err != nil {
			return fmt.Errorf("no %s event: %w", subject, err)
		}
		u, err := url.Parse(link)
		if err != nil || u.Query().Get("token") == "" {
			return fmt.Errorf("no token in the link of %s", subject)
		}
		tok = u.Query().Get("token")
		for _, old := range seen {
			if tok == old {
				return fmt.Errorf("no new link in %s yet", subject)
			}
		}
		if strings.Contains(s.logs.String(), tok) {
			s.t.Fatal("a link's token is in the log")
		}
		return nil
	})
	return tok
}

// sql runs one statement on the shop's database.
func (s *shop) sql(stmt string, args ...any) {
	s.t.Helper()
	conn, err := pgx.Connect(context.Background(), s.env["DATABASE_URL"])
	if err != nil {
		s.t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), stmt, args...); err != nil {
		s.t.Fatal(err)
	}
}

// register registers email with password and returns the user's id.
func (s *shop) register(email, password, name string) string {
	s.t.Helper()
	r := s.do("POST", "/v1/auth/register", map[string]string{"email": email, "password": password, "name": name}, "")
	s.expect(r, 201, "register "+email)
	return r.json(s.t)["id"].(string)
}

// openLink GETs the verification link of token as a browser would and checks the page. A
// browser is no API client: the page's answers are not checked against /openapi.json (whose
// error answers are problem+json), only here.
func (s *shop) openLink(token string, status int, says string) {
	s.t.Helper()
	res, err := s.http.Get(s.base + "/v1/auth/verify-email?token=" + url.QueryEscape(token))
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	r := reply{status: res.StatusCode, header: res.Header, body: body}
	s.expect(r, status, "verification link")
	if !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || !strings.Contains(string(r.body), says) {
		s.t.Fatalf("verification link page: %q %s", r.header.Get("Content-Type"), r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Referrer-Policy") != "no-referrer" || strings.Contains(string(r.body), token) {
		s.t.Fatalf("verification link page headers %v, or the token echoed: %s", r.header, r.body)
	}
}

// The newcomer's path (issue 14 item 8): the verification email's link works once (it was a
// 405), a new link can be asked for, a forgotten password is reset by a single-use link that
// ends every session, the password and the email can be changed.
func TestEndToEndAccountFlows(t *testing.T) {
	s := startShop(t, nil)
	const pw = "correct horse battery"

	ada := s.register("ada@example.com", pw, "Ada")
	vt := s.verifyToken(ada)
	s.openLink(vt, 200, "Email address confirmed")
	s.openLink(vt, 400, "This link does not work")
	access, refresh := s.login("ada@example.com", pw)
	if s.do("GET", "/v1/users/me", nil, access).json(t)["email_verified"] != true {
		t.Fatal("the link did not verify the address")
	}
	s.expectProblem(s.do("POST", "/v1/auth/verify-email/resend", nil, access), 409, "", "resend when verified")

	// A new link: not within a minute of the last one, then it replaces it.
	bob := s.register("bob@example.com", pw, "Bob")
	first := s.verifyToken(bob)
	bobAccess, _ := s.login("bob@example.com", pw)
	r := s.do("POST", "/v1/auth/verify-email/resend", nil, bobAccess)
	s.expectProblem(r, 429, "", "resend at once")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	s.sql(`update users.email_verifications set created_at = created_at - interval '2 minutes'`)
	s.expect(s.do("POST", "/v1/auth/verify-email/resend", nil, bobAccess), 202, "resend")
	s.openLink(first, 400, "This link does not work")
	s.openLink(s.link("verification_requested", bob), 200, "Email address confirmed")

	// A forgotten password: an unknown email is answered alike and sends nothing.
	unknown := s.do("POST", "/v1/auth/password/forgot", map[string]string{"email": "nobody@example.com"}, "")
	known := s.do("POST", "/v1/auth/password/forgot", map[string]string{"email": "Ada@Example.com"}, "")
	s.expect(unknown, 202, "forgot, unknown email")
	s.expect(known, 202, "forgot")
	if string(unknown.body) != string(known.body) {
		t.Fatalf("forgot answers differ: %s vs %s", unknown.body, known.body)
	}
	s.expectProblem(s.do("POST", "/v1/auth/password/forgot", map[string]string{"email": "not an email"}, ""), 400, "email", "forgot, malformed")
	reset := s.link("password_reset_requested", ada)
	s.expectProblem(s.do("POST", "/v1/auth/password/reset", map[string]string{"token": reset, "password": "short"}, ""), 400, "password", "weak")
	s.expect(s.do("POST", "/v1/auth/password/reset", map[string]string{"token": reset, "password": "a brand new passphrase"}, ""), 204, "reset")
	s.expectProblem(s.do("POST", "/v1/auth/password/reset", map[string]string{"token": reset, "password": "yet another passphrase"}, ""), 400, "token", "reset twice")
	// Every session and access token of the account ends: the refresh token at once, the
	// access token within a second (every verifier watches the revocations).
	s.expectProblem(s.do("POST", "/v1/auth/refresh", map[string]string{"refresh_token": refresh}, ""), 401, "", "refresh after reset")
	expect.Within(t, 5*time.Second, func() error {
		if r := s.do("GET", "/v1/users/me", nil, access); r.status != 401 {
			return fmt.Errorf("the access token from before the reset still answers %d", r.status)
		}
		return nil
	})
	s.expectProblem(s.do("POST", "/v1/auth/login", map[string]string{"email": "ada@example.com", "password": pw}, ""), 401, "", "old password")

	// A password change, given the current one.
	access, _ = s.login("ada@example.com", "a brand new passphrase")
	s.expectProblem(s.do("POST", "/v1/users/me/password", map[string]string{"current_password": pw, "new_password": "the third passphrase"}, access),
		400, "current_password", "wrong current password")
	s.expect(s.do("POST", "/v1/users/me/password", map[string]string{"current_password": "a brand new passphrase", "new_password": "the third passphrase"}, access),
		204, "change password")
	access, _ = s.login("ada@example.com", "the third passphrase")

	// A change of email: the account keeps its address until the new one confirms it.
	s.expectProblem(s.do("POST", "/v1/users/me/email", map[string]string{"email": "bob@example.com", "password": "the third passphrase"}, access),
		409, "email", "taken address")
	s.expect(s.do("POST", "/v1/users/me/email", map[string]string{"email": "ada@example.org", "password": "the third passphrase"}, access),
		202, "change email")
	s.login("ada@example.com", "the third passphrase")
	s.openLink(s.link("email_change_requested", ada), 200, "Email address confirmed")
	access, _ = s.login("ada@example.org", "the third passphrase")
	if me := s.do("GET", "/v1/users/me", nil, access).json(t); me["email"] != "ada@example.org" || me["email_verified"] != true {
		t.Fatalf("me after the change: %v", me)
	}
}
