// Command webhook-receiver is an example receiver of Souk's outgoing webhooks, the one the
// README's walkthrough runs: it checks each delivery's Souk-Signature with the endpoint's
// secret, answers 204 (or 401 to a bad signature, which Souk retries), and prints a line per
// delivery:
//
//	payment.refunded 0190c0de-… signature ok
//
// The secret is read from -secret-file at each delivery, so the receiver can start (and
// print its URL, on its first line) before the webhook is registered and its secret known.
//
// Usage: go run ./cmd/webhook-receiver -secret-file FILE [-addr 127.0.0.1:0]
package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (port 0: a free one)")
	secretFile := flag.String("secret-file", "", "file holding the webhook's secret (read at each delivery)")
	flag.Parse()
	if *secretFile == "" {
		fmt.Fprintln(os.Stderr, "webhook-receiver: -secret-file is required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "webhook-receiver:", err)
		os.Exit(1)
	}
	fmt.Printf("http://%s/souk\n", ln.Addr())
	srv := &http.Server{Handler: receiver(*secretFile), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "webhook-receiver:", err)
		os.Exit(1)
	}
}

// receiver answers each delivery: 204 when its signature checks out, 401 when not.
func receiver(secretFile string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		secret, err := os.ReadFile(secretFile)
		if err != nil {
			http.Error(w, "no secret yet", http.StatusServiceUnavailable)
			return
		}
		var event struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		}
		_ = json.Unmarshal(body, &event)
		if !verify(string(bytes.TrimSpace(secret)), r.Header.Get("Souk-Signature"), body) {
			fmt.Printf("%s %s bad signature\n", event.Type, event.ID)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		fmt.Printf("%s %s signature ok\n", event.Type, event.ID)
		w.WriteHeader(http.StatusNoContent)
	}
}

// verify is the README's check of Souk-Signature: "t=<unix seconds>,v1=<hex HMAC-SHA256 of
// "<t>.<body>">", within five minutes of now.
func verify(secret, header string, body []byte) bool {
	f := map[string]string{}
	for _, kv := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(kv, "=")
		f[k] = v
	}
	t, err := strconv.ParseInt(f["t"], 10, 64)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(f["t"] + "." + string(body)))
	return err == nil && time.Since(time.Unix(t, 0)).Abs() < 5*time.Minute && hmac.Equal([]byte(f["v1"]), []byte(hex.EncodeToString(mac.Sum(nil))))
}
