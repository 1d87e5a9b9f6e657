package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/souk/souk/platform/seal"
)

// TestHelpPrintsNoSecretOfTheEnvironment runs `souk --help` and each command's help with a
// secret in every secret variable of the process's real environment: the help shows the
// declared defaults, never a value of the environment.
func TestHelpPrintsNoSecretOfTheEnvironment(t *testing.T) {
	key, old := seal.Generate(), seal.Generate()
	secrets := map[string]string{
		"DATABASE_URL":          "postgres://souk:db-pass-6021@db.internal:5432/souk",
		"SOUK_ADMIN_EMAIL":      "root@shop.example",
		"SOUK_ADMIN_PASSWORD":   "admin-pass-6022",
		"MEILI_URL":             "https://meili:meili-pass-6023@meili.internal",
		"MEILI_API_KEY":         "meili-key-6024",
		"STRIPE_SECRET_KEY":     "sk_live_6025",
		"STRIPE_WEBHOOK_SECRET": "whsec_6026",
		"SOUK_SMTP_URL":         "smtps://shop:smtp-pass-6027@mail.internal:465?from=shop@shop.example",
		"SOUK_SECRET_KEY":       key,
		"SOUK_SECRET_KEYS_OLD":  old,
		"SOUK_HTTP_ADDR":        "10.1.2.3:6028",
	}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	words := []string{"db-pass-6021", "admin-pass-6022", "meili-pass-6023", "meili-key-6024", "6025", "6026", "smtp-pass-6027", key, old, "6028"}
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"run", "-h"}, {"run", "--help"}, {"migrate", "-h"}, {"seed", "--help"}} {
		var out, errOut bytes.Buffer
		code := cli(context.Background(), args, os.Getenv, &out, &errOut)
		printed := out.String() + errOut.String()
		if code != 0 && args[0] != "help" || !strings.Contains(printed, "-database-url") {
			t.Fatalf("souk %v: exit %d:\n%s", args, code, printed)
		}
		for _, w := range words {
			if strings.Contains(printed, w) {
				t.Fatalf("souk %v prints %q from the environment:\n%s", args, w, printed)
			}
		}
	}
}

// TestDataKey: a development shop (embedded NATS) makes its key once in the data directory,
// readable by its owner only, and keeps it; a process joining NATS_URL that runs a service
// that seals must be given SOUK_SECRET_KEY; one that runs none needs no key.
func TestDataKey(t *testing.T) {
	dir := t.TempDir()
	log := zerolog.Nop()
	all, _, _ := targets(nil)
	first, err := dataKey(Config{DataDir: dir}, all, log)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, devKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("development key file: %v %v", fi, err)
	}
	again, err := dataKey(Config{DataDir: dir}, all, log)
	if err != nil || again.ID() != first.ID() {
		t.Fatalf("the development key changed on restart: %v", err)
	}

	production := Config{DataDir: t.TempDir(), NATSURL: "nats://nats.internal:4222"}
	for _, name := range []string{"auth", "notification"} {
		picked, _, _ := targets([]string{name})
		_, err := dataKey(production, picked, log)
		if err == nil || !strings.Contains(err.Error(), "SOUK_SECRET_KEY (or SOUK_SECRET_KEY_FILE) is required") {
			t.Fatalf("%s with NATS_URL and no key: %v", name, err)
		}
	}
	if entries, _ := os.ReadDir(production.DataDir); len(entries) != 0 {
		t.Fatalf("a key was made for a production process: %v", entries)
	}
	picked, _, _ := targets([]string{"order", "gateway"})
	if r, err := dataKey(production, picked, log); r != nil || err != nil {
		t.Fatalf("order needs no key: %v %v", r, err)
	}
	key := seal.Generate()
	production.SecretKey = key
	r, err := dataKey(production, all, log)
	if err != nil || r.ID() != seal.MustParse(key).ID() {
		t.Fatalf("SOUK_SECRET_KEY: %v", err)
	}
}
