package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/souk/souk/internal/logtest"
)

// TestSecondShopOnOneDataDirFailsAtOnce starts a shop, then a second `souk run` on the same
// data directory with its own HTTP and NATS ports (so no port clash can stop it): it must
// refuse at once, name the directory and the first shop's pid, and open nothing there,
// while the first shop keeps serving.
func TestSecondShopOnOneDataDirFailsAtOnce(t *testing.T) {
	first := startShop(t, nil)
	dir := first.env["SOUK_DATA_DIR"]

	env := map[string]string{}
	for k, v := range first.env {
		env[k] = v
	}
	env["SOUK_HTTP_ADDR"] = freeAddr(t)
	env["SOUK_NATS_LISTEN"] = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &logtest.Buffer{}
	exited := make(chan int, 1)
	go func() { exited <- cli(ctx, []string{"run"}, func(k string) string { return env[k] }, io.Discard, logs) }()
	var code int
	select {
	case code = <-exited:
	case <-time.After(10 * time.Second):
		cancel()
		<-exited
		t.Fatalf("a second souk ran beside the first on data directory %s; its logs:\n%s", dir, logs.String())
	}
	out := logs.String()
	if code == 0 {
		t.Fatalf("second souk exited 0: %s", out)
	}
	want := fmt.Sprintf("pid %d", os.Getpid())
	if !strings.Contains(out, dir) || !strings.Contains(out, want) || !strings.Contains(out, "in use") {
		t.Errorf("message does not name the directory %s, %q and say it is in use:\n%s", dir, want, out)
	}
	if strings.Contains(out, "NATS server") || strings.Contains(out, "migrat") {
		t.Errorf("the second souk got as far as the NATS server or the database:\n%s", out)
	}
	// The first shop is untouched: still ready, its lock file still names it.
	r := first.do("GET", "/readyz", nil, "")
	if r.status != 200 {
		t.Errorf("first shop readyz %d after the second start: %s", r.status, r.body)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "souk.lock")); err != nil || !strings.Contains(string(b), fmt.Sprint(os.Getpid())) {
		t.Errorf("lock file: %q, %v", b, err)
	}
}
