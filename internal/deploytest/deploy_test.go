package deploytest

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// root is the repository's root, two folders above this file.
func root(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

var (
	namesOnce sync.Once
	names     []string
	namesErr  error
)

// serviceNames are the services `souk services` describes: the binary's own list, read by
// running it (this package may not import cmd/souk), once per test binary.
func serviceNames(t *testing.T) []string {
	t.Helper()
	namesOnce.Do(func() {
		// A build of cmd/souk on a busy machine takes minutes; the bound is a guard.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "run", "./cmd/souk", "services")
		cmd.Dir = root(t)
		out, err := cmd.Output()
		if err != nil {
			namesErr = err
			if ee, ok := err.(*exec.ExitError); ok {
				namesErr = &runError{err, string(ee.Stderr)}
			}
			return
		}
		var described []struct{ Name string }
		if namesErr = json.Unmarshal(out, &described); namesErr != nil {
			return
		}
		for _, d := range described {
			names = append(names, d.Name)
		}
	})
	if namesErr != nil {
		t.Fatalf("go run ./cmd/souk services: %v", namesErr)
	}
	if len(names) == 0 {
		t.Fatal("souk services listed no service")
	}
	return names
}

type runError struct {
	err    error
	stderr string
}

func (e *runError) Error() string { return e.err.Error() + ": " + e.stderr }

// problems collects what a check found wrong, so that a test can both fail on them and
// expect them from a file broken on purpose.
type problems []string

func (p *problems) add(format string, args ...any) {
	*p = append(*p, fmt.Sprintf(format, args...))
}

// report fails t with every problem.
func (p problems) report(t *testing.T, what string) {
	t.Helper()
	for _, s := range p {
		t.Errorf("%s: %s", what, s)
	}
}
