package rpc_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/platform/background"
	"github.com/souk/souk/platform/rpc"
)

// A service with loops serves their state on its loops endpoint and in the stats of that
// endpoint, from every instance; the gauge of two instances sharing a registry says down while
// either has the loop down, and forgets an instance that stopped.
func TestLoopStateIsServedAndMeasured(t *testing.T) {
	_, nc := natstest.Server(t)
	reg := prometheus.NewRegistry()
	start := func(loop func(context.Context) error) *rpc.Service {
		g := background.Start(context.Background(), zerolog.Nop(), background.WithBackoff(background.Backoff{Min: time.Hour}))
		t.Cleanup(g.Stop)
		g.Go("relay", loop)
		svc, err := rpc.New(rpc.Config{Name: "thing", Version: "0.0.1"}, rpc.Deps{Log: zerolog.Nop(), NC: nc, Registry: reg, Loops: g})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = svc.Stop(context.Background()) })
		return svc
	}
	broken := start(func(context.Context) error { return errors.New("recovery failed") })
	start(func(ctx context.Context) error { <-ctx.Done(); return nil })

	expect.Within(t, 10*time.Second, func() error {
		if up := gauge(t, reg, "relay"); up != 0 {
			return errors.New("souk_loop_up is 1 while one instance has its relay down")
		}
		return nil
	})
	var downs [][]string
	for _, st := range allStats(t, nc, "thing", 2) {
		for _, ep := range st.Endpoints {
			if ep.Name != rpc.LoopsEndpoint {
				continue
			}
			var l rpc.Loops
			if err := json.Unmarshal(ep.Data, &l); err != nil {
				t.Fatal(err)
			}
			downs = append(downs, l.Down)
		}
	}
	slices.SortFunc(downs, func(a, b []string) int { return len(a) - len(b) })
	if len(downs) != 2 || len(downs[0]) != 0 || !slices.Equal(downs[1], []string{"relay"}) {
		t.Fatalf("the instances' loops down: %v", downs)
	}
	msg, err := nc.Request(rpc.LoopsSubject("thing"), nil, 5*time.Second)
	if err != nil || !strings.Contains(string(msg.Data), `"name":"relay"`) {
		t.Fatalf("loops endpoint: %v %v", msg, err)
	}

	if err := broken.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if up := gauge(t, reg, "relay"); up != 1 {
		t.Fatalf("souk_loop_up %v once the instance with the broken relay stopped", up)
	}
}

// allStats collects the $SRV.STATS replies of want instances of service.
func allStats(t *testing.T, nc *nats.Conn, service string, want int) []micro.Stats {
	t.Helper()
	sub, err := nc.SubscribeSync(nc.NewRespInbox())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest("$SRV.STATS."+service, sub.Subject, nil); err != nil {
		t.Fatal(err)
	}
	out := make([]micro.Stats, want)
	for i := range out {
		msg, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("%d of %d instances answered: %v", i, want, err)
		}
		if err := json.Unmarshal(msg.Data, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// gauge is souk_loop_up{service="thing",loop=loop} in reg, -1 when absent.
func gauge(t *testing.T, reg *prometheus.Registry, loop string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if f.GetName() == "souk_loop_up" && m.GetLabel()[0].GetValue() == loop && m.GetLabel()[1].GetValue() == "thing" {
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}
