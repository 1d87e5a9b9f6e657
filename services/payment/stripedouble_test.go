package payment_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/souk/souk/internal/expect"
)

// stripeDouble stands between the service and stripe-mock, at the process boundary (HTTP),
// for the faults stripe-mock cannot play:
//   - down: its port is closed (connections refused), a provider outage; up opens it again
//     on the same address;
//   - loseNext: the next create is forwarded to stripe-mock (the intent is made) but
//     answered 500, and every later create with that Idempotency-Key gets the same 500, as
//     Stripe replays a stored 500 for 24 hours;
//   - search: stripe-mock is stateless and answers a search with a fixture, so the double
//     answers GET /v1/payment_intents/search with the intents stripe-mock made through it
//     for the payment id the query names (the only thing it answers itself).
//
// It records every request that reached it.
type stripeDouble struct {
	t      *testing.T
	addr   string
	target *httputil.ReverseProxy

	mu       sync.Mutex
	srv      *http.Server
	loseNext bool
	lostKeys map[string]bool
	intents  map[string]json.RawMessage // payment id → the intent made for it
	calls    []stripeCall
}

// stripeCall is one request that reached the double.
type stripeCall struct {
	Method, Path, Key, PaymentID string
}

func newStripeDouble(t *testing.T, stripeMock string) *stripeDouble {
	u, err := url.Parse(stripeMock)
	if err != nil {
		t.Fatal(err)
	}
	d := &stripeDouble{t: t, addr: freeAddr(t), target: httputil.NewSingleHostReverseProxy(u),
		lostKeys: map[string]bool{}, intents: map[string]json.RawMessage{}}
	d.up()
	t.Cleanup(d.down)
	return d
}

// URL is the double's base URL: the service's StripeAPIURL.
func (d *stripeDouble) URL() string { return "http://" + d.addr }

// up opens the double's port (again).
func (d *stripeDouble) up() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.srv != nil {
		return
	}
	var l net.Listener
	expect.Within(d.t, 5*time.Second, func() (err error) { // the port was just closed: it may linger a moment
		l, err = net.Listen("tcp", d.addr)
		return err
	})
	d.srv = &http.Server{Handler: d, ReadHeaderTimeout: 5 * time.Second}
	go func(srv *http.Server) { _ = srv.Serve(l) }(d.srv)
}

// down closes the double's port and every connection to it.
func (d *stripeDouble) down() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.srv != nil {
		_ = d.srv.Close()
		d.srv = nil
	}
}

// loseNextCreate makes the next create's answer a 500 that is replayed for its key.
func (d *stripeDouble) loseNextCreate() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.loseNext = true
}

// count counts the recorded requests of method whose path matches pattern and, when
// paymentID is not empty, that name it in their metadata.
func (d *stripeDouble) count(method, pattern, paymentID string) int {
	re := regexp.MustCompile(pattern)
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, c := range d.calls {
		if c.Method == method && re.MatchString(c.Path) && (paymentID == "" || c.PaymentID == paymentID) {
			n++
		}
	}
	return n
}

// creates counts the creates of payment paymentID that reached the provider.
func (d *stripeDouble) creates(paymentID string) int {
	return d.count(http.MethodPost, `^/v1/payment_intents$`, paymentID)
}

var searchPaymentID = regexp.MustCompile(`metadata\['payment_id'\]:'([^']+)'`)

func (d *stripeDouble) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	form, _ := url.ParseQuery(string(body))
	key, paymentID := r.Header.Get("Idempotency-Key"), form.Get("metadata[payment_id]")
	create := r.Method == http.MethodPost && r.URL.Path == "/v1/payment_intents"
	d.mu.Lock()
	d.calls = append(d.calls, stripeCall{Method: r.Method, Path: r.URL.Path, Key: key, PaymentID: paymentID})
	lost, lose := d.lostKeys[key], create && d.loseNext
	if lose {
		d.loseNext, d.lostKeys[key] = false, true
	}
	d.mu.Unlock()

	switch {
	case create && lost:
		stripeServerError(w)
		return
	case r.Method == http.MethodGet && r.URL.Path == "/v1/payment_intents/search":
		d.search(w, r)
		return
	}
	rec := httptest.NewRecorder()
	d.target.ServeHTTP(rec, r)
	if create && rec.Code == http.StatusOK {
		d.remember(paymentID, rec.Body.Bytes())
	}
	if lose {
		stripeServerError(w)
		return
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// remember keeps the intent stripe-mock made for paymentID, with the metadata stripe-mock
// does not echo.
func (d *stripeDouble) remember(paymentID string, intent []byte) {
	var pi map[string]any
	if json.Unmarshal(intent, &pi) != nil {
		return
	}
	pi["metadata"] = map[string]string{"payment_id": paymentID}
	b, _ := json.Marshal(pi)
	d.mu.Lock()
	d.intents[paymentID] = b
	d.mu.Unlock()
}

func (d *stripeDouble) search(w http.ResponseWriter, r *http.Request) {
	data := []json.RawMessage{}
	if m := searchPaymentID.FindStringSubmatch(r.URL.Query().Get("query")); m != nil {
		d.mu.Lock()
		if pi, ok := d.intents[m[1]]; ok {
			data = append(data, pi)
		}
		d.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"object": "search_result", "url": "/v1/payment_intents/search",
		"has_more": false, "data": data})
}

func stripeServerError(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write([]byte(`{"error":{"type":"api_error","message":"An unknown error occurred (a stored answer)."}}`))
}

// cancelPath matches the path of a cancellation of intent ref.
func cancelPath(ref string) string {
	return "^/v1/payment_intents/" + regexp.QuoteMeta(ref) + "/cancel$"
}
