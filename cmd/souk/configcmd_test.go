package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/nats/natstest"
)

func TestConfigCommand(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	js, kv := natstest.Bucket(t, ctx, bus.BucketConfig)
	env := envOf(map[string]string{"NATS_URL": js.Conn().ConnectedUrl()})
	run := func(wantCode int, args ...string) string {
		t.Helper()
		var out, errs bytes.Buffer
		if code := cli(ctx, append([]string{"config"}, args...), env, &out, &errs); code != wantCode {
			t.Fatalf("souk config %v: exit %d, want %d\n%s%s", args, code, wantCode, out.String(), errs.String())
		}
		return out.String() + errs.String()
	}
	value := func(key string) string {
		t.Helper()
		e, err := kv.Get(ctx, key)
		if err != nil {
			return "(none)"
		}
		return string(e.Value())
	}

	run(0, "set", "gateway.rate_ip", "7")
	if got := value("gateway.rate_ip"); got != "7" {
		t.Fatalf("gateway.rate_ip %q after set 7", got)
	}
	// Refused at the door: out of bounds, unparsable, an unknown key. Nothing is put.
	for _, bad := range [][]string{{"gateway.rate_ip", "0"}, {"gateway.rate_ip", "lots"}, {"gateway.rate", "7"}, {"canary.order", "101"}} {
		if out := run(1, append([]string{"set"}, bad...)...); !strings.Contains(out, bad[0]) {
			t.Errorf("set %v: the refusal does not name the key:\n%s", bad, out)
		}
	}
	if got := value("gateway.rate_ip"); got != "7" {
		t.Fatalf("gateway.rate_ip %q after refused sets; want 7", got)
	}
	if got := value("canary.order"); got != "(none)" {
		t.Fatalf("canary.order %q after a refused set", got)
	}

	// A value put past the door (nats kv put) is shown refused.
	if _, err := kv.PutString(ctx, "features.checkout", "maybe"); err != nil {
		t.Fatal(err)
	}
	if out := run(0, "get", "features.checkout"); !strings.Contains(out, "REFUSED") || !strings.Contains(out, "on or off") {
		t.Fatalf("get of a refused value:\n%s", out)
	}
	run(0, "set", "canary.order", "25")
	out := run(0, "ls")
	for _, want := range []string{"gateway.rate_ip", "7", "SOUK_RATE_ACCOUNT", "canary.order", "25", "REFUSED", "log.level"} {
		if !strings.Contains(out, want) {
			t.Errorf("ls: no %q in\n%s", want, out)
		}
	}
	run(0, "rm", "gateway.rate_ip")
	if got := value("gateway.rate_ip"); got != "(none)" {
		t.Fatalf("gateway.rate_ip %q after rm", got)
	}
	if out := run(0, "get", "gateway.rate_ip"); !strings.Contains(out, "default, from SOUK_RATE_IP") {
		t.Fatalf("get after rm:\n%s", out)
	}
	run(1, "set", "gateway.rate_ip")
}
