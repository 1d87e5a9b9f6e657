package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/souk/souk/nats/natstest"
)

// The shipped nats/canary.conf, which the SOUK account of nats/accounts.conf includes, maps
// nothing: every service's requests go to its stable instances until an operator prints
// shares into it. Shares out of range or of unknown services are refused.
func TestShippedCanaryConfMapsNothing(t *testing.T) {
	var out, errs bytes.Buffer
	if code := cli(t.Context(), []string{"canary", "catalog=0"}, func(string) string { return "" }, &out, &errs); code != 0 {
		t.Fatalf("souk canary exited %d: %s", code, errs.String())
	}
	committed, err := os.ReadFile(filepath.Join(natstest.ConfDir(), "canary.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, out.Bytes()) {
		t.Fatalf("nats/canary.conf is not the block of no canary: go run ./cmd/souk canary catalog=0 > nats/canary.conf")
	}
	for arg, want := range map[string]string{"catalog=101": "want a whole number from 0 to 100", "basket=5": "a service of", "catalog": "want <service>=<percent>"} {
		errs.Reset()
		if code := cli(t.Context(), []string{"canary", arg}, func(string) string { return "" }, &out, &errs); code != 1 || !strings.Contains(errs.String(), want) {
			t.Errorf("souk canary %s: exit %d, %q; want 1 and %q", arg, code, errs.String(), want)
		}
	}
}
