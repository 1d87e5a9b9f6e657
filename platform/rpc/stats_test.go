package rpc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/platform/rpc"
	"github.com/souk/souk/subjects"
)

// An instance's $SRV.STATS report the counts of its souk_rpc_requests_total: micro's
// num_requests all of them, the endpoint's data each status code and the errors, whether a
// request was answered by its handler, failed in it, panicked or was shed.
func TestStatsReportTheCountsOfTheSeries(t *testing.T) {
	_, nc := natstest.Server(t)
	reg := prometheus.NewRegistry()
	svc, err := rpc.New(rpc.Config{Name: "thing", Version: "0.0.1", MaxInFlight: 1}, rpc.Deps{Log: zerolog.Nop(), NC: nc, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop(context.Background()) })
	release, entered := make(chan struct{}), make(chan struct{}, 1)
	if err := svc.Add(rpc.BindRaw(ep, ep.Serve(func(ctx context.Context, r req) (req, error) {
		switch r.Mode {
		case "block":
			entered <- struct{}{}
			<-release
		case "missing":
			return r, &subjects.Error{Code: 404, Slug: "not-found", Message: "no such thing"}
		case "panic":
			panic("boom")
		}
		return r, nil
	}))); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	shedOne(t, nc, entered, release)
	for _, mode := range []string{"ok", "ok", "missing", "panic"} {
		_, _ = ep.Call(ctx, nc, req{Mode: mode})
	}
	want := map[string]uint64{"200": 3, "404": 1, "500": 1, "503": 1}
	expect.Within(t, 10*time.Second, func() error {
		if got := requestSeries(t, reg); !maps.Equal(got, want) {
			return fmt.Errorf("souk_rpc_requests_total by code %v, want %v", got, want)
		}
		st := allStats(t, nc, "thing", 1)[0]
		for _, e := range st.Endpoints {
			if e.Subject != ep.Subject {
				continue
			}
			var data rpc.EndpointStats
			if err := json.Unmarshal(e.Data, &data); err != nil {
				return fmt.Errorf("stats data %s: %w", e.Data, err)
			}
			if e.NumRequests != 6 || !maps.Equal(data.Requests, want) || data.Errors != 3 {
				return fmt.Errorf("$SRV.STATS num_requests %d, data %+v; want 6 and %v with 3 errors", e.NumRequests, data, want)
			}
			// micro itself sees only the request refused before a handler ran.
			if e.NumErrors != 1 {
				return fmt.Errorf("micro's num_errors %d, want the one shed", e.NumErrors)
			}
			return nil
		}
		return fmt.Errorf("no stats of %s in %+v", ep.Subject, st)
	})
}

// requestSeries is souk_rpc_requests_total{service="thing"} by code.
func requestSeries(t *testing.T, reg *prometheus.Registry) map[string]uint64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, f := range families {
		if f.GetName() != "souk_rpc_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["service"] == "thing" && labels["endpoint"] == ep.Subject {
				out[labels["code"]] = uint64(m.GetCounter().GetValue())
			}
		}
	}
	return out
}
