package main

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigFlagsWinOverEnvironment(t *testing.T) {
	c, rest, err := parseConfig("t", []string{"-http-addr", "127.0.0.1:9000", "user"}, envOf(map[string]string{
		"SOUK_HTTP_ADDR": "127.0.0.1:7000", "DATABASE_URL": "postgres://u:p@h/db",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:9000" || c.DatabaseURL != "postgres://u:p@h/db" || c.NATSListen != defaultNATSListen || c.natsExplicit {
		t.Fatalf("config: %+v", c)
	}
	if len(rest) != 1 || rest[0] != "user" {
		t.Fatalf("targets: %v", rest)
	}
	if c, _, _ = parseConfig("t", nil, envOf(map[string]string{"SOUK_NATS_LISTEN": "127.0.0.1:4333"}), io.Discard); !c.natsExplicit {
		t.Fatal("an explicit SOUK_NATS_LISTEN must be marked explicit")
	}
}

func TestConfigRefusesNonsense(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"addr":           {"SOUK_HTTP_ADDR": "nonsense"},
		"admin half":     {"SOUK_ADMIN_EMAIL": "a@b.c"},
		"log format":     {"SOUK_LOG_FORMAT": "xml"},
		"login attempts": {"SOUK_LOGIN_ATTEMPTS": "0"},
		"rate":           {"SOUK_RATE_IP": "fast"},
		"catalog cache":  {"SOUK_CATALOG_CACHE_MB": "-1"},
		"reservation":    {"SOUK_RESERVATION_TTL": "15"},
		"sandbox zero":   {"SOUK_SANDBOX_DELAY": "0s"}, // would mean the payment service's default
		"provider":       {"SOUK_PAYMENT_PROVIDER": "paypal"},
		"stripe no key":  {"SOUK_PAYMENT_PROVIDER": "stripe"},
		"smtp scheme":    {"SOUK_SMTP_URL": "http://mail.example.com?from=shop@example.com"},
		"smtp no from":   {"SOUK_SMTP_URL": "smtp://u:p@mail.example.com:587"},
		"review url":     {"SOUK_REVIEW_URL": "https://shop.example.com/reviews"},
	} {
		if _, _, err := parseConfig("t", nil, envOf(env), io.Discard); err == nil {
			t.Errorf("%s: accepted %v", name, env)
		}
	}
}

func TestConfigLogRedactsSecrets(t *testing.T) {
	c, _, err := parseConfig("t", nil, envOf(map[string]string{
		"DATABASE_URL": "postgres://souk:db-secret@h/db", "SOUK_ADMIN_EMAIL": "a@b.c", "SOUK_ADMIN_PASSWORD": "admin-secret-123",
		"MEILI_API_KEY": "meili-secret-456", "STRIPE_SECRET_KEY": "sk_test_secret789", "STRIPE_WEBHOOK_SECRET": "whsec_secret012",
		"SOUK_SMTP_URL": "smtp://shop:smtp-secret-345@mail.example.com:587?from=shop@example.com",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := zerolog.New(&buf)
	log.Info().Object("config", c).Msg("x")
	if strings.Contains(buf.String(), "db-secret") || strings.Contains(buf.String(), "admin-secret-123") || strings.Contains(buf.String(), "meili-secret-456") ||
		strings.Contains(buf.String(), "secret789") || strings.Contains(buf.String(), "secret012") || strings.Contains(buf.String(), "smtp-secret-345") {
		t.Fatalf("secret in the log: %s", buf.String())
	}
}

func TestTargets(t *testing.T) {
	if s, gw, err := targets(nil); err != nil || !gw || len(s) != len(services) {
		t.Fatal("no target must mean all")
	}
	if s, gw, err := targets([]string{"auth", "auth"}); err != nil || gw || len(s) != 1 {
		t.Fatal("one service, once, no gateway")
	}
	if _, _, err := targets([]string{"nope"}); err == nil {
		t.Fatal("unknown target accepted")
	}
}

func TestExplicitNATSPortTakenIsAnError(t *testing.T) {
	addr := freeAddr(t)
	ln, err := netListen(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var out bytes.Buffer
	code := cli(t.Context(), []string{"run", "gateway"}, envOf(map[string]string{"SOUK_NATS_LISTEN": addr, "SOUK_DATA_DIR": t.TempDir()}), io.Discard, &out)
	if code == 0 || !strings.Contains(out.String(), "already in use") {
		t.Fatalf("exit %d: %s", code, out.String())
	}
}

func netListen(addr string) (io.Closer, error) { return net.Listen("tcp", addr) }
