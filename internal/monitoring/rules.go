// Package monitoring reads and checks what Prometheus and Grafana are given: the rules in
// infra/prometheus (recording rules, alerts and their promtool tests) and the dashboards in
// infra/grafana, which it also builds (dashboards.go). Its tests parse every PromQL
// expression with Prometheus's own parser; cmd/souk's TestMonitoringUsesExportedMetrics
// checks every metric they name against what a running shop exports.
package monitoring

import (
	"fmt"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"
)

// Paths of the files, relative to the repository's root.
const (
	RulesFile     = "infra/prometheus/rules.yml"
	RuleTestsFile = "infra/prometheus/rules_test.yml"
	DashboardsDir = "infra/grafana/dashboards"
)

// Rules is a Prometheus rule file.
type Rules struct {
	// Groups are the rule groups, evaluated each on its own.
	Groups []struct {
		// Name names the group.
		Name string `yaml:"name"`
		// Rules are its recording and alerting rules.
		Rules []Rule `yaml:"rules"`
	} `yaml:"groups"`
}

// Rule is one recording rule (Record set) or alert (Alert set).
type Rule struct {
	// Record is the name of the series a recording rule writes.
	Record string `yaml:"record"`
	// Alert is the name of an alerting rule.
	Alert string `yaml:"alert"`
	// Expr is the PromQL expression.
	Expr string `yaml:"expr"`
	// Annotations of an alert; every Souk alert has a summary.
	Annotations map[string]string `yaml:"annotations"`
}

// RuleTests is a promtool test file (promtool test rules).
type RuleTests struct {
	// Tests are the test groups, each with its input series.
	Tests []struct {
		// AlertRuleTest are the alerts expected at given times.
		AlertRuleTest []struct {
			// EvalTime is when the alerts are evaluated.
			EvalTime string `yaml:"eval_time"`
			// Alertname is the alert checked.
			Alertname string `yaml:"alertname"`
			// ExpAlerts are the alerts expected to fire; none means quiet.
			ExpAlerts []map[string]any `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// LoadRules reads the rule file under root.
func LoadRules(root string) (*Rules, error) {
	var r Rules
	return &r, loadYAML(filepath.Join(root, RulesFile), &r)
}

// LoadRuleTests reads the promtool test file under root.
func LoadRuleTests(root string) (*RuleTests, error) {
	var r RuleTests
	return &r, loadYAML(filepath.Join(root, RuleTestsFile), &r)
}

func loadYAML(path string, v any) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// All returns every rule of every group.
func (r *Rules) All() []Rule {
	var out []Rule
	for _, g := range r.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

// Recorded returns the names of the series the recording rules write: a query may use
// them though no process exports them.
func (r *Rules) Recorded() map[string]bool {
	out := map[string]bool{}
	for _, rule := range r.All() {
		if rule.Record != "" {
			out[rule.Record] = true
		}
	}
	return out
}

// Coverage says, for each alert named in the test file, whether a case expects it to fire
// and whether one expects it quiet.
func (t *RuleTests) Coverage() (fires, quiet map[string]bool) {
	fires, quiet = map[string]bool{}, map[string]bool{}
	for _, group := range t.Tests {
		for _, c := range group.AlertRuleTest {
			if len(c.ExpAlerts) > 0 {
				fires[c.Alertname] = true
			} else {
				quiet[c.Alertname] = true
			}
		}
	}
	return fires, quiet
}
