package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/souk/souk/platform/seal"
)

// TestEndToEndSecretsFromFiles runs the shop with its data-encryption key and the admin's
// password given as files (SOUK_SECRET_KEY_FILE, SOUK_ADMIN_PASSWORD_FILE), as Kubernetes or
// Vault Agent give them: the admin logs in with the file's password, no development key is
// made, the signing key and a webhook's secret are sealed in PostgreSQL under the file's key,
// and neither secret is in the log.
func TestEndToEndSecretsFromFiles(t *testing.T) {
	dir := t.TempDir()
	key := seal.Generate()
	keyFile, passwordFile := filepath.Join(dir, "secret-key"), filepath.Join(dir, "admin-password")
	for path, text := range map[string]string{keyFile: key + "\n", passwordFile: adminPassword + "\n"} {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := startShop(t, map[string]string{"SOUK_SECRET_KEY_FILE": keyFile, "SOUK_ADMIN_PASSWORD": "", "SOUK_ADMIN_PASSWORD_FILE": passwordFile})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", s.logs.String())
		}
	})
	admin, _ := s.login(adminEmail, adminPassword)
	r := s.do("POST", "/v1/admin/webhooks", map[string]any{"url": "https://93.184.215.14/souk", "events": []string{"order.paid"}}, admin)
	s.expect(r, 201, "create a webhook")
	hook := r.json(t)
	secret, _ := hook["secret"].(string)
	if secret == "" {
		t.Fatalf("webhook: %v", hook)
	}
	if _, err := os.Stat(filepath.Join(s.env["SOUK_DATA_DIR"], devKeyFile)); !os.IsNotExist(err) {
		t.Fatalf("a development key was made beside SOUK_SECRET_KEY_FILE: %v", err)
	}

	ring := seal.MustParse(key)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := pgx.Connect(ctx, s.env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	for _, q := range []struct{ sql, table, column string }{
		{`select kid, private_key, private_key_sealed from auth.signing_keys`, "auth.signing_keys", "private_key"},
		{`select id::text, convert_to(secret, 'UTF8'), secret_sealed from notify.webhook_endpoints`, "notify.webhook_endpoints", "secret"},
	} {
		var id string
		var clear, sealed []byte
		if err := db.QueryRow(ctx, q.sql).Scan(&id, &clear, &sealed); err != nil {
			t.Fatal(err)
		}
		plain, err := ring.Open(sealed, seal.Place{Table: q.table, Column: q.column, Row: id})
		if clear != nil || err != nil || len(plain) == 0 {
			t.Fatalf("%s of %s: in clear %v, opens with the file's key: %v", q.table, id, clear != nil, err)
		}
		if q.column == "secret" && string(plain) != secret {
			t.Fatalf("the stored webhook secret is not the one given")
		}
	}
	for _, word := range []string{key, adminPassword, secret} {
		if strings.Contains(s.logs.String(), word) {
			t.Fatalf("the log holds a secret")
		}
	}
}
