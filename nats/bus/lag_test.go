package bus_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.yaml.in/yaml/v3"

	"github.com/souk/souk/nats/bus"
)

// A consumer whose service is not running shows its lag: the declared inventory-orders has
// the three order.placed events pending, and ORDERS shows how full it is and that it
// refuses publishes when full.
func TestLagCollectorShowsAConsumerThatIsDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js := bare(t)
	if err := bus.EnsureStreams(ctx, js); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := js.Publish(ctx, fmt.Sprintf("souk.evt.order.placed.o%d", i), []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(bus.NewLagCollector(js))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"souk_jetstream_lag_up", nil, 1},
		{"souk_jetstream_consumer_pending", map[string]string{"stream": "ORDERS", "consumer": "inventory-orders"}, 3},
		{"souk_jetstream_consumer_pending", map[string]string{"stream": "ORDERS", "consumer": "shipping-orders"}, 0},
		{"souk_jetstream_consumer_ack_floor", map[string]string{"stream": "ORDERS", "consumer": "inventory-orders"}, 0},
		{"souk_jetstream_stream_messages", map[string]string{"stream": "ORDERS"}, 3},
		{"souk_jetstream_stream_max_messages", map[string]string{"stream": "ORDERS"}, bus.SagaMaxMsgs},
		{"souk_jetstream_stream_discard_new", map[string]string{"stream": "ORDERS"}, 1},
		{"souk_jetstream_stream_discard_new", map[string]string{"stream": "DLQ"}, 0},
	} {
		if got, ok := gauge(families, c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
}

// gauge returns the value of the gauge name with labels among families.
func gauge(families []*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
					continue metrics
				}
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// The alert rules parse, alert on consumer lag and stream fullness, and name only metrics
// that exist. When promtool is installed it checks them and evaluates them on lag series
// (infra/prometheus/rules_test.yml).
func TestAlertRulesUseTheLagMetrics(t *testing.T) {
	const file = "../../infra/prometheus/rules.yml"
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	descs := make(chan *prometheus.Desc, 32)
	bus.NewLagCollector(nil).Describe(descs)
	close(descs)
	for d := range descs {
		exported[regexp.MustCompile(`fqName: "([^"]+)"`).FindStringSubmatch(d.String())[1]] = true
	}
	var alerts []string
	for _, g := range doc.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" || r.Annotations["summary"] == "" {
				t.Errorf("rule %q lacks an alert name, an expression or a summary", r.Alert)
			}
			for _, m := range regexp.MustCompile(`souk_jetstream_[a-z_]+`).FindAllString(r.Expr, -1) {
				if !exported[m] {
					t.Errorf("rule %s uses %s, which nats.LagCollector does not export", r.Alert, m)
				}
			}
			alerts = append(alerts, r.Alert)
		}
	}
	for _, want := range []string{"SoukConsumerLagging", "SoukConsumerStalled", "SoukStreamFilling"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s in %s", want, file)
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool is not installed: the rules are not evaluated")
		return
	}
	if out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
	// rules_test.yml: a consumer down fires the lag alerts, one keeping up does not.
	if out, err := exec.Command(promtool, "test", "rules", "../../infra/prometheus/rules_test.yml").CombinedOutput(); err != nil {
		t.Errorf("promtool test rules: %v\n%s", err, out)
	}
}
