package user

import (
	"strings"
	"testing"

	"github.com/souk/souk/subjects"
)

func TestNormalizeEmail(t *testing.T) {
	for in, want := range map[string]string{
		"  Alice@Example.COM ":                  "alice@example.com",
		"bob+tag@shop.example":                  "bob+tag@shop.example",
		"":                                      "",
		"no-at-sign":                            "",
		"Alice <a@b.example>":                   "",
		"a@b@c":                                 "",
		strings.Repeat("a", 250) + "@b.example": "",
	} {
		got, err := NormalizeEmail(in)
		if want == "" && err == nil {
			t.Errorf("%q: want an error, got %q", in, got)
		}
		if want != "" && (err != nil || got != want) {
			t.Errorf("%q: got %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestCheckPassword(t *testing.T) {
	const email = "jane.doe@example.com"
	for pw, ok := range map[string]bool{
		"correct horse battery": true,
		"ünïcödé-påsswörd":      true,
		"short":                 false,
		"ninechars":             false,
		"Password123":           false, // common, any case
		"QWERTYUIOP":            false,
		"1234567890":            false,
		"iloveyou12":            false,
		"xxjane.doexx1":         false, // contains the local part
		"JANE.DOE@EXAMPLE.COM":  false, // the email
		strings.Repeat("é", 37): false, // 74 bytes > 72
		strings.Repeat("a", 72): true,
		strings.Repeat("a", 73): false,
	} {
		err := CheckPassword(pw, email)
		if (err == nil) != ok {
			t.Errorf("%q: ok %v, got %v", pw, ok, err)
		}
		if err != nil && strings.Contains(err.Error(), pw) {
			t.Errorf("%q: the message repeats the password", pw)
		}
	}
	if len(commonPasswords) < 200 {
		t.Fatalf("only %d common passwords loaded", len(commonPasswords))
	}
}

func TestCheckLocaleAndName(t *testing.T) {
	for in, want := range map[string]string{"": "en", "de-AT": "de-AT", "EN-us": "en-US", "fr": "fr"} {
		if got, msg := CheckLocale(in); msg != "" || got != want {
			t.Errorf("locale %q: got %q, %q; want %q", in, got, msg, want)
		}
	}
	for _, bad := range []string{"not a tag", "x", strings.Repeat("a", 40)} {
		if _, msg := CheckLocale(bad); msg == "" {
			t.Errorf("locale %q: want a problem", bad)
		}
	}
	for _, bad := range []string{"", "   ", strings.Repeat("n", MaxNameRunes+1), "a\x00b"} {
		if _, msg := subjects.CheckText(bad, MaxNameRunes, true, false); msg == "" {
			t.Errorf("name %q: want a problem", bad)
		}
	}
	if n, msg := subjects.CheckText("  Zoë  ", MaxNameRunes, true, false); msg != "" || n != "Zoë" {
		t.Errorf("name: got %q, %q", n, msg)
	}
}

func TestCheckAddresses(t *testing.T) {
	good := subjects.Address{Name: "A", Line1: "Main St 1", City: "Berlin", PostalCode: "10115", Country: "DE"}
	if _, fe := CheckAddresses([]subjects.Address{good}); len(fe) != 0 {
		t.Fatalf("good address: %+v", fe)
	}
	for country, ok := range map[string]bool{"DE": true, "US": true, "de": false, "DEU": false, "ZZ": false, "EU": false, "D1": false} {
		a := good
		a.Country = country
		_, fe := CheckAddresses([]subjects.Address{good, a})
		if ok != (len(fe) == 0) {
			t.Errorf("country %q: ok %v, got %+v", country, ok, fe)
		}
		if !ok && (len(fe) != 1 || fe[0].Field != "addresses[1].country") {
			t.Errorf("country %q: want addresses[1].country, got %+v", country, fe)
		}
	}
	_, fe := CheckAddresses([]subjects.Address{{}})
	if len(fe) != 5 {
		t.Errorf("empty address: want the 5 required fields, got %+v", fe)
	}
	many := make([]subjects.Address, MaxAddresses+1)
	if _, fe := CheckAddresses(many); len(fe) != 1 || fe[0].Field != "addresses" {
		t.Errorf("too many: %+v", fe)
	}
}
