package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"

	"github.com/gofiber/fiber/v2"

	"github.com/souk/souk/subjects"
)

// The link of the verification email (GET /v1/auth/verify-email?token=): a browser opens it,
// so it answers a page, not JSON. It spends the token like POST /v1/auth/verify-email and
// then shows a short page, or redirects to the shop's own page (Config.VerifyRedirectURL)
// with ?status=verified or ?status=invalid. The token is never echoed, the answer is never
// cached, and no Referer carries the link to whatever the page links to.

// Outcomes of a verification link, as the redirect's status parameter names them.
const (
	verifyStatusVerified = "verified"
	verifyStatusInvalid  = "invalid"
)

// verifyPage is the page the gateway answers when no redirect is configured.
var verifyPage = template.Must(template.New("verify").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;line-height:1.5}</style>
</head><body><h1>{{.Title}}</h1><p>{{.Text}}</p></body></html>
`))

// verifyTexts are the page's words by outcome: the HTTP status, the title, the text.
var verifyTexts = map[int][2]string{
	http.StatusOK:         {"Email address confirmed", "Thank you: your email address is confirmed. You can close this page."},
	http.StatusBadRequest: {"This link does not work", "The link is unknown, was used already or has expired. Sign in and ask for a new one."},
	http.StatusConflict:   {"This address is taken", "Another account uses this email address now, so it cannot become yours. Sign in and choose another."},
}

// verifyEmailRoute is the route of the verification link.
func (g *Gateway) verifyEmailRoute() Route {
	call := Handle(g.verifyEmailLink, nil, fiber.MIMETextHTML)
	call.query = []Param{{Name: "token", Type: "string", Description: "the token of the link in the verification email"}}
	return Route{Method: fiber.MethodGet, Path: "/v1/auth/verify-email", Tag: "auth", Access: subjects.Public, Limit: LimitAuth,
		Summary: "The verification email's link: verifies the address and answers a page (or a 303 to the shop's page)",
		Call:    call}
}

// verifyEmailLink spends the token of the link and answers the outcome. A service that is
// down or refuses otherwise is the usual problem answer.
func (g *Gateway) verifyEmailLink(c *fiber.Ctx) error {
	body, err := json.Marshal(subjects.VerifyEmailRequest{Token: c.Query("token")})
	if err != nil {
		return err
	}
	status := http.StatusOK
	if _, err := g.request(c, subjects.UserVerifyEmail.Subject, body); err != nil {
		var se *subjects.Error
		if !errors.As(err, &se) || (se.Code != http.StatusBadRequest && se.Code != http.StatusConflict) {
			return err
		}
		status = se.Code
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	if g.cfg.VerifyRedirectURL != "" {
		outcome := verifyStatusInvalid
		if status == http.StatusOK {
			outcome = verifyStatusVerified
		}
		return c.Redirect(verifyRedirect(g.cfg.VerifyRedirectURL, outcome), http.StatusSeeOther)
	}
	c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'none'; style-src 'unsafe-inline'")
	text := verifyTexts[status]
	c.Status(status).Type("html", "utf-8")
	return verifyPage.Execute(c.Response().BodyWriter(), struct{ Title, Text string }{text[0], text[1]})
}

// verifyRedirect is base with ?status=outcome added to its query. base was checked by New.
func verifyRedirect(base, outcome string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	q := u.Query()
	q.Set("status", outcome)
	u.RawQuery = q.Encode()
	return u.String()
}

// checkVerifyRedirect checks Config.VerifyRedirectURL: empty, or an absolute http(s) URL.
func checkVerifyRedirect(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("gateway: VerifyRedirectURL %q: want an absolute http(s) URL", raw)
	}
	return nil
}
