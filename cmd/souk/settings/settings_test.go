package settings

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

var update = flag.Bool("update", false, "rewrite README.md's table of settings from the declaration")

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestSettingsPrecedence(t *testing.T) {
	t.Setenv("SOUK_RATE_IP", "7") // the process's environment is not the one given
	c, rest, err := Parse("t", []string{"-http-addr", "127.0.0.1:9000", "--reservation-ttl=1m", "user"}, envOf(map[string]string{
		"SOUK_HTTP_ADDR": "127.0.0.1:7000", "DATABASE_URL": "postgres://u:p@h/db", "SOUK_RESERVATION_TTL": "5m",
		"SOUK_CORS_ORIGINS": " https://a.example ,,https://b.example", "SOUK_BCRYPT_COST": "10", "SOUK_LOG_LEVEL": "",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{HTTPAddr: "127.0.0.1:9000", DatabaseURL: "postgres://u:p@h/db", ReservationTTL: time.Minute, BcryptCost: 10,
		CORSOrigins: List{"https://a.example", "https://b.example"}, LogLevel: "info", RateIP: 50, NATSListen: "127.0.0.1:4222"}
	got := Config{HTTPAddr: c.HTTPAddr, DatabaseURL: c.DatabaseURL, ReservationTTL: c.ReservationTTL, BcryptCost: c.BcryptCost,
		CORSOrigins: c.CORSOrigins, LogLevel: c.LogLevel, RateIP: c.RateIP, NATSListen: c.NATSListen, NATSListenExplicit: c.NATSListenExplicit}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("flag > environment > default:\n got %+v\nwant %+v", got, want)
	}
	if len(rest) != 1 || rest[0] != "user" {
		t.Fatalf("positional arguments: %v", rest)
	}
	for _, args := range [][]string{nil, {"-nats-listen", "127.0.0.1:4333"}} {
		env := map[string]string{}
		if args == nil {
			env["SOUK_NATS_LISTEN"] = "127.0.0.1:4333"
		}
		if c, _, err := Parse("t", args, envOf(env), io.Discard); err != nil || !c.NATSListenExplicit || c.NATSListen != "127.0.0.1:4333" {
			t.Fatalf("%v %v: an explicit listen address must be marked explicit: %+v %v", args, env, c, err)
		}
	}
}

func TestSettingsDefaultsAreValid(t *testing.T) {
	c, _, err := Parse("t", nil, envOf(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.SandboxDelay != 200*time.Millisecond || c.ActionTimeout != 10*time.Minute || c.CatalogCacheMB != 48 || c.MaxReads != 0 ||
		c.PaymentProvider != "sandbox" || c.ReviewURL != "http://127.0.0.1:8080/v1/products/{product_id}/reviews" || c.CORSOrigins != nil {
		t.Fatalf("defaults: %+v", c)
	}
}

// TestSettingsNamesKept pins every variable and flag that souk has answered to: scripts,
// the e2e tests and README.md use them.
func TestSettingsNamesKept(t *testing.T) {
	want := map[string]string{"SOUK_HTTP_ADDR": "http-addr", "SOUK_NATS_LISTEN": "nats-listen", "NATS_URL": "nats-url",
		"DATABASE_URL": "database-url", "SOUK_DATA_DIR": "data-dir", "SOUK_LOG_LEVEL": "log-level", "SOUK_LOG_FORMAT": "log-format",
		"SOUK_ADMIN_EMAIL": "admin-email", "SOUK_ADMIN_PASSWORD": "admin-password", "SOUK_CORS_ORIGINS": "cors-origins",
		"SOUK_LOGIN_ATTEMPTS": "login-attempts", "SOUK_LOGIN_EMAIL_ATTEMPTS": "login-email-attempts",
		"SOUK_LOGIN_EMAIL_WAIT": "login-email-wait", "SOUK_LOGIN_ADDRESS_ATTEMPTS": "login-address-attempts", "SOUK_SSE_PER_USER": "sse-per-user",
		"SOUK_RATE_IP": "rate-ip", "SOUK_RATE_ACCOUNT": "rate-account",
		"SOUK_VERIFY_URL": "verify-url", "SOUK_LOCALE": "locale", "SOUK_CURRENCY": "currency", "MEILI_URL": "meili-url",
		"SOUK_VERIFY_REDIRECT_URL": "verify-redirect-url", "SOUK_RESET_URL": "reset-url", "SOUK_REQUEST_TIMEOUT": "request-timeout",
		"MEILI_API_KEY": "meili-api-key", "SOUK_RESERVATION_TTL": "reservation-ttl", "SOUK_PAYMENT_PROVIDER": "payment-provider",
		"STRIPE_SECRET_KEY": "stripe-secret-key", "STRIPE_WEBHOOK_SECRET": "stripe-webhook-secret", "STRIPE_API_URL": "stripe-api-url",
		"SOUK_SANDBOX_DELAY": "sandbox-delay", "SOUK_PAYMENT_ACTION_TIMEOUT": "payment-action-timeout", "SOUK_BCRYPT_COST": "bcrypt-cost",
		"SOUK_PPROF_ADDR": "pprof-addr", "SOUK_OPS_ADDR": "ops-addr", "SOUK_SMTP_URL": "smtp-url", "SOUK_REVIEW_URL": "review-url", "SOUK_MAX_READS": "max-reads", "SOUK_MAX_CHECKOUTS": "max-checkouts", "SOUK_HELD_RETRIES": "held-retries",
		"SOUK_CATALOG_CACHE_MB": "catalog-cache-mb", "SOUK_SEARCH_MAX_MATCHES": "search-max-matches", "SOUK_SEARCH_CONNS": "search-conns", "SOUK_CATALOG_RELAY_RATE": "catalog-relay-rate", "SOUK_SECRET_KEY": "secret-key", "SOUK_SECRET_KEYS_OLD": "secret-keys-old",
		"SOUK_WEBHOOK_ALLOW_PRIVATE": "webhook-allow-private",
		"SOUK_NATS_LEAF_LISTEN":      "nats-leaf-listen", "SOUK_LEAF_URL": "leaf", "SOUK_SITE": "site",
		"SOUK_NATS_REPLICAS": "nats-replicas", "SOUK_NATS_USER": "nats-user", "SOUK_NATS_PASSWORD": "nats-password",
		"SOUK_NATS_CA": "nats-ca", "SOUK_NATS_CERT": "nats-cert", "SOUK_NATS_KEY": "nats-key", "SOUK_CANARY": "canary",
		"SOUK_LOG_STREAM": "log-stream", "SOUK_LOG_MAX_MB": "log-max-mb", "SOUK_LOG_MAX_AGE": "log-max-age"}
	for env, flag := range map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "otel-exporter-otlp-endpoint",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "otel-exporter-otlp-traces-endpoint", "OTEL_EXPORTER_OTLP_PROTOCOL": "otel-exporter-otlp-protocol",
		"OTEL_TRACES_EXPORTER": "otel-traces-exporter", "OTEL_TRACES_SAMPLER": "otel-traces-sampler", "OTEL_TRACES_SAMPLER_ARG": "otel-traces-sampler-arg"} {
		want[env] = flag
	}

	got := map[string]string{}
	for _, s := range declared() {
		got[s.env] = s.flag
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("settings:\n got %v\nwant %v", got, want)
	}
}

func TestSettingsValidationNamesTheSetting(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		args []string
		name string // what the error must say
	}{
		{env: map[string]string{"SOUK_HTTP_ADDR": "nonsense"}, name: `SOUK_HTTP_ADDR (-http-addr) "nonsense": want host:port`},
		{args: []string{"-pprof-addr", "6060"}, name: "SOUK_PPROF_ADDR (-pprof-addr)"},
		{env: map[string]string{"NATS_URL": "nats://n:4222", "SOUK_CANARY": "rc 1"}, name: `SOUK_CANARY (-canary) "rc 1": want 1 to 64`},
		{env: map[string]string{"SOUK_CANARY": "rc1"}, name: "SOUK_CANARY needs NATS_URL"},
		{env: map[string]string{"SOUK_ADMIN_EMAIL": "a@b.c"}, name: "SOUK_ADMIN_EMAIL and SOUK_ADMIN_PASSWORD"},
		{env: map[string]string{"SOUK_LOG_FORMAT": "xml"}, name: `SOUK_LOG_FORMAT (-log-format) "xml": want json or console`},
		{env: map[string]string{"SOUK_LOG_LEVEL": "loud"}, name: "SOUK_LOG_LEVEL"},
		{env: map[string]string{"SOUK_LOGIN_ATTEMPTS": "0"}, name: "SOUK_LOGIN_ATTEMPTS (-login-attempts) \"0\": want a whole number from 1 to 1000000"},
		{env: map[string]string{"SOUK_RATE_IP": "fast"}, name: "SOUK_RATE_IP (-rate-ip) \"fast\": want a whole number"},
		{args: []string{"-rate-account", "fast"}, name: "SOUK_RATE_ACCOUNT (-rate-account)"},
		{env: map[string]string{"SOUK_CATALOG_CACHE_MB": "-1"}, name: "SOUK_CATALOG_CACHE_MB"},
		{env: map[string]string{"SOUK_MAX_READS": "-2"}, name: "SOUK_MAX_READS"},
		{env: map[string]string{"SOUK_BCRYPT_COST": "32"}, name: "SOUK_BCRYPT_COST (-bcrypt-cost) \"32\": want a whole number from 10 to 31"},
		{env: map[string]string{"SOUK_RESERVATION_TTL": "15"}, name: "SOUK_RESERVATION_TTL (-reservation-ttl) \"15\": want a duration such as 15m, from 1s to 24h"},
		{env: map[string]string{"SOUK_SANDBOX_DELAY": "0s"}, name: "SOUK_SANDBOX_DELAY"}, // would mean the payment service's default
		{env: map[string]string{"SOUK_PAYMENT_ACTION_TIMEOUT": "25h"}, name: "SOUK_PAYMENT_ACTION_TIMEOUT"},
		{env: map[string]string{"SOUK_PAYMENT_PROVIDER": "paypal"}, name: `SOUK_PAYMENT_PROVIDER (-payment-provider) "paypal": want sandbox or stripe`},
		{env: map[string]string{"SOUK_PAYMENT_PROVIDER": "stripe"}, name: "SOUK_PAYMENT_PROVIDER stripe needs STRIPE_SECRET_KEY"},
		{env: map[string]string{"STRIPE_API_URL": "127.0.0.1:12111"}, name: "STRIPE_API_URL"},
		{env: map[string]string{"MEILI_URL": "meili:7700"}, name: "MEILI_URL"},
		{env: map[string]string{"SOUK_VERIFY_URL": "/verify?token="}, name: "SOUK_VERIFY_URL"},
		{env: map[string]string{"SOUK_SMTP_URL": "http://mail.example.com?from=shop@example.com"}, name: "SOUK_SMTP_URL (-smtp-url)"},
		{env: map[string]string{"SOUK_SMTP_URL": "smtp://u:p@mail.example.com:587"}, name: "SOUK_SMTP_URL (-smtp-url) \"smtp://u:xxxxx@mail.example.com:587\": ?from="},
		{env: map[string]string{"SOUK_REVIEW_URL": "https://shop.example.com/reviews"}, name: "SOUK_REVIEW_URL (-review-url)"},
		{env: map[string]string{"SOUK_NATS_REPLICAS": "6", "NATS_URL": "nats://a:4222"}, name: "SOUK_NATS_REPLICAS (-nats-replicas) \"6\": want a whole number from 1 to 5"},
		{env: map[string]string{"SOUK_NATS_REPLICAS": "3"}, name: "SOUK_NATS_REPLICAS 3 needs NATS_URL"},
	} {
		_, _, err := Parse("t", tc.args, envOf(tc.env), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%v %v: want an error with %q, got %v", tc.env, tc.args, tc.name, err)
		}
	}
	// Every error at once, so a newcomer fixes them in one go.
	_, _, err := Parse("t", nil, envOf(map[string]string{"SOUK_RATE_IP": "fast", "SOUK_LOG_FORMAT": "xml"}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "SOUK_RATE_IP") || !strings.Contains(err.Error(), "SOUK_LOG_FORMAT") {
		t.Fatalf("want both errors: %v", err)
	}
}

// TestSettingsWebhookAllowPrivate: the first boolean setting is off by default, on from its
// variable or from its flag alone (which must not swallow the next argument), and logged as
// a boolean; anything but a boolean is an error naming it.
func TestSettingsWebhookAllowPrivate(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want bool
	}{
		{want: false},
		{env: map[string]string{"SOUK_WEBHOOK_ALLOW_PRIVATE": "true"}, want: true},
		{args: []string{"-webhook-allow-private", "notification"}, want: true},
		{env: map[string]string{"SOUK_WEBHOOK_ALLOW_PRIVATE": "true"}, args: []string{"-webhook-allow-private=false", "notification"}, want: false},
	} {
		c, rest, err := Parse("t", tc.args, envOf(tc.env), io.Discard)
		if err != nil || c.WebhookAllowPrivate != tc.want || (tc.args != nil && (len(rest) != 1 || rest[0] != "notification")) {
			t.Fatalf("%v %v: %v, rest %v, %v; want %v", tc.env, tc.args, c.WebhookAllowPrivate, rest, err, tc.want)
		}
		var buf bytes.Buffer
		log := zerolog.New(&buf)
		log.Info().Object("config", c).Msg("x")
		if want := fmt.Sprintf(`"webhook_allow_private":%v`, tc.want); !strings.Contains(buf.String(), want) {
			t.Fatalf("the log lacks %s: %s", want, buf.String())
		}
	}
	_, _, err := Parse("t", nil, envOf(map[string]string{"SOUK_WEBHOOK_ALLOW_PRIVATE": "yes please"}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "SOUK_WEBHOOK_ALLOW_PRIVATE (-webhook-allow-private)") {
		t.Fatalf("want an error naming the setting, got %v", err)
	}
}

// secrets is an environment full of secrets, each a distinct word to look for.
var secrets = map[string]string{
	"DATABASE_URL": "postgres://souk:db-secret@h/db", "SOUK_ADMIN_EMAIL": "a@b.c", "SOUK_ADMIN_PASSWORD": "admin-secret-123",
	"MEILI_URL": "http://meili:meili-url-secret@meili:7700", "MEILI_API_KEY": "meili-secret-456", "STRIPE_SECRET_KEY": "sk_test_secret789",
	"STRIPE_WEBHOOK_SECRET": "whsec_secret012", "SOUK_SMTP_URL": "smtp://shop:smtp-secret-345@mail.example.com:587?from=shop@example.com",
}

func assertNoSecret(t *testing.T, what, s string) {
	t.Helper()
	for _, word := range []string{"db-secret", "admin-secret-123", "meili-url-secret", "meili-secret-456", "secret789", "secret012", "smtp-secret-345"} {
		if strings.Contains(s, word) {
			t.Fatalf("%s shows %s: %s", what, word, s)
		}
	}
}

func TestSettingsLogRedactsSecrets(t *testing.T) {
	c, _, err := Parse("t", nil, envOf(secrets), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := zerolog.New(&buf)
	log.Info().Object("config", c).Msg("x")
	assertNoSecret(t, "the log", buf.String())
	for _, want := range []string{`"admin_password_set":true`, `"stripe_webhook_secret_set":true`, `"database_url":"postgres://souk:xxxxx@h/db"`,
		`"reservation_ttl":"15m0s"`, `"bcrypt_cost":12`, `"smtp_url":"smtp://shop:xxxxx@mail.example.com:587?from=shop@example.com"`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("the log lacks %s: %s", want, buf.String())
		}
	}
}

func TestSettingsErrorsKeepSecrets(t *testing.T) {
	env := map[string]string{"SOUK_SMTP_URL": "smtps://shop:smtp-secret-345@mail.example.com", "MEILI_URL": "meili:meili-url-secret@x",
		"SOUK_ADMIN_PASSWORD": "admin-secret-123"}
	_, _, err := Parse("t", nil, envOf(env), io.Discard)
	if err == nil {
		t.Fatal("accepted")
	}
	assertNoSecret(t, "the error", err.Error())
}

func TestHelpShowsDeclaredDefaultsNotTheEnvironment(t *testing.T) {
	env := map[string]string{"SOUK_HTTP_ADDR": "10.9.8.7:6543"}
	for k, v := range secrets {
		env[k] = v
	}
	var out bytes.Buffer
	_, _, err := Parse("souk run [flags] [targets]", []string{"-h"}, envOf(env), &out, func(fs *flag.FlagSet) {
		fs.Int("products", 5000, "number of demo products")
	})
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("want flag.ErrHelp, got %v", err)
	}
	var all bytes.Buffer
	PrintHelp(&all)
	for what, help := range map[string]string{"souk run -h": out.String(), "PrintHelp": all.String()} {
		assertNoSecret(t, what, help)
		if strings.Contains(help, "10.9.8.7") {
			t.Fatalf("%s shows the environment's value as a default:\n%s", what, help)
		}
		for _, s := range declared() {
			if !strings.Contains(help, "-"+s.flag+" ") || !strings.Contains(help, "$"+s.env) {
				t.Fatalf("%s lacks -%s or $%s:\n%s", what, s.flag, s.env, help)
			}
		}
		if !strings.Contains(help, `(default "127.0.0.1:8080")`) {
			t.Fatalf("%s lacks the declared default:\n%s", what, help)
		}
	}
	if !strings.HasPrefix(out.String(), "usage: souk run [flags] [targets]\n") || !strings.Contains(out.String(), "-products int\n") {
		t.Fatalf("help of a command:\n%s", out.String())
	}
}

const (
	readme      = "../../../README.md"
	tableBegin  = "<!-- settings: generated from cmd/souk/settings; go test ./cmd/souk/settings -run README -update -->\n"
	tableEnd    = "<!-- end of settings -->\n"
	tableAbsent = "README.md has no table of settings between the markers"
)

// TestREADMETableIsTheDeclaration keeps README.md's table of settings equal to the
// declaration; -update rewrites it.
func TestREADMETableIsTheDeclaration(t *testing.T) {
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	before, rest, ok := strings.Cut(text, tableBegin)
	table, after, ok2 := strings.Cut(rest, tableEnd)
	if !ok || !ok2 {
		t.Fatal(tableAbsent)
	}
	if want := Markdown(); table != want {
		if !*update {
			t.Fatalf("README.md's table of settings differs from the declaration: run go test ./cmd/souk/settings -run README -update\n got:\n%s\nwant:\n%s", table, want)
		}
		if err := os.WriteFile(readme, []byte(before+tableBegin+want+tableEnd+after), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
