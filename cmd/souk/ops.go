package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/souk/souk/gateway"
)

// opsPingTimeout bounds /readyz's PostgreSQL ping, as gateway.PingTimeout bounds its wait
// for a service: a probe answers within its own timeout.
const opsPingTimeout = gateway.PingTimeout

// runOps serves the operations endpoints of a process that runs no gateway on addr until
// ctx ends, so that Kubernetes probes and Prometheus reach every pod (the gateway serves
// them on its own port):
//
//	/healthz  200 while the process runs: it asks nothing of NATS or PostgreSQL
//	/readyz   200 when NATS is connected, PostgreSQL answers and every service of the process
//	          serves with every loop up (kit.Health); else 503, problem+json naming what is
//	          missing, as the gateway's /readyz does
//	/metrics  the process's Prometheus registry
//
// A taken address is an error that stops the process, as the gateway's is.
func runOps(ctx context.Context, e *env, addr string) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, "application/json", http.StatusOK, gateway.Status{Status: "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		missing := opsMissing(r.Context(), e)
		if len(missing) == 0 {
			writeJSON(w, "application/json", http.StatusOK, gateway.Status{Status: "ok"})
			return
		}
		writeJSON(w, gateway.MIMEProblem, http.StatusServiceUnavailable, gateway.Problem{Type: "about:blank",
			Title: http.StatusText(http.StatusServiceUnavailable), Status: http.StatusServiceUnavailable,
			Detail: "not ready", Instance: r.URL.Path, Missing: missing})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(e.registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	e.log.Info().Str("addr", l.Addr().String()).Msg("ops listener: /healthz, /readyz, /metrics")
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// opsMissing is what keeps this process from being ready: "nats" while the connection is
// down, "postgres" while the database does not answer a ping, then each service of the
// process that does not serve or has a loop down.
func opsMissing(ctx context.Context, e *env) []string {
	var missing []string
	if !e.nc.IsConnected() {
		missing = append(missing, "nats")
	}
	if e.db != nil {
		ctx, cancel := context.WithTimeout(ctx, opsPingTimeout)
		defer cancel()
		if e.db.Ping(ctx) != nil {
			missing = append(missing, "postgres")
		}
	}
	return append(missing, e.health.Missing()...)
}

func writeJSON(w http.ResponseWriter, contentType string, status int, body any) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
