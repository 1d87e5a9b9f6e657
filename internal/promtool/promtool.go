// Package promtool runs Prometheus's promtool for the tests that check rules and metrics
// with it. Without promtool such a test is skipped, unless SOUK_REQUIRE_PROMTOOL=1 (set by
// .ci/run, which installs it), where it fails: CI never passes by not looking.
package promtool

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
)

// Require is the environment variable that turns a missing promtool into a failure.
const Require = "SOUK_REQUIRE_PROMTOOL"

// Path returns promtool's path, or skips t (fails it when Require is 1) when it is not
// installed.
func Path(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err == nil {
		return p
	}
	if os.Getenv(Require) == "1" {
		t.Fatalf("promtool is not installed and %s=1: install Debian's prometheus package (.ci/run does)", Require)
	}
	t.Skip("promtool is not installed (Debian package prometheus); set " + Require + "=1 to fail instead")
	return ""
}

// Run runs promtool with args, feeding it stdin when not nil, and fails t with its output
// when it exits non-zero.
func Run(t testing.TB, stdin []byte, args ...string) string {
	t.Helper()
	cmd := exec.Command(Path(t), args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool %v: %v\n%s", args, err, out)
	}
	return string(out)
}
