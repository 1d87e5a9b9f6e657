package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/souk/souk/nats/natstest"
)

// TestNATSAccountsGenerated keeps nats/accounts.conf equal to what souk nats-accounts
// generates from the declarations: a service that starts calling, publishing or consuming
// something new changes its permissions, and the committed file with them.
func TestNATSAccountsGenerated(t *testing.T) {
	var out bytes.Buffer
	if code := cli(t.Context(), []string{"nats-accounts"}, func(string) string { return "" }, &out, &out); code != 0 {
		t.Fatalf("souk nats-accounts exited %d: %s", code, out.String())
	}
	file := filepath.Join(natstest.ConfDir(), "accounts.conf")
	committed, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, out.Bytes()) {
		t.Fatalf("nats/accounts.conf differs from the declarations: go run ./cmd/souk nats-accounts > nats/accounts.conf")
	}
}
