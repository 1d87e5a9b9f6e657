package notification

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

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

func TestWebhookSignedRetriedAndDeliveredOnce(t *testing.T) {
	e := newEnv(t)
	e.start(fast())
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
