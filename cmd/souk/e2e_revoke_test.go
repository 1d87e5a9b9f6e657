package main

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/souk/souk/internal/expect"
)

// twoProcesses starts the whole shop in a process of its own (a) and a second gateway in
// another process (b), joined to a's NATS server: a revocation written through a must reach
// b's verifier, which has its own copy of the revocations.
func twoProcesses(t *testing.T) (a, b *shop) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts the shop and a second gateway in processes of their own")
	}
	a = &shop{t: t, env: shopEnv(t), http: &http.Client{Timeout: 90 * time.Second}}
	a.base = "http://" + a.env["SOUK_HTTP_ADDR"]
	a.env["SOUK_RATE_IP"], a.env["SOUK_RATE_ACCOUNT"] = "100000", "100000"
	procA := startProcess(t, a)
	b = &shop{t: t, base: "http://" + freeAddr(t), http: &http.Client{Timeout: 90 * time.Second}}
	b.env = map[string]string{
		"SOUK_HTTP_ADDR": b.base[len("http://"):], "NATS_URL": procA.natsURL(t), "SOUK_DATA_DIR": t.TempDir(),
		"SOUK_LOG_FORMAT": "json", "SOUK_RATE_IP": "100000", "SOUK_RATE_ACCOUNT": "100000", childTargets: "gateway",
		"SOUK_REQUEST_TIMEOUT": a.env["SOUK_REQUEST_TIMEOUT"],
	}
	startProcess(t, b)
	return a, b
}

// refusedWithin polls call until it answers 401 or 403 and returns how long that took from
// since. Polling stops after 10 s, a failure: the bound is generous for a busy machine; the
// figure is the measurement.
func refusedWithin(t *testing.T, since time.Time, call func() reply) time.Duration {
	t.Helper()
	var took time.Duration
	expect.Within(t, 10*time.Second, func() error {
		r := call()
		if r.status == 401 || r.status == 403 {
			took = time.Since(since)
			return nil
		}
		return fmt.Errorf("still answered %d: %s", r.status, r.body)
	})
	return took
}

// Revocation across processes: an admin demotes a staff member through gateway a, and the
// staff member's token stops working at gateway b (PUT /v1/inventory/{sku}); promoted
// again, the refreshed token works at once. A logout through a ends that session's token at
// b. A removed customer cannot add to a cart through b, nor log in. The time from the
// admin's answer to b's first refusal is measured over several demotions.
func TestRevocationAcrossProcesses(t *testing.T) {
	a, b := twoProcesses(t)
	admin, _ := a.login(adminEmail, adminPassword)
	mug := a.mug(admin, "MUG-R", 5)
	r := a.do("POST", "/v1/auth/register", map[string]string{"email": "staff@example.com", "password": "correct horse battery", "name": "Sam"}, "")
	a.expect(r, 201, "register staff")
	staffID := r.json(t)["id"].(string)
	setRoles := func(roles ...string) {
		a.expect(a.do("PUT", "/v1/admin/users/"+staffID+"/roles", map[string]any{"roles": roles}, admin), 200, "roles")
	}
	setRoles("customer", "staff")
	staff, refresh := a.login("staff@example.com", "correct horse battery")
	stock := func(tok string) func() reply {
		return func() reply { return b.do("PUT", "/v1/inventory/MUG-R", map[string]any{"on_hand": 5}, tok) }
	}
	b.expect(stock(staff)(), 200, "stock set by staff through b")

	const n = 9
	var took []time.Duration
	for i := range n {
		setRoles("customer")
		took = append(took, refusedWithin(t, time.Now(), stock(staff)))
		setRoles("customer", "staff")
		r := a.do("POST", "/v1/auth/refresh", map[string]string{"refresh_token": refresh}, "")
		a.expect(r, 200, fmt.Sprintf("refresh %d", i))
		staff, refresh = r.json(t)["access_token"].(string), r.json(t)["refresh_token"].(string)
		b.expect(stock(staff)(), 200, "the refreshed token, promoted again, at once")
	}
	slices.Sort(took)
	t.Logf("revocation to refusal at the other process's gateway, %d role changes: median %s, max %s, all %v",
		n, took[n/2].Round(time.Millisecond), took[n-1].Round(time.Millisecond), took)

	t.Run("logout", func(t *testing.T) {
		a.expect(a.do("POST", "/v1/auth/logout", map[string]string{"refresh_token": refresh}, staff), 204, "logout")
		t.Logf("logout to refusal at b: %s", refusedWithin(t, time.Now(), stock(staff)).Round(time.Millisecond))
	})

	t.Run("removed", func(t *testing.T) {
		a.expect(a.do("POST", "/v1/auth/register", map[string]string{"email": "leaving@example.com", "password": "correct horse battery", "name": "Lee"}, ""), 201, "register")
		tok, _ := a.login("leaving@example.com", "correct horse battery")
		cart := func() reply {
			return b.do("POST", "/v1/cart/items", map[string]any{"product_id": mug, "quantity": 1}, tok)
		}
		b.expect(cart(), 200, "add to cart through b")
		me := b.do("GET", "/v1/users/me", nil, tok).json(t)
		a.expect(a.do("DELETE", "/v1/admin/users/"+me["id"].(string), nil, admin), 204, "remove")
		t.Logf("removal to refusal at b: %s", refusedWithin(t, time.Now(), cart).Round(time.Millisecond))
		a.expectProblem(a.do("POST", "/v1/auth/login", map[string]string{"email": "leaving@example.com", "password": "correct horse battery"}, ""),
			401, "", "login of a removed account")
		a.expect(a.do("DELETE", "/v1/admin/users/"+me["id"].(string), nil, admin), 404, "removed twice")
	})
}
