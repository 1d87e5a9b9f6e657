package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// probeTimeout bounds one probe: under the 5 s a container health check waits by default.
const probeTimeout = 3 * time.Second

// probeCommand asks this container's own souk process for path (/healthz by default,
// /readyz for readiness) and fails unless it answers 2xx: a health check for an image with
// no shell and no curl (distroless). It asks SOUK_OPS_ADDR when set (a process without a
// gateway), else the gateway's SOUK_HTTP_ADDR, on the loopback address when the setting
// listens on every address (":9090", "0.0.0.0:8080").
func probeCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, rest, err := parseConfig("souk probe", args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	path := "/healthz"
	if len(rest) > 0 {
		path = rest[0]
	}
	if !strings.HasPrefix(path, "/") {
		return fmt.Errorf("probe %q: want a path such as /healthz or /readyz", path)
	}
	addr := cfg.HTTPAddr
	if cfg.OpsAddr != "" {
		addr = cfg.OpsAddr
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	url := "http://" + net.JoinHostPort(host, port) + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %d %s", url, res.StatusCode, strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(stdout, "%s: %d\n", url, res.StatusCode)
	return nil
}
