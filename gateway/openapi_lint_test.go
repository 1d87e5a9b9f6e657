package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// lintTools is where the pinned linters live (package.json, package-lock.json, redocly.yaml);
// `npm ci` there installs them, as .ci/run does.
const lintTools = "../tools/openapi"

// TestOpenAPILint lints the served document with Redocly CLI's recommended rules, the check a
// third-party tool's user would run: no error and no warning passes. It needs node and the
// tools installed (`npm ci --prefix tools/openapi`); without them it is skipped, unless
// SOUK_REQUIRE_LINT is set (CI), and then it fails.
func TestOpenAPILint(t *testing.T) {
	required := os.Getenv("SOUK_REQUIRE_LINT") != ""
	if _, err := exec.LookPath("node"); err != nil {
		if required {
			t.Fatal("SOUK_REQUIRE_LINT is set but node is not installed")
		}
		t.Skip("node is not installed: the OpenAPI lint needs it (apt-get install nodejs npm, then npm ci in tools/openapi)")
	}
	redocly, err := filepath.Abs(filepath.Join(lintTools, "node_modules", ".bin", "redocly"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(redocly); err != nil {
		if required {
			t.Fatalf("SOUK_REQUIRE_LINT is set but Redocly CLI is not installed: run `npm ci` in tools/openapi (%v)", err)
		}
		t.Skip("Redocly CLI is not installed: run `npm ci --prefix tools/openapi` to lint the document here")
	}
	raw, _ := servedDocument(t)
	file := filepath.Join(t.TempDir(), "openapi.json")
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, redocly, "lint", "--config", filepath.Join(lintTools, "redocly.yaml"), "--format", "json", file)
	// No telemetry and no update check: the lint must not depend on the network.
	cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true", "NO_COLOR=1")
	out, err := cmd.Output()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("redocly lint did not run: %v", err)
	}
	var report struct {
		Totals struct {
			Errors   int `json:"errors"`
			Warnings int `json:"warnings"`
		} `json:"totals"`
		Problems []struct {
			RuleID   string `json:"ruleId"`
			Severity string `json:"severity"`
			Message  string `json:"message"`
			Location []struct {
				Pointer string `json:"pointer"`
			} `json:"location"`
		} `json:"problems"`
	}
	if jerr := json.Unmarshal(out, &report); jerr != nil {
		t.Fatalf("redocly lint: %v (%v); output:\n%s", err, jerr, out)
	}
	for _, p := range report.Problems {
		where := ""
		if len(p.Location) > 0 {
			where = p.Location[0].Pointer
		}
		t.Errorf("%s %s at %s: %s", p.Severity, p.RuleID, where, p.Message)
	}
	if err != nil || report.Totals.Errors+report.Totals.Warnings > 0 {
		t.Fatalf("redocly lint: %d errors, %d warnings (%v)", report.Totals.Errors, report.Totals.Warnings, err)
	}
}
