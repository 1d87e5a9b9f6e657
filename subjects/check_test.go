package subjects_test

import (
	"strings"
	"testing"

	"github.com/souk/souk/subjects"
)

func TestValueChecks(t *testing.T) {
	for _, c := range []struct {
		sku  string
		okay bool
	}{{"A-1_b", true}, {"", false}, {"-A", false}, {"a.b", false}, {"a b", false}, {strings.Repeat("a", 65), false}, {strings.Repeat("a", 64), true}} {
		if got := subjects.CheckSKU(c.sku) == ""; got != c.okay {
			t.Errorf("CheckSKU(%q) ok %v, want %v", c.sku, got, c.okay)
		}
	}
	for in, want := range map[string]string{"eur": "EUR", " EUR ": "EUR", "usd": "USD", "EURO": "", "XYZ": "", "": ""} {
		got, ok := subjects.CheckCurrency(in)
		if got != want || ok != (want != "") {
			t.Errorf("CheckCurrency(%q) = %q %v, want %q", in, got, ok, want)
		}
	}
	for in, want := range map[string]string{"de-ch": "de-CH", " en ": "en", "": "", "not a tag": "", strings.Repeat("a", 36): ""} {
		got, ok := subjects.CheckLocale(in)
		if got != want || ok != (want != "") {
			t.Errorf("CheckLocale(%q) = %q %v, want %q", in, got, ok, want)
		}
	}
	if got, msg := subjects.CheckText("  two\nlines ", 10, true, true); got != "two\nlines" || msg != "" {
		t.Errorf("multiline text: %q %q", got, msg)
	}
	for _, bad := range []string{"a\nb", "nul\x00", "esc\x1b[0m", "\xff", strings.Repeat("é", 11), "evil\u202Egpj.exe", "x\u2066y"} {
		if _, msg := subjects.CheckText(bad, 10, true, false); msg == "" {
			t.Errorf("CheckText(%q) accepted", bad)
		}
	}
	var p subjects.Problems
	p.Add("sku", subjects.CheckSKU("A"))
	p.Add("name", "is required")
	if err := p.Err(); err == nil || len(p) != 1 {
		t.Errorf("Problems %v: want the one problem", p)
	}
}
