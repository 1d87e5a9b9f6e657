package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/logtest"
	"github.com/souk/souk/nats/bus"
)

// A blue-green switch through the gateway, wired as an operator runs it: the shop runs with
// its embedded NATS server; a second `souk run catalog` joins it with SOUK_CANARY; `nats kv
// put config canary.catalog 100` sends every catalog request the gateway makes to the canary,
// and 0 sends them all back, with nothing restarted. The shop's process applies the mapping
// (its /metrics says the share in force); the instances' $SRV.STATS count who served.
func TestCanaryBlueGreenThroughTheGateway(t *testing.T) {
	s := startShop(t, nil)
	url := embeddedURL(t, s.logs)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	startCanary(t, map[string]string{"NATS_URL": url, "DATABASE_URL": s.env["DATABASE_URL"], "SOUK_DATA_DIR": t.TempDir(),
		"SOUK_LOG_FORMAT": "json", "SOUK_CANARY": "2.0.0-rc.1"}, "catalog")
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(t.Context(), bus.BucketConfig)
	if err != nil {
		t.Fatal(err)
	}

	for _, share := range []int{100, 0} {
		if _, err := kv.PutString(t.Context(), "canary.catalog", fmt.Sprint(share)); err != nil {
			t.Fatal(err)
		}
		series := fmt.Sprintf(`souk_canary_share_percent{service="catalog"} %d`, share)
		expect.Within(t, 10*time.Second, func() error {
			if m := s.do("GET", "/metrics", nil, ""); !strings.Contains(string(m.body), series) {
				return errors.New("/metrics lacks " + series)
			}
			return nil
		})
		before := categoryLists(t, nc)
		const n = 20
		for range n {
			s.expect(s.do("GET", "/v1/categories", nil, ""), 200, "categories")
		}
		// micro counts a request after its handler has replied: the last replies can be in
		// before their counts are.
		var canary, stable int
		expect.Within(t, 10*time.Second, func() error {
			after := categoryLists(t, nc)
			canary, stable = after[true]-before[true], after[false]-before[false]
			if canary+stable < n {
				return fmt.Errorf("%d of %d category lists counted so far", canary+stable, n)
			}
			return nil
		})
		if want := n * share / 100; canary != want || stable != n-want {
			t.Fatalf("share %d %%: the canary served %d and the stable instance %d of %d category lists", share, canary, stable, n)
		}
	}
}

// startCanary runs `souk run targets…` in-process with env until the test ends, and waits
// until its instances answer as canaries.
func startCanary(t *testing.T, env map[string]string, targets ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &logtest.Buffer{}
	exited := make(chan int, 1)
	go func() {
		exited <- cli(ctx, append([]string{"run"}, targets...), func(k string) string { return env[k] }, io.Discard, logs)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-exited:
			if code != 0 {
				t.Errorf("the canary exited %d; logs:\n%s", code, logs.String())
			}
		case <-time.After(30 * time.Second):
			t.Errorf("the canary did not exit within 30 s of the signal")
		}
	})
	nc, err := nats.Connect(env["NATS_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	expect.Within(t, 90*time.Second, func() error {
		select {
		case code := <-exited:
			t.Fatalf("the canary exited %d; logs:\n%s", code, logs.String())
		default:
		}
		for _, name := range targets {
			if _, ok := categoryListsOf(nc, name)[true]; !ok {
				return fmt.Errorf("no canary instance of %s answers yet", name)
			}
		}
		return nil
	})
}

// categoryLists is the catalog's category_list requests served so far, by whether the
// instance is a canary (its micro metadata names its release).
func categoryLists(t *testing.T, nc *nats.Conn) map[bool]int {
	t.Helper()
	got := categoryListsOf(nc, "catalog")
	if len(got) != 2 {
		t.Fatalf("want a stable and a canary catalog answering $SRV.STATS, got %v", got)
	}
	return got
}

// categoryListsOf collects the $SRV.STATS of service's instances for a moment.
func categoryListsOf(nc *nats.Conn, service string) map[bool]int {
	out := map[bool]int{}
	sub, err := nc.SubscribeSync(nc.NewRespInbox())
	if err != nil {
		return out
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest("$SRV.STATS."+service, sub.Subject, nil); err != nil {
		return out
	}
	for {
		msg, err := sub.NextMsg(time.Second)
		if err != nil {
			return out
		}
		var st micro.Stats
		if json.Unmarshal(msg.Data, &st) != nil {
			continue
		}
		canary := st.Metadata["canary"] != ""
		out[canary] += 0
		for _, ep := range st.Endpoints {
			if ep.Name == "category_list" {
				out[canary] += ep.NumRequests
			}
		}
	}
}
