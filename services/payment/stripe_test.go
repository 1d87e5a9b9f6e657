package payment_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/logtest"
	"github.com/souk/souk/services/payment"
	"github.com/souk/souk/subjects"
)

// stripeMockURL is the URL of a stripe-mock: STRIPE_MOCK_URL when set (CI starts one),
// else one this test starts from the stripe-mock binary (PATH or $(go env GOPATH)/bin).
// Without either the test is skipped, or fails when SOUK_REQUIRE_STRIPE_MOCK=1.
func stripeMockURL(t *testing.T) string {
	t.Helper()
	if u := os.Getenv("STRIPE_MOCK_URL"); u != "" {
		return u
	}
	bin, err := exec.LookPath("stripe-mock")
	if err != nil {
		bin = filepath.Join(goPath(), "bin", "stripe-mock")
		if _, err := os.Stat(bin); err != nil {
			const msg = "stripe-mock is not installed (go install github.com/stripe/stripe-mock@v0.203.0) and STRIPE_MOCK_URL is not set"
			if os.Getenv("SOUK_REQUIRE_STRIPE_MOCK") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	// stripe-mock serves HTTPS too, on 12112 unless told otherwise: give it a port of its own.
	// A port free a moment ago may be taken by the time stripe-mock binds it (other tests
	// pick ports too): then it exits saying so, and it is started again on new ones.
	for attempt := 1; ; attempt++ {
		addr, out, up := startStripeMock(t, bin)
		if up {
			return "http://" + addr
		}
		if attempt == 3 || !strings.Contains(out, "address already in use") {
			t.Fatalf("stripe-mock exited: %s", out)
		}
	}
}

// startStripeMock starts bin on two free ports and waits until it listens (up) or exits
// (up false, with its output).
func startStripeMock(t *testing.T, bin string) (addr, output string, up bool) {
	t.Helper()
	addr, tlsAddr := freeAddr(t), freeAddr(t)
	var out bytes.Buffer
	var mu sync.Mutex
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return out.Write(p) })
	cmd := exec.Command(bin, "-http-addr", addr, "-https-addr", tlsAddr)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatalf("start stripe-mock: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	// Up once both listeners are: it says so of the second, and exits if that bind fails.
	expect.Within(t, 20*time.Second, func() error {
		select {
		case <-exited:
			return nil
		default:
		}
		mu.Lock()
		listening := strings.Contains(out.String(), "Listening for HTTPS")
		mu.Unlock()
		if !listening {
			return errors.New("stripe-mock is not listening for HTTPS yet")
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
		}
		return err
	})
	select {
	case <-exited:
		mu.Lock()
		defer mu.Unlock()
		return addr, out.String(), false
	default:
		return addr, "", true
	}
}

// writerFunc is an io.Writer of a function.
type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// freeAddr is a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func goPath() string {
	if p := os.Getenv("GOPATH"); p != "" {
		return strings.Split(p, string(os.PathListSeparator))[0]
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		home, _ := os.UserHomeDir()
		return filepath.Join(home, "go")
	}
	return strings.TrimSpace(string(out))
}

func stripeConfig(url, key string) payment.Config {
	return payment.Config{Provider: payment.ProviderStripe, StripeSecretKey: key, StripeAPIURL: url,
		StripeWebhookSecret: webhookSecret, ProviderTimeout: 5 * time.Second, ReconcileAfter: time.Hour}
}

// TestStripeAgainstStripeMock proves the wire format: stripe-mock validates every request
// against Stripe's OpenAPI spec. It is stateless (a confirmed intent comes back
// requires_payment_method, see stripeIntent), so the outcome comes by a signed webhook.
func TestStripeAgainstStripeMock(t *testing.T) {
	t.Parallel()
	url := stripeMockURL(t)
	e := newEnv(t)
	e.start(stripeConfig(url, "sk_test_souk"), nil)
	id := e.order(e.customerID, 1999, "")

	p := e.pay(e.customer, id, "pm_card_visa")
	if p.Provider != "stripe" || p.Status != subjects.PaymentStatusRequiresAction || !strings.Contains(p.ClientSecret, "_secret_") {
		t.Fatalf("stripe payment: %+v", p)
	}
	ref := e.ref(p.ID)
	if !strings.HasPrefix(ref, "pi_") {
		t.Fatalf("provider_ref %q", ref)
	}
	// Asking again returns the same payment, its client secret fetched again (never stored).
	if again := e.pay(e.customer, id, "pm_card_visa"); again.ID != p.ID || again.ClientSecret == "" {
		t.Fatalf("asked again: %+v", again)
	}

	if err := e.webhook(webhookSecret, "evt_stripe_1", "payment_intent.succeeded", intent(ref, p.ID, "succeeded", nil)); err != nil {
		t.Fatal(err)
	}
	e.waitPayment(id, subjects.PaymentStatusSucceeded)

	r, err := e.refund(id, ptr[int64](700), "stripe-refund")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != "succeeded" || r.Amount != eur(700) {
		t.Fatalf("refund: %+v", r)
	}
	var refundRef string
	if err := e.db.QueryRow(e.ctx, `select provider_ref from payments.refunds where id = $1`, r.ID).Scan(&refundRef); err != nil || !strings.HasPrefix(refundRef, "re_") {
		t.Fatalf("refund provider_ref %q (%v)", refundRef, err)
	}
	e.wantEvents(subjects.EvtPaymentRefunded.EventKind, id, 1)
}

// TestSecretsStayOutOfTheLogs runs the stripe provider with a key stripe-mock refuses: its
// error echoes the Authorization header, which the service must not log as it is.
func TestSecretsStayOutOfTheLogs(t *testing.T) {
	t.Parallel()
	url := stripeMockURL(t)
	e := newEnv(t)
	key := "sk_live_souk_must_never_be_logged"
	var logs logtest.Buffer
	cfg := stripeConfig(url, key)
	cfg.ReconcileAfter = 50 * time.Millisecond
	e.start(cfg, &logs)
	id := e.order(e.customerID, 1999, "")
	e.pay(e.customer, id, "pm_card_visa") // refused by stripe-mock: the worker retries and logs
	expect.Within(t, 10*time.Second, func() error {
		if !strings.Contains(logs.String(), "payment worker") {
			return errors.New("the worker has not logged its retry yet")
		}
		return nil
	})
	err := e.webhook("whsec_forged", "evt_x", "payment_intent.succeeded", intent("pi_1", "x", "succeeded", nil))
	expect.Error(t, err, http.StatusBadRequest, "validation", "Stripe-Signature")
	if s := fmt.Sprint(cfg); strings.Contains(s, key) || strings.Contains(s, webhookSecret) {
		t.Fatalf("Config prints its secrets: %s", s)
	}
	out := logs.String()
	for _, secret := range []string{key, webhookSecret, "souk_must_never"} {
		if strings.Contains(out, secret) {
			t.Fatalf("a log line contains a secret:\n%s", out)
		}
	}
	if !strings.Contains(out, `"stripe_secret_key":"[redacted]"`) || !strings.Contains(out, "[redacted]") {
		t.Fatalf("the configuration was not logged redacted:\n%s", out)
	}
}

// TestBreakerOpensAndCreateAnswers503 points the stripe provider at a port nobody listens
// on: after BreakerFailures failed calls, PaymentCreate is refused at once and writes nothing.
func TestBreakerOpensAndCreateAnswers503(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	_ = l.Close()
	cfg := stripeConfig(dead, "sk_test_souk")
	cfg.BreakerFailures, cfg.BreakerOpenFor = 2, time.Hour
	e.start(cfg, nil)
	for range 2 {
		id := e.order(e.customerID, 1000, "")
		// The payment is written; the provider is not reached; the worker would retry.
		if p := e.pay(e.customer, id, "pm_card_visa"); p.Status != subjects.PaymentStatusProcessing {
			t.Fatalf("payment while the provider is down: %+v", p)
		}
	}
	id := e.order(e.customerID, 1000, "")
	_, err = subjects.PaymentCreate.Call(e.customer, e.nc, subjects.PaymentRequest{OrderID: id, PaymentMethod: "pm_card_visa"})
	expect.Error(t, err, http.StatusServiceUnavailable, "provider_unavailable", "")
	var se *subjects.Error
	if !errors.As(err, &se) || se.RetryAfter != 3600 {
		t.Fatalf("Retry-After of %v", err)
	}
	e.wantRows(0, `select count(*) from payments.payments where order_id = $1`, id)
}
