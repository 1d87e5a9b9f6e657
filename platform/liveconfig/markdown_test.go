package liveconfig_test

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/souk/souk/platform/liveconfig"
)

var update = flag.Bool("update", false, "rewrite docs/operations.md's table of live keys")

const (
	operations = "../../docs/operations.md"
	tableBegin = "<!-- live keys: go test ./platform/liveconfig -run Operations -update -->\n"
	tableEnd   = "<!-- end of live keys -->\n"
)

// TestOperationsTableIsTheDeclaration keeps docs/operations.md's table of live keys equal to
// the declaration; -update rewrites it.
func TestOperationsTableIsTheDeclaration(t *testing.T) {
	b, err := os.ReadFile(operations)
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok := strings.Cut(string(b), tableBegin)
	table, after, ok2 := strings.Cut(rest, tableEnd)
	if !ok || !ok2 {
		t.Fatal("docs/operations.md has no table of live keys between the markers")
	}
	if want := liveconfig.Markdown(); table != want {
		if !*update {
			t.Fatalf("docs/operations.md's table of live keys differs from the declaration: run go test ./platform/liveconfig -run Operations -update\n got:\n%s\nwant:\n%s", table, want)
		}
		if err := os.WriteFile(operations, []byte(before+tableBegin+want+tableEnd+after), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
