package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/logtest"
	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/pgtest"
)

// shop is one `souk run` started in-process, as `go run ./cmd/souk` would start it.
type shop struct {
	t *testing.T
	// env is the environment souk run was started with.
	env  map[string]string
	base string
	logs *logtest.Buffer
	http *http.Client
	// probes counts the client addresses of its own limited has used.
	probes int
	// sendState holds the served OpenAPI document every exchange of send is checked against.
	sendState
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

const adminEmail, adminPassword = "admin@souk.test", "Sesame-Opens-42!"

// shopEnv is the environment of a test shop: free ports, a fresh database, a data directory
// of the test's own, an admin, and bounds fit for a starved machine.
func shopEnv(t *testing.T) map[string]string {
	t.Helper()
	return map[string]string{
		"SOUK_HTTP_ADDR":      freeAddr(t),
		"SOUK_NATS_LISTEN":    "127.0.0.1:0",
		"DATABASE_URL":        pgtest.NewDatabase(t),
		"SOUK_DATA_DIR":       t.TempDir(),
		"SOUK_LOG_FORMAT":     "json",
		"SOUK_ADMIN_EMAIL":    adminEmail,
		"SOUK_ADMIN_PASSWORD": adminPassword,
		// The least cost the shop accepts: under the race detector, on a busy machine, a
		// cost-12 hash takes seconds and registrations queued behind each other time out.
		"SOUK_BCRYPT_COST": "10",
		// A starved machine (the whole suite at once, the race detector, two cores) can take
		// longer than the production bound for a login's chain of bcrypt and NATS calls; the
		// test judges answers, not speed (benchmarks do that).
		"SOUK_REQUEST_TIMEOUT": "60s",
	}
}

func startShop(t *testing.T, extraEnv map[string]string) *shop {
	t.Helper()
	env := shopEnv(t)
	for k, v := range extraEnv {
		env[k] = v
	}
	s, stop := launchShop(t, env)
	t.Cleanup(stop)
	return s
}

// launchShop runs `souk run args…` in-process with env and returns once it is ready, with
// the function that stops it (and fails the test if it does not exit cleanly).
func launchShop(t *testing.T, env map[string]string, args ...string) (*shop, func()) {
	t.Helper()
	return launchShopIn(context.Background(), t, env, args...)
}

// launchShopIn is launchShop with souk run's context derived from parent, which may carry
// what the process takes from its caller (registryFor's registry).
func launchShopIn(parent context.Context, t *testing.T, env map[string]string, args ...string) (*shop, func()) {
	t.Helper()
	addr := env["SOUK_HTTP_ADDR"]
	ctx, cancel := context.WithCancel(parent)
	t.Cleanup(cancel) // a shop that never got ready is stopped too
	logs := &logtest.Buffer{}
	exited := make(chan int, 1)
	go func() {
		exited <- cli(ctx, append([]string{"run"}, args...), func(k string) string { return env[k] }, io.Discard, logs)
	}()
	s := &shop{t: t, env: env, base: "http://" + addr, logs: logs, http: &http.Client{Timeout: 90 * time.Second}}
	stop := func() {
		cancel()
		select {
		case code := <-exited:
			if code != 0 {
				t.Errorf("souk run exited %d on shutdown; logs:\n%s", code, logs.String())
			}
		case <-time.After(30 * time.Second):
			t.Errorf("souk run did not exit within 30 s of the signal")
		}
	}
	expect.Within(t, 90*time.Second, func() error {
		select {
		case code := <-exited:
			t.Fatalf("souk run exited %d before it was ready; logs:\n%s", code, logs.String())
		default:
		}
		res, err := s.http.Get(s.base + "/readyz")
		if err != nil {
			return err
		}
		defer res.Body.Close()
		if res.StatusCode != 200 {
			b, _ := io.ReadAll(res.Body)
			return fmt.Errorf("readyz %d: %s", res.StatusCode, b)
		}
		return nil
	})
	return s, stop
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("reply %d is not a JSON object: %s", r.status, r.body)
	}
	return m
}

// do sends one request with headers given as name, value pairs. body is JSON-encoded
// unless it is a string, sent as is.
func (s *shop) do(method, path string, body any, token string, headers ...string) reply {
	s.t.Helper()
	r, err := s.send(method, path, body, token, headers...)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	if r.status >= 500 && r.status != 503 {
		s.t.Errorf("%s %s answered %d: %s", method, path, r.status, r.body)
	}
	return r
}

// send is do without judging the answer: a transport error (the shop is down) is returned.
// Every exchange is checked against the served /openapi.json (checkContract): the request,
// unless headers hold invalidRequestHeader (doInvalid), and the answer always.
func (s *shop) send(method, path string, body any, token string, headers ...string) (reply, error) {
	s.t.Helper()
	var data []byte
	switch b := body.(type) {
	case nil:
	case string:
		data = []byte(b)
	case []byte:
		data = b
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		data = enc
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		return reply{}, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	deliberate := false
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == invalidRequestHeader {
			deliberate = true
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := s.http.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	r := reply{status: res.StatusCode, header: res.Header, body: b}
	if err == nil {
		s.checkContract(req, data, r, deliberate)
	}
	return r, err
}

// deliver waits (up to a minute) for the paid order id's shipment and has staff move it
// through packed, shipped and in_transit to delivered; it returns the shipment's id.
func (s *shop) deliver(id, customer, staff string) string {
	s.t.Helper()
	var shipment string
	expect.Within(s.t, 60*time.Second, func() error {
		r := s.do("GET", "/v1/orders/"+id+"/shipment", nil, customer)
		if r.status != 200 {
			return fmt.Errorf("shipment: %d %s", r.status, r.body)
		}
		shipment = r.json(s.t)["id"].(string)
		return nil
	})
	status := "/v1/admin/shipments/" + shipment + "/status"
	for _, move := range []map[string]any{{"status": "packed"}, {"status": "shipped", "tracking_number": "00340434161094042557", "carrier": "dhl"},
		{"status": "in_transit"}, {"status": "delivered"}} {
		s.expect(s.do("POST", status, move, staff), 200, fmt.Sprint(move["status"]))
	}
	return shipment
}

func (s *shop) expect(r reply, status int, what string) {
	s.t.Helper()
	if r.status != status {
		s.t.Fatalf("%s: got %d, want %d: %s", what, r.status, status, r.body)
	}
}

func (s *shop) expectProblem(r reply, status int, field, what string) {
	s.t.Helper()
	s.expect(r, status, what)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		s.t.Fatalf("%s: content type %q, want problem+json", what, ct)
	}
	p := r.json(s.t)
	if int(p["status"].(float64)) != status || p["title"] == "" {
		s.t.Fatalf("%s: problem without status/title: %s", what, r.body)
	}
	if field == "" {
		return
	}
	errs, _ := p["errors"].([]any)
	for _, e := range errs {
		if e.(map[string]any)["field"] == field {
			return
		}
	}
	s.t.Fatalf("%s: problem does not name field %q: %s", what, field, r.body)
}

func (s *shop) login(email, password string) (access, refresh string) {
	s.t.Helper()
	r := s.do("POST", "/v1/auth/login", map[string]string{"email": email, "password": password}, "")
	s.expect(r, 200, "login "+email)
	m := r.json(s.t)
	if m["token_type"] != "Bearer" || m["expires_in"].(float64) != 900 {
		s.t.Fatalf("login pair: %s", r.body)
	}
	return m["access_token"].(string), m["refresh_token"].(string)
}

// verifyToken finds the token of the verification link that the user.registered event of
// userID carries (linkToken).
func (s *shop) verifyToken(userID string) string {
	s.t.Helper()
	return s.linkToken("souk.evt.user.registered."+userID, "verify_link")
}

func TestEndToEndIdentity(t *testing.T) {
	s := startShop(t, nil)

	// Register, and the refusals that change nothing.
	reg := map[string]string{"email": "  Ada@Example.com ", "password": "correct horse battery", "name": "Ada", "locale": "de"}
	r := s.do("POST", "/v1/auth/register", reg, "")
	s.expect(r, 201, "register")
	user := r.json(t)
	if user["email"] != "ada@example.com" || user["email_verified"] != false || user["locale"] != "de" {
		t.Fatalf("registered user: %s", r.body)
	}
	if strings.Contains(string(r.body), "password") {
		t.Fatalf("a user reply carries a password field: %s", r.body)
	}
	uid := user["id"].(string)
	s.expectProblem(s.do("POST", "/v1/auth/register", reg, ""), 409, "", "same email again")
	s.expectProblem(s.do("POST", "/v1/auth/register", map[string]string{"email": "bob@example.com", "password": "short", "name": "Bob"}, ""), 400, "password", "weak password")
	s.expectProblem(s.do("POST", "/v1/auth/register", map[string]string{"email": "bob@example.com", "password": "1234567890", "name": "Bob"}, ""), 400, "password", "common password")
	s.expectProblem(s.do("POST", "/v1/auth/register", map[string]string{"email": "not-an-email", "password": "correct horse battery", "name": "Bob"}, ""), 400, "email", "bad email")
	s.expectProblem(s.doInvalid("POST", "/v1/auth/register", `{"email": "bob@example.com", "password": `, ""), 400, "", "malformed body")
	s.expectProblem(s.doInvalid("POST", "/v1/auth/register", `{"email": 42}`, ""), 400, "", "wrong type")
	s.expectProblem(s.doInvalid("POST", "/v1/auth/register", bytes.Repeat([]byte("a"), 2<<20), ""), 413, "", "oversized body")

	// Login, me, and wrong credentials that look alike.
	access, refresh := s.login("ada@example.com", "correct horse battery")
	wrong := s.do("POST", "/v1/auth/login", map[string]string{"email": "ada@example.com", "password": "wrong password!!"}, "")
	unknown := s.do("POST", "/v1/auth/login", map[string]string{"email": "nobody@example.com", "password": "wrong password!!"}, "")
	s.expectProblem(wrong, 401, "", "wrong password")
	s.expectProblem(unknown, 401, "", "unknown email")
	if wrong.json(t)["detail"] != unknown.json(t)["detail"] {
		t.Fatalf("wrong password and unknown email must answer alike: %s vs %s", wrong.body, unknown.body)
	}
	me := s.do("GET", "/v1/users/me", nil, access)
	s.expect(me, 200, "me")
	if m := me.json(t); m["id"] != uid || fmt.Sprint(m["roles"]) != "[customer]" {
		t.Fatalf("me: %s", me.body)
	}
	s.expectProblem(s.doInvalid("GET", "/v1/users/me", nil, ""), 401, "", "me without token")
	s.expectProblem(s.do("GET", "/v1/users/me", nil, access+"x"), 401, "", "me with a tampered token")
	r = s.do("PATCH", "/v1/users/me", map[string]any{"name": "Ada L.", "addresses": []map[string]string{{"name": "Ada", "line1": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"}}}, access)
	s.expect(r, 200, "patch me")
	s.expectProblem(s.do("PATCH", "/v1/users/me", map[string]any{"addresses": []map[string]string{{"name": "Ada", "line1": "x", "city": "y", "postal_code": "1", "country": "Germany"}}}, access), 400, "addresses[0].country", "bad country")

	// The access token checks out against the published keys.
	jwks := s.do("GET", "/.well-known/jwks.json", nil, "")
	s.expect(jwks, 200, "jwks")
	set, err := jwk.Parse(jwks.body)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Parse([]byte(access), jwt.WithKeySet(set), jwt.WithIssuer(authn.Issuer), jwt.WithAudience(authn.Audience))
	if err != nil {
		t.Fatalf("access token does not verify against the JWKS: %v", err)
	}
	if sub, _ := tok.Subject(); sub != uid {
		t.Fatalf("sub %q, want %q", sub, uid)
	}

	// Email verification: single use.
	vt := s.verifyToken(uid)
	s.expect(s.do("POST", "/v1/auth/verify-email", map[string]string{"token": vt}, ""), 204, "verify email")
	s.expectProblem(s.do("POST", "/v1/auth/verify-email", map[string]string{"token": vt}, ""), 400, "token", "verify twice")
	if s.do("GET", "/v1/users/me", nil, access).json(t)["email_verified"] != true {
		t.Fatal("email not verified")
	}

	// RBAC: a customer is refused admin routes; the admin from the environment is not.
	s.expectProblem(s.do("GET", "/v1/admin/users", nil, access), 403, "", "customer lists users")
	adminAccess, _ := s.login(adminEmail, adminPassword)
	list := s.do("GET", "/v1/admin/users?limit=1", nil, adminAccess)
	s.expect(list, 200, "admin lists users")
	page := list.json(t)
	if len(page["items"].([]any)) != 1 || page["next_cursor"] == nil {
		t.Fatalf("first page of one: %s", list.body)
	}
	s.expectProblem(s.do("GET", "/v1/admin/users?cursor=forged!", nil, adminAccess), 400, "cursor", "forged cursor")
	s.expectProblem(s.doInvalid("GET", "/v1/admin/users?limit=1000", nil, adminAccess), 400, "limit", "limit out of range")
	s.expect(s.do("PUT", "/v1/admin/users/"+uid+"/roles", map[string]any{"roles": []string{"customer", "staff"}}, adminAccess), 200, "set roles")
	s.expectProblem(s.doInvalid("PUT", "/v1/admin/users/"+uid+"/roles", map[string]any{"roles": []string{"root"}}, adminAccess), 400, "roles", "unknown role")
	s.expectProblem(s.do("PUT", "/v1/admin/users/not-a-uuid/roles", map[string]any{"roles": []string{"customer"}}, adminAccess), 404, "", "unknown user")

	// Refresh rotates; the new roles arrive with it; reusing a spent token ends the family.
	r = s.do("POST", "/v1/auth/refresh", map[string]string{"refresh_token": refresh}, "")
	s.expect(r, 200, "refresh")
	pair := r.json(t)
	access2, refresh2 := pair["access_token"].(string), pair["refresh_token"].(string)
	if refresh2 == refresh {
		t.Fatal("refresh did not rotate")
	}
	if fmt.Sprint(s.do("GET", "/v1/users/me", nil, access2).json(t)["roles"]) != "[customer staff]" {
		t.Fatal("refreshed token does not carry the new roles")
	}
	s.expectProblem(s.do("POST", "/v1/auth/refresh", map[string]string{"refresh_token": refresh}, ""), 401, "", "reuse of a spent refresh token")
	s.expectProblem(s.do("POST", "/v1/auth/refresh", map[string]string{"refresh_token": refresh2}, ""), 401, "", "the family is revoked after reuse")

	// Logout ends that session only.
	_, refresh3 := s.login("ada@example.com", "correct horse battery")
	access4, refresh4 := s.login("ada@example.com", "correct horse battery")
	s.expect(s.do("POST", "/v1/auth/logout", map[string]string{"refresh_token": refresh3}, access4), 204, "logout")
	s.expectProblem(s.do("POST", "/v1/auth/refresh", map[string]string{"refresh_token": refresh3}, ""), 401, "", "refresh after logout")
	s.expect(s.do("POST", "/v1/auth/refresh", map[string]string{"refresh_token": refresh4}, ""), 200, "other session lives on")
	s.expectProblem(s.doInvalid("POST", "/v1/auth/logout", map[string]string{"refresh_token": refresh4}, ""), 401, "", "logout without token")

	// Operations.
	s.expect(s.do("GET", "/healthz", nil, ""), 200, "healthz")
	s.expect(s.do("GET", "/openapi.json", nil, ""), 200, "openapi")
	m := s.do("GET", "/metrics", nil, "")
	s.expect(m, 200, "metrics")
	for _, series := range []string{"souk_http_requests_total", "souk_rpc_requests_total"} {
		if !strings.Contains(string(m.body), series) {
			t.Errorf("/metrics lacks %s", series)
		}
	}
	s.expectProblem(s.do("GET", "/v1/nope", nil, ""), 404, "", "unknown route")

	// No secret in the logs.
	logs := s.logs.String()
	for _, secret := range []string{"correct horse battery", adminPassword, refresh, access} {
		if strings.Contains(logs, secret) {
			t.Fatalf("a secret appears in the logs")
		}
	}
}

func TestLoginStormIsRateLimited(t *testing.T) {
	// bcrypt at cost 12 takes seconds under the race detector: allow few attempts, so the
	// storm reaches the limit after three hashes rather than ten.
	s := startShop(t, map[string]string{"SOUK_LOGIN_ATTEMPTS": "3"})
	body := map[string]string{"email": "victim@example.com", "password": "guess guess guess"}
	var limited reply
	for i := range 40 {
		r := s.do("POST", "/v1/auth/login", body, "")
		if r.status == 429 {
			limited = r
			break
		}
		s.expectProblem(r, 401, "", fmt.Sprintf("attempt %d", i))
	}
	if limited.status != 429 {
		t.Fatal("40 failed logins in a row were never rate limited")
	}
	s.expectProblem(limited, 429, "", "storm")
	if limited.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
}
