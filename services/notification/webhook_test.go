package notification

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/subjects"
)

// verify is the receiver's check of Souk-Signature, as the README shows it.
func verify(secret, header string, body []byte) bool {
	f := map[string]string{}
	for _, kv := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(kv, "=")
		f[k] = v
	}
	t, err := strconv.ParseInt(f["t"], 10, 64)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(f["t"] + "." + string(body)))
	return err == nil && time.Since(time.Unix(t, 0)).Abs() < 5*time.Minute && hmac.Equal([]byte(f["v1"]), []byte(hex.EncodeToString(mac.Sum(nil))))
}

// receiver is a webhook receiver that answers 500 while down, checks every signature and
// keeps the events it accepted.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	down   bool
	tries  int
	forged int
	got    []subjects.WebhookEvent
}

func newReceiver(t testing.TB) *receiver {
	r := &receiver{down: true}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.tries++
		if !verify(r.secret, req.Header.Get(subjects.WebhookSignatureHeader), body) || req.Header.Get("Content-Type") != "application/json" {
			r.forged++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.down {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		var ev subjects.WebhookEvent
		if err := json.Unmarshal(body, &ev); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.got = append(r.got, ev)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) state() (tries, forged int, got []subjects.WebhookEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tries, r.forged, append([]subjects.WebhookEvent(nil), r.got...)
}

func (r *receiver) setDown(down bool) {
	r.mu.Lock()
	r.down = down
	r.mu.Unlock()
}

// dev is fast() with private targets allowed, as in development: the tests' receivers are
// on loopback.
func dev() Config {
	c := fast()
	c.AllowPrivateWebhooks = true
	return c
}

func TestWebhookSignedRetriedAndDeliveredOnce(t *testing.T) {
	e := newEnv(t)
	e.start(dev())
	rcv := newReceiver(t)

	hook, err := subjects.WebhookCreate.Call(e.admin, e.nc, subjects.WebhookCreateRequest{URL: rcv.srv.URL + "/souk", Events: []string{"order.paid", "payment.refunded"}})
	if err != nil || hook.Secret == "" || hook.ID == "" || len(hook.Events) != 2 {
		t.Fatalf("create: %+v, %v", hook, err)
	}
	rcv.mu.Lock()
	rcv.secret = hook.Secret
	rcv.mu.Unlock()

	order := e.paid(newID(), 4200)
	e.publish(subjects.EvtOrderCancelled.Subject(order.OrderID), newID(), // not subscribed
		subjects.OrderCancelled{EventID: newID(), OccurredAt: time.Now(), OrderID: order.OrderID, UserID: order.UserID, Reason: "staff"})
	expect.Within(t, 20*time.Second, func() error {
		if tries, _, _ := rcv.state(); tries < 3 {
			return fmt.Errorf("%d tries while the receiver is down, want 3", tries)
		}
		return nil
	})
	rcv.setDown(false)
	d := e.waitStatus(order.EventID, subjects.ChannelWebhook, subjects.DeliverySent)
	tries, forged, got := rcv.state()
	if forged != 0 || len(got) != 1 || d.tries != tries || d.attempts != tries {
		t.Fatalf("tries %d, forged %d, accepted %d; delivery %+v", tries, forged, len(got), d)
	}
	expect.Within(t, 10*time.Second, func() error { // counted just after the commit
		for outcome, want := range map[string]int{"delivered": 1, "failed": tries - 1, "refused": 0, "dead": 0} {
			if n := e.inst.Counter(t, "souk_notification_webhooks_total", "outcome", outcome); n != float64(want) {
				return fmt.Errorf("souk_notification_webhooks_total{outcome=%q} = %v, want %d", outcome, n, want)
			}
		}
		return nil
	})
	ev := got[0]
	var data subjects.OrderPaid
	if err := json.Unmarshal(ev.Data, &data); err != nil || ev.ID != order.EventID || ev.Type != "order.paid" ||
		data.OrderID != order.OrderID || data.Total != order.Total || ev.OccurredAt.IsZero() {
		t.Fatalf("delivered %+v (%+v, %v)", ev, data, err)
	}

	t.Run("the list shows the deliveries, never the secret", func(t *testing.T) {
		page, err := subjects.WebhookList.Call(e.admin, e.nc, subjects.ListRequest{})
		if err != nil || len(page.Items) != 1 {
			t.Fatalf("list: %+v, %v", page, err)
		}
		w := page.Items[0]
		if w.Secret != "" || w.URL != hook.URL || len(w.Deliveries) != 1 {
			t.Fatalf("listed %+v", w)
		}
		if dl := w.Deliveries[0]; dl.Status != subjects.DeliverySent || dl.Attempts != tries || dl.Type != "order.paid" || dl.SentAt == nil {
			t.Fatalf("delivery %+v", dl)
		}
		if strings.Contains(e.log.String(), hook.Secret) {
			t.Fatal("the secret is in the log")
		}
	})

	t.Run("bad registrations are refused with the field named", func(t *testing.T) {
		for _, c := range []struct {
			req   subjects.WebhookCreateRequest
			field string
		}{
			{subjects.WebhookCreateRequest{URL: "ftp://example.com/x", Events: []string{"order.paid"}}, "url"},
			{subjects.WebhookCreateRequest{URL: "not a url", Events: []string{"order.paid"}}, "url"},
			{subjects.WebhookCreateRequest{URL: "https://user:pw@example.com/", Events: []string{"order.paid"}}, "url"},
			{subjects.WebhookCreateRequest{Events: []string{"order.paid"}}, "url"},
			{subjects.WebhookCreateRequest{URL: "https://example.com/"}, "events"},
			{subjects.WebhookCreateRequest{URL: "https://example.com/", Events: []string{"order.paid", "order.payed"}}, "events[1]"},
			{subjects.WebhookCreateRequest{URL: "https://example.com/", Events: []string{"user.registered"}}, "events[0]"},
			{subjects.WebhookCreateRequest{URL: "https://example.com/", Events: []string{"order.paid", "order.paid"}}, "events[1]"},
		} {
			_, err := subjects.WebhookCreate.Call(e.admin, e.nc, c.req)
			expect.Error(t, err, 400, "validation", c.field)
		}
		_, err := subjects.WebhookCreate.Call(e.as(newID(), subjects.RoleCustomer), e.nc, subjects.WebhookCreateRequest{URL: "https://example.com/", Events: []string{"order.paid"}})
		expect.Error(t, err, 403, "", "")
		page, err := subjects.WebhookList.Call(e.admin, e.nc, subjects.ListRequest{})
		if err != nil || len(page.Items) != 1 {
			t.Fatalf("a refused registration was stored: %+v, %v", page, err)
		}
	})

	t.Run("delete", func(t *testing.T) {
		if _, err := subjects.WebhookDelete.Call(e.admin, e.nc, subjects.WebhookIDRequest{ID: hook.ID}); err != nil {
			t.Fatal(err)
		}
		_, err := subjects.WebhookDelete.Call(e.admin, e.nc, subjects.WebhookIDRequest{ID: hook.ID})
		expect.Error(t, err, 404, "", "")
		_, err = subjects.WebhookDelete.Call(e.admin, e.nc, subjects.WebhookIDRequest{ID: "nope"})
		expect.Error(t, err, 404, "", "")
	})
}

func TestSignMatchesTheReceiverCheck(t *testing.T) {
	body := []byte(`{"id":"e1","type":"order.paid"}`)
	h := Sign("whsec_test", time.Now(), body)
	if !verify("whsec_test", h, body) {
		t.Fatalf("%s does not verify", h)
	}
	if verify("whsec_other", h, body) || verify("whsec_test", h, append(body, ' ')) {
		t.Fatal("a wrong secret or a changed body verifies")
	}
	if verify("whsec_test", Sign("whsec_test", time.Now().Add(-time.Hour), body), body) {
		t.Fatal("an old signature verifies")
	}
}

// banner is what a NATS server says first to whoever connects: its id, name and versions.
const banner = "INFO {\"server_id\":\"NBANNERSECRETID\",\"server_name\":\"souk-internal\",\"version\":\"2.10.22\",\"go\":\"go1.26\"}\r\n"

func TestWebhookFailureShowsAReasonNotTheTargetsBytes(t *testing.T) {
	e := newEnv(t)
	e.start(dev()) // the target is on loopback
	target := listen(t, banner, true)
	hook, err := subjects.WebhookCreate.Call(e.admin, e.nc, subjects.WebhookCreateRequest{
		URL: "http://127.0.0.1:" + target.port() + "/", Events: []string{"order.paid"}})
	if err != nil {
		t.Fatal(err)
	}
	order := e.paid(newID(), 4200)
	e.waitStatus(order.EventID, subjects.ChannelWebhook, subjects.DeliveryFailed)

	page, err := subjects.WebhookList.Call(e.admin, e.nc, subjects.ListRequest{})
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != hook.ID || len(page.Items[0].Deliveries) != 1 {
		t.Fatalf("list: %+v, %v", page, err)
	}
	if d := page.Items[0].Deliveries[0]; d.LastError != reasonNotHTTP {
		t.Fatalf("an admin reads %q, want %q", d.LastError, reasonNotHTTP)
	}
	rows, err := e.db.Query(e.ctx, `select a.error from notify.attempts a join notify.deliveries d on d.id = a.delivery_id where d.channel = 'webhook'`)
	if err != nil {
		t.Fatal(err)
	}
	kept, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(kept) != DefaultMaxAttempts {
		t.Fatalf("attempts %q, %v", kept, err)
	}
	for _, k := range kept {
		if k != reasonNotHTTP {
			t.Fatalf("an attempt keeps %q", k)
		}
	}
	if strings.Contains(e.log.String(), "NBANNERSECRETID") || strings.Contains(e.log.String(), "127.0.0.1:"+target.port()) {
		t.Fatal("the log holds the target's bytes or its address")
	}
}

// TestWebhookFailureReasons drives the webhook channel against real targets, one per
// reason of the vocabulary; none of what a target sends, and no address, is in a reason.
func TestWebhookFailureReasons(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + closed.Addr().String() + "/"
	_ = closed.Close()
	status := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("stack trace of the receiver"))
	}))
	t.Cleanup(status.Close)
	moved := httptest.NewServer(http.RedirectHandler("http://169.254.169.254/latest/meta-data/", http.StatusFound))
	t.Cleanup(moved.Close)
	untrusted := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(untrusted.Close)
	answers, greets, silent := listen(t, banner, true), listen(t, banner, false), listen(t, "", false)
	for _, c := range []struct {
		name, url    string
		allowPrivate bool
		want         string
	}{
		{"loopback, dev off", status.URL, false, reasonPrivate},
		{"mapped loopback, dev off", "http://[::ffff:127.0.0.1]:" + answers.port() + "/", false, reasonPrivate},
		{"a status", status.URL, true, "http 500"},
		{"a redirect, not followed", moved.URL, true, "http 302"},
		{"a banner", "http://127.0.0.1:" + answers.port() + "/", true, reasonNotHTTP},
		{"a banner over TLS", "https://127.0.0.1:" + greets.port() + "/", true, reasonTLS},
		{"an untrusted certificate", untrusted.URL, true, reasonTLS},
		{"silence", "http://127.0.0.1:" + silent.port() + "/", true, reasonTimeout},
		{"nobody listening", closedURL, true, reasonRefused},
	} {
		t.Run(c.name, func(t *testing.T) {
			timeout := 10 * time.Second // a TLS handshake under -race on a busy machine is slow
			if c.want == reasonTimeout {
				timeout = 300 * time.Millisecond
			}
			ch := newWebhookChannel(newEgress(c.allowPrivate, nil), timeout)
			err := ch.post(context.Background(), Delivery{Payload: []byte(`{}`), Endpoint: &Endpoint{URL: c.url, Secret: "whsec_test"}})
			if err == nil || err.Error() != c.want {
				t.Fatalf("%v, want %q", err, c.want)
			}
		})
	}
	if n := answers.accepted.Load(); n != 1 {
		t.Fatalf("the banner target got %d connections, want 1 (none while dev is off)", n)
	}
}

// TestMigrationScrubsStoredWebhookErrors: errors stored before the reasons (0002) are
// rewritten to theirs; email errors stay.
func TestMigrationScrubsStoredWebhookErrors(t *testing.T) {
	e := newEnv(t)
	var endpoint uuid.UUID
	if err := e.db.QueryRow(e.ctx, `insert into notify.webhook_endpoints (url, events, secret) values ('https://hooks.example.com/', '{order.paid}', 'whsec_x')
		returning id`).Scan(&endpoint); err != nil {
		t.Fatal(err)
	}
	old := [][2]string{
		{`webhook: net/http: HTTP/1.x transport connection broken: malformed HTTP response "INFO {\"server_id\":\"NBANNERSECRETID\"} connection refused"`, reasonNotHTTP},
		{"webhook: the receiver answered 503", "http 503"},
		{"webhook: dial tcp 10.0.0.7:443: connect: connection refused", reasonRefused},
		{"webhook: context deadline exceeded (Client.Timeout exceeded while awaiting headers)", reasonTimeout},
		{"webhook: tls: failed to verify certificate: x509: certificate signed by unknown authority", reasonTLS},
		{"webhook: dial tcp: lookup hooks.example.com on 10.0.0.2:53: no such host", reasonNoHost},
		{"webhook: read tcp 10.0.0.3:5000->10.0.0.7:443: read: connection reset by peer", reasonClosed},
		{"the endpoint was deleted", reasonDeleted},
		{"webhook: something else at 10.0.0.7", reasonFailed},
		{"", ""},
	}
	for i, o := range old {
		text := o[0]
		_, err := e.db.Exec(e.ctx, `with d as (insert into notify.deliveries (event_id, event_type, channel, recipient, endpoint_id, payload, last_error)
			values ($1, 'order.paid', 'webhook', $2, $3, '\x7b7d', $4) returning id)
			insert into notify.attempts (delivery_id, n, error) select id, 1, $4 from d`, "evt-"+strconv.Itoa(i), endpoint.String(), endpoint, text)
		if err != nil {
			t.Fatal(err)
		}
	}
	const smtp = "smtp: 550 5.1.1 mailbox unavailable"
	if _, err := e.db.Exec(e.ctx, `insert into notify.deliveries (event_id, event_type, channel, recipient, payload, last_error)
		values ('evt-mail', 'order.paid', 'email', 'someone', '\x7b7d', $1)`, smtp); err != nil {
		t.Fatal(err)
	}
	sql, err := migrationsFS.ReadFile("migrations/0002_webhook_reasons.sql")
	if err != nil {
		t.Fatal(err)
	}
	err = pgx.BeginFunc(e.ctx, e.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(e.ctx, `set local search_path to notify`); err != nil {
			return err
		}
		_, err := tx.Exec(e.ctx, string(sql))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range old {
		text, want := o[0], o[1]
		var last, attempt string
		if err := e.db.QueryRow(e.ctx, `select d.last_error, a.error from notify.deliveries d join notify.attempts a on a.delivery_id = d.id
			where d.event_id = $1`, "evt-"+strconv.Itoa(i)).Scan(&last, &attempt); err != nil {
			t.Fatal(err)
		}
		if last != want || attempt != want {
			t.Errorf("%q became %q and %q, want %q", text, last, attempt, want)
		}
	}
	var mail string
	if err := e.db.QueryRow(e.ctx, `select last_error from notify.deliveries where event_id = 'evt-mail'`).Scan(&mail); err != nil || mail != smtp {
		t.Fatalf("the email's error became %q (%v)", mail, err)
	}
}
