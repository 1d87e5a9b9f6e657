package liveconfig

import (
	"fmt"
	"strings"
)

// Markdown is docs/operations.md's table of the live keys, one row per key of Keys (a test
// keeps the document equal to it).
func Markdown() string {
	var b strings.Builder
	b.WriteString("| key | a valid value | default | what it changes |\n|---|---|---|---|\n")
	for _, k := range Keys() {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", k.Name(), k.Kind(), k.Default(), strings.ReplaceAll(k.Help(), "|", `\|`))
	}
	return b.String()
}
