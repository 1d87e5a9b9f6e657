package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"github.com/souk/souk/gateway"
	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/authn/authntest"
	"github.com/souk/souk/platform/liveconfig"
	"github.com/souk/souk/subjects"
)

// harness is a gateway on an embedded NATS server with its own signing key.
type harness struct {
	t    testing.TB
	g    *gateway.Gateway
	nc   *nats.Conn
	keys *authntest.Keys
	logs *syncWriter
}

// unlimited raises every rate limit out of the way of tests that are not about them.
var unlimited = gateway.RateLimits{
	IP:      gateway.Limit{Rate: rate.Inf, Burst: 1},
	AuthIP:  gateway.Limit{Rate: rate.Inf, Burst: 1},
	Account: gateway.Limit{Rate: rate.Inf, Burst: 1},
	Login:   gateway.LoginLimits{Off: true},
}

func newHarness(t testing.TB, cfg gateway.Config, services ...string) *harness {
	t.Helper()
	_, nc := natstest.Server(t)
	return newHarnessOn(t, nc, nil, cfg, services...)
}

// newHarnessOn is newHarness on the server of nc, with the live configuration live (nil:
// none, every key at its default).
func newHarnessOn(t testing.TB, nc *nats.Conn, live *liveconfig.Config, cfg gateway.Config, services ...string) *harness {
	t.Helper()
	keys := authntest.NewKeys(t, "k1")
	verifier := authn.NewVerifier(keys.Source, time.Second)
	if cfg.RateLimit == (gateway.RateLimits{}) {
		cfg.RateLimit = unlimited
	}
	logs := &syncWriter{}
	g, err := gateway.New(cfg, gateway.Deps{
		Log:      zerolog.New(logs),
		NC:       nc,
		Registry: prometheus.NewRegistry(),
		Verifier: verifier,
		Services: services,
		Live:     live,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, g: g, nc: nc, keys: keys, logs: logs}
}

// syncWriter serialises log writes and reads.
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// token signs an access token for sub with roles.
func (h *harness) token(sub string, roles ...string) string {
	h.t.Helper()
	return h.keys.Sign(h.t, "k1", sub, roles, nil)
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request through app.Test. body is sent as is when a string or []byte, JSON
// encoded otherwise; headers are name/value pairs.
func (h *harness) do(method, path string, body any, headers ...string) response {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(enc)
	}
	req := httptest.NewRequest(method, path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := h.g.App().Test(req, 5000)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// problem checks that r is a problem+json answer with status and returns it.
func (r response) problem(t *testing.T, status int) gateway.Problem {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != gateway.MIMEProblem {
		t.Fatalf("content type %q, want %s: %s", ct, gateway.MIMEProblem, r.body)
	}
	var p gateway.Problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("problem body: %v: %s", err, r.body)
	}
	if p.Status != status || p.Title == "" || p.Type == "" || p.RequestID == "" {
		t.Fatalf("incomplete problem: %s", r.body)
	}
	if p.RequestID != r.header.Get("X-Request-Id") {
		t.Fatalf("problem request_id %q differs from header %q", p.RequestID, r.header.Get("X-Request-Id"))
	}
	return p
}

// hasField reports whether p names field in its errors.
func hasField(p gateway.Problem, name string) bool {
	for _, f := range p.Errors {
		if f.Field == name {
			return true
		}
	}
	return false
}

// serve registers a one-endpoint micro service name answering subject with fn.
func serve(t testing.TB, nc *nats.Conn, name, subject string, fn func(req micro.Request)) {
	t.Helper()
	svc, err := micro.AddService(nc, micro.Config{Name: name, Version: "0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop() })
	if subject != "" {
		if err := svc.AddEndpoint(strings.ReplaceAll(subject, ".", "_"), micro.HandlerFunc(fn), micro.WithEndpointSubject(subject)); err != nil {
			t.Fatal(err)
		}
	}
}

// replyError answers req with e the way Souk's services do.
func replyError(req micro.Request, e *subjects.Error) {
	code, desc, body := e.Encode()
	_ = req.Error(code, desc, body)
}

// depsFor are minimal deps over nc with a verifier that knows no keys.
func depsFor(nc *nats.Conn) gateway.Deps {
	return gateway.Deps{
		Log:      zerolog.Nop(),
		NC:       nc,
		Registry: prometheus.NewRegistry(),
		Verifier: authn.NewVerifier(func(context.Context) (jwk.Set, error) { return jwk.NewSet(), nil }, time.Second),
	}
}
