package monitoring

import (
	"bytes"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

var update = flag.Bool("update", false, "write the generated dashboards to infra/grafana/dashboards")

// The committed dashboards are what the builders make: edit the Go, then run
// go test ./internal/monitoring -run Generated -update.
func TestDashboardsAreGenerated(t *testing.T) {
	generated, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, DashboardsDir)
	for file, want := range generated {
		path := filepath.Join(dir, file)
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is not what internal/monitoring builds (%v): run go test ./internal/monitoring -run Generated -update", path, err)
		}
	}
	committed, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, path := range committed {
		if _, ok := generated[filepath.Base(path)]; !ok {
			t.Errorf("%s is built by nothing in internal/monitoring", path)
		}
	}
}

// Every dashboard parses, has a unique uid and a title; every panel asks the provisioned
// Prometheus, has at least one query, an id of its own and a place on the 24-column grid;
// every variable asks Prometheus.
func TestDashboardsParse(t *testing.T) {
	boards, err := LoadDashboards(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"edge.json", "funnel.json", "jetstream.json", "overview.json", "service.json"}
	if got := slices.Sorted(maps.Keys(boards)); !slices.Equal(got, want) {
		t.Errorf("dashboards %v, want %v", got, want)
	}
	uids := map[string]string{}
	for file, d := range boards {
		if d.UID == "" || d.Title == "" {
			t.Errorf("%s: uid %q, title %q", file, d.UID, d.Title)
		}
		if other, ok := uids[d.UID]; ok {
			t.Errorf("%s and %s share the uid %s", file, other, d.UID)
		}
		uids[d.UID] = file
		checkPanels(t, file, d)
		for _, v := range d.Templating.List {
			if !asksProm(v.Datasource) || v.Query == nil {
				t.Errorf("%s: variable %s has no query or does not ask %s", file, v.Name, DatasourceUID)
			}
		}
	}
}

func checkPanels(t *testing.T, file string, d Dashboard) {
	t.Helper()
	ids := map[int]bool{}
	panels := d.AllPanels()
	if len(panels) < 6 {
		t.Errorf("%s: %d panels", file, len(panels))
	}
	for _, p := range panels {
		if ids[p.ID] || p.ID == 0 {
			t.Errorf("%s: panel %q has id %d, zero or taken", file, p.Title, p.ID)
		}
		ids[p.ID] = true
		if !asksProm(p.Datasource) {
			t.Errorf("%s: panel %q does not ask the data source %s: %+v", file, p.Title, DatasourceUID, p.Datasource)
		}
		if g := p.GridPos; g.W < 1 || g.H < 1 || g.X+g.W > 24 {
			t.Errorf("%s: panel %q does not fit the 24-column grid: %+v", file, p.Title, g)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: panel %q has no query", file, p.Title)
		}
		for _, q := range p.Targets {
			if q.Expr == "" || q.RefID == "" || !asksProm(q.Datasource) {
				t.Errorf("%s: panel %q: query %+v lacks an expression, a refId or the data source", file, p.Title, q)
			}
		}
	}
}

func asksProm(d *Datasource) bool {
	return d != nil && d.Type == "prometheus" && d.UID == DatasourceUID
}

// Every expression of the rules and the dashboards parses with Prometheus's own parser and
// names at least one metric.
func TestEveryExpressionParses(t *testing.T) {
	exprs, err := Expressions(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(exprs) < 100 {
		t.Errorf("only %d expressions found", len(exprs))
	}
	for _, e := range exprs {
		names, err := Metrics(e.PromQL)
		if err != nil {
			t.Errorf("%s: %v\n%s", e.Where, err, e.PromQL)
		} else if len(names) == 0 {
			t.Errorf("%s names no metric: %s", e.Where, e.PromQL)
		}
	}
}

// The check of names against what Souk exports (cmd/souk's TestMonitoringUsesExportedMetrics)
// finds a misspelt metric, a histogram by its _bucket series and a recorded one, and does
// not take a label value, a function or a variable for a metric.
func TestUnknownFindsMisspeltMetrics(t *testing.T) {
	exported := map[string]bool{"souk_http_requests_total": true, "souk_http_request_duration_seconds": true}
	recorded := map[string]bool{"route:souk_http_requests:rate5m": true}
	exprs := []Expr{
		{"good", `histogram_quantile(0.99, sum by (le) (rate(souk_http_request_duration_seconds_bucket{route="$route"}[$__rate_interval])))`},
		{"recorded", `route:souk_http_requests:rate5m / on () group_left sum(rate(souk_http_requests_total{code=~"5.."}[$__range]))`},
		{"misspelt", `sum(rate(souk_http_request_total[5m]))`},
		{"broken", `sum(rate(souk_http_requests_total[5m])`},
	}
	got := Unknown(exprs, recorded, exported)
	if len(got) != 2 || got[0].String() != "misspelt: souk_http_request_total" || got[1].Where != "broken" || got[1].Err == nil {
		t.Errorf("Unknown = %q", got)
	}
}

// The JetStream dashboard's "Stalled consumers" is SoukConsumerStalled's condition, so the
// promtool case that has a stalled consumer fire that alert tests the panel too.
func TestStalledConsumersPanelIsTheAlert(t *testing.T) {
	rules, err := LoadRules(root)
	if err != nil {
		t.Fatal(err)
	}
	boards, err := LoadDashboards(root)
	if err != nil {
		t.Fatal(err)
	}
	var alert, panel string
	for _, r := range rules.All() {
		if r.Alert == "SoukConsumerStalled" {
			alert = r.Expr
		}
	}
	for _, p := range boards["jetstream.json"].AllPanels() {
		if p.Title == "Stalled consumers" && len(p.Targets) == 1 {
			panel = p.Targets[0].Expr
		}
	}
	a, errA := Parse(alert)
	p, errP := Parse(panel)
	if errA != nil || errP != nil || a.String() != p.String() {
		t.Errorf("the Stalled consumers panel %q (%v) is not SoukConsumerStalled's %q (%v)", panel, errP, alert, errA)
	}
}
