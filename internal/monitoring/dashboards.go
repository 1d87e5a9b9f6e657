package monitoring

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Dashboard is what the checks read of a dashboard's JSON: Grafana's model, trimmed to the
// fields that must be right for the dashboard to show anything. It is decoded from the
// committed files, not taken from the builder, so the checks judge what Grafana loads.
type Dashboard struct {
	// UID identifies the dashboard in Grafana's URLs; unique across the provisioned ones.
	UID string `json:"uid"`
	// Title is shown in Grafana's lists.
	Title string `json:"title"`
	// Panels are the rows and panels in order; a collapsed row holds its own.
	Panels []Panel `json:"panels"`
	// Templating holds the template variables.
	Templating struct {
		// List are the variables.
		List []Variable `json:"list"`
	} `json:"templating"`
}

// Panel is a panel or a row.
type Panel struct {
	// ID is unique within the dashboard.
	ID int `json:"id"`
	// Type is the visualisation ("timeseries", "stat", …) or "row".
	Type string `json:"type"`
	// Title is the panel's heading.
	Title string `json:"title"`
	// Datasource is the data source its targets ask by default.
	Datasource *Datasource `json:"datasource"`
	// Targets are its queries.
	Targets []Target `json:"targets"`
	// Panels are a collapsed row's panels.
	Panels []Panel `json:"panels"`
	// GridPos places it on the 24-column grid.
	GridPos struct {
		X int `json:"x"`
		W int `json:"w"`
		H int `json:"h"`
	} `json:"gridPos"`
}

// Datasource is a reference to a data source.
type Datasource struct {
	// Type is the plugin ("prometheus").
	Type string `json:"type"`
	// UID names the instance: DatasourceUID.
	UID string `json:"uid"`
}

// Target is one query of a panel.
type Target struct {
	// RefID names the query within its panel.
	RefID string `json:"refId"`
	// Expr is the PromQL.
	Expr string `json:"expr"`
	// Datasource is the data source the query asks.
	Datasource *Datasource `json:"datasource"`
}

// Variable is a template variable.
type Variable struct {
	// Name is what queries write as $name.
	Name string `json:"name"`
	// Type is "query" for the ones Souk uses.
	Type string `json:"type"`
	// Query is the data source query listing its values (label_values(metric, label)).
	Query any `json:"query"`
	// Datasource is the data source the query asks.
	Datasource *Datasource `json:"datasource"`
}

// LoadDashboards reads every dashboard under root's DashboardsDir, by file name.
func LoadDashboards(root string) (map[string]Dashboard, error) {
	files, err := filepath.Glob(filepath.Join(root, DashboardsDir, "*.json"))
	if err != nil {
		return nil, err
	}
	out := map[string]Dashboard{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var d Dashboard
		if err := json.Unmarshal(raw, &d); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out[filepath.Base(f)] = d
	}
	return out, nil
}

// AllPanels returns d's panels that are not rows, those of collapsed rows included.
func (d Dashboard) AllPanels() []Panel {
	var out []Panel
	var walk func([]Panel)
	walk = func(ps []Panel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			out = append(out, p)
		}
	}
	walk(d.Panels)
	return out
}

// Expr is one PromQL expression and where it is written.
type Expr struct {
	// Where names the file and the rule, panel or variable.
	Where string
	// PromQL is the expression as written (Grafana's variables included).
	PromQL string
}

// Expressions returns every PromQL expression of the rules and the dashboards under root.
// A variable's label_values(metric, label) counts as the selector metric.
func Expressions(root string) ([]Expr, error) {
	rules, err := LoadRules(root)
	if err != nil {
		return nil, err
	}
	var out []Expr
	for _, r := range rules.All() {
		out = append(out, Expr{Where: RulesFile + ": " + r.Alert + r.Record, PromQL: r.Expr})
	}
	boards, err := LoadDashboards(root)
	if err != nil {
		return nil, err
	}
	for _, file := range slices.Sorted(maps.Keys(boards)) {
		d := boards[file]
		for _, p := range d.AllPanels() {
			for _, t := range p.Targets {
				out = append(out, Expr{Where: fmt.Sprintf("%s: panel %q %s", file, p.Title, t.RefID), PromQL: t.Expr})
			}
		}
		for _, v := range d.Templating.List {
			if s, ok := v.Query.(string); ok {
				out = append(out, Expr{Where: fmt.Sprintf("%s: variable %s", file, v.Name), PromQL: labelValuesSelector(s)})
			}
		}
	}
	return out, nil
}

// labelValuesSelector returns the metric of Grafana's label_values(metric, label), or q.
func labelValuesSelector(q string) string {
	inner, ok := strings.CutPrefix(q, "label_values(")
	if !ok {
		return q
	}
	metric, _, _ := strings.Cut(strings.TrimSuffix(inner, ")"), ",")
	return strings.TrimSpace(metric)
}
