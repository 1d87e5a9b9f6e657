package monitoring

import (
	"testing"

	"github.com/souk/souk/internal/promtool"
)

// root is the repository's root, seen from this package.
const root = "../.."

// promtool checks the rule file and runs its tests: each alert fires on the bad series of its
// case and names only them, so the good series beside them stay quiet.
func TestRulesPassPromtool(t *testing.T) {
	promtool.Run(t, nil, "check", "rules", root+"/"+RulesFile)
	promtool.Run(t, nil, "test", "rules", root+"/"+RuleTestsFile)
}

// Every alert has a summary, a case in rules_test.yml where it fires and one where it is
// quiet; the test file names no alert that does not exist.
func TestEveryAlertHasFiringAndQuietTests(t *testing.T) {
	rules, err := LoadRules(root)
	if err != nil {
		t.Fatal(err)
	}
	tests, err := LoadRuleTests(root)
	if err != nil {
		t.Fatal(err)
	}
	fires, quiet := tests.Coverage()
	alerts := map[string]bool{}
	for _, r := range rules.All() {
		if r.Alert == "" {
			continue
		}
		alerts[r.Alert] = true
		if r.Annotations["summary"] == "" {
			t.Errorf("alert %s has no summary", r.Alert)
		}
		if !fires[r.Alert] {
			t.Errorf("alert %s has no case in %s where it fires", r.Alert, RuleTestsFile)
		}
		if !quiet[r.Alert] {
			t.Errorf("alert %s has no case in %s where it stays quiet", r.Alert, RuleTestsFile)
		}
	}
	if len(alerts) < 20 {
		t.Errorf("only %d alerts read from %s", len(alerts), RulesFile)
	}
	for name := range fires {
		if !alerts[name] {
			t.Errorf("%s tests %s, which %s does not define", RuleTestsFile, name, RulesFile)
		}
	}
}
