package main

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// The declaration, its parsing and validation are tested in package settings; these test
// how the commands use it.

func TestConfigOfACommand(t *testing.T) {
	c, rest, err := parseConfig("souk run", []string{"-http-addr", "127.0.0.1:9000", "user"}, envOf(map[string]string{
		"SOUK_HTTP_ADDR": "127.0.0.1:7000", "SOUK_RATE_IP": "7",
	}), io.Discard)
	if err != nil || c.HTTPAddr != "127.0.0.1:9000" || c.RateIP != 7 || len(rest) != 1 || rest[0] != "user" {
		t.Fatalf("%+v %v %v", c, rest, err)
	}
	if _, _, err := parseConfig("souk migrate", nil, envOf(map[string]string{"SOUK_RATE_IP": "fast"}), io.Discard); err == nil ||
		!strings.Contains(err.Error(), "SOUK_RATE_IP") {
		t.Fatalf("want an error naming SOUK_RATE_IP, got %v", err)
	}
}

func TestHelpOfEveryCommandShowsNoSecret(t *testing.T) {
	env := envOf(map[string]string{"SOUK_ADMIN_EMAIL": "a@b.c", "SOUK_ADMIN_PASSWORD": "admin-secret-123",
		"STRIPE_SECRET_KEY": "sk_test_secret789", "DATABASE_URL": "postgres://souk:db-secret@h/db"})
	for _, tc := range []struct {
		args []string
		want string
		// flags: the help lists every setting (a command's help), not the commands.
		flags bool
	}{
		{[]string{"--help"}, "usage: souk <command>", false},
		{[]string{"help"}, "usage: souk <command>", false},
		{[]string{"-h"}, "usage: souk <command>", false},
		{[]string{"run", "--help"}, "usage: souk run [flags] [all|gateway|<service> ...]", true},
		{[]string{"help", "run"}, "usage: souk run [flags] [all|gateway|<service> ...]", true},
		{[]string{"migrate", "-h"}, "usage: souk migrate [flags]", true},
		{[]string{"seed", "-h"}, "-products int", true},
	} {
		var stdout, stderr bytes.Buffer
		code := cli(t.Context(), tc.args, env, &stdout, &stderr)
		out := stdout.String() + stderr.String()
		hasFlags := strings.Contains(out, "-admin-password string") && strings.Contains(out, "$STRIPE_SECRET_KEY")
		if code != 0 || !strings.Contains(out, tc.want) || hasFlags != tc.flags {
			t.Fatalf("%v: exit %d, settings listed %v, want %v:\n%s", tc.args, code, hasFlags, tc.flags, out)
		}
		if !tc.flags {
			// souk --help is the commands, a line each.
			for _, c := range []string{"run", "migrate", "seed", "services", "version", "help"} {
				if !strings.Contains(out, "\n  "+c+" ") {
					t.Fatalf("%v does not list the command %s:\n%s", tc.args, c, out)
				}
			}
		}
		for _, secret := range []string{"admin-secret-123", "secret789", "db-secret"} {
			if strings.Contains(out, secret) {
				t.Fatalf("%v shows %s:\n%s", tc.args, secret, out)
			}
		}
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
