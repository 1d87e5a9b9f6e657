package gateway_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/micro"

	"github.com/souk/souk/gateway"
	"github.com/souk/souk/subjects"
)

// serveVerify answers the user service's verify endpoint: the token "good-TOK1" verifies once, a
// "taken-TOK2" one is 409, any other is 400, as the user service answers.
func serveVerify(t *testing.T, h *harness) {
	spent := false
	serve(t, h.nc, "user", subjects.UserVerifyEmail.Subject, func(req micro.Request) {
		var r subjects.VerifyEmailRequest
		_ = json.Unmarshal(req.Data(), &r)
		switch {
		case r.Token == "good-TOK1" && !spent:
			spent = true
			_ = req.Respond([]byte(`{}`))
		case r.Token == "taken-TOK2":
			replyError(req, &subjects.Error{Code: 409, Slug: "email_taken", Message: "taken-TOK2"})
		default:
			replyError(req, &subjects.Error{Code: 400, Slug: "invalid_token", Message: "the token is unknown, used or expired"})
		}
	})
}

// The verification email's link is a GET: a page, never cached, no Referer, the token not
// echoed; a link used twice says so with a 400 page (it was a 405 before).
func TestVerifyLinkAnswersAPage(t *testing.T) {
	h := newHarness(t, gateway.Config{})
	serveVerify(t, h)
	for _, c := range []struct {
		token, want string
		status      int
	}{{"good-TOK1", "Email address confirmed", 200}, {"good-TOK1", "This link does not work", 400}, {"taken-TOK2", "This address is taken", 409}, {"", "This link does not work", 400}} {
		r := h.do("GET", "/v1/auth/verify-email?token="+c.token, nil)
		if r.status != c.status || !strings.Contains(string(r.body), c.want) || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
			t.Fatalf("token %q: %d %q %s", c.token, r.status, r.header.Get("Content-Type"), r.body)
		}
		if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Referrer-Policy") != "no-referrer" {
			t.Fatalf("token %q: headers %v", c.token, r.header)
		}
		if c.token != "" && strings.Contains(string(r.body), c.token) {
			t.Fatalf("the page echoes the token: %s", r.body)
		}
	}
}

// With the shop's own page configured, the link redirects there with the outcome.
func TestVerifyLinkRedirectsToTheShopsPage(t *testing.T) {
	h := newHarness(t, gateway.Config{VerifyRedirectURL: "https://shop.example/account/verified?from=mail"})
	serveVerify(t, h)
	for _, c := range []struct{ token, status string }{{"good-TOK1", "verified"}, {"good-TOK1", "invalid"}, {"taken-TOK2", "invalid"}} {
		r := h.do("GET", "/v1/auth/verify-email?token="+c.token, nil)
		want := "https://shop.example/account/verified?from=mail&status=" + c.status
		if r.status != 303 || r.header.Get("Location") != want || r.header.Get("Referrer-Policy") != "no-referrer" || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("token %q: %d %v", c.token, r.status, r.header)
		}
	}
	if _, err := gateway.New(gateway.Config{VerifyRedirectURL: "/relative"}, depsFor(h.nc)); err == nil {
		t.Fatal("a relative redirect URL was accepted")
	}
}

// The link and the account routes are in the OpenAPI document; the link answers text/html.
func TestAccountRoutesAreDocumented(t *testing.T) {
	h := newHarness(t, gateway.Config{})
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Content map[string]any `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(h.do("GET", "/openapi.json", nil).body, &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc.Paths["/v1/auth/verify-email"]["get"].Responses["200"].Content["text/html"]; !ok {
		t.Fatalf("GET /v1/auth/verify-email: %+v", doc.Paths["/v1/auth/verify-email"])
	}
	for path, method := range map[string]string{"/v1/auth/verify-email/resend": "post", "/v1/auth/password/forgot": "post",
		"/v1/auth/password/reset": "post", "/v1/users/me/password": "post", "/v1/users/me/email": "post"} {
		if _, ok := doc.Paths[path][method]; !ok {
			t.Errorf("%s %s is not documented", method, path)
		}
	}
}
