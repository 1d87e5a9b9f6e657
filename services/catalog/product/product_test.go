package product

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/souk/souk/subjects"
)

// Domain rules, without I/O.

func fields(err error) []string {
	var se *subjects.Error
	if !errors.As(err, &se) {
		return nil
	}
	var out []string
	for _, f := range se.Fields {
		out = append(out, f.Field)
	}
	return out
}

func TestNewProductNormalisesWhatItAccepts(t *testing.T) {
	p, err := New(subjects.ProductCreateRequest{SKU: " HP-1 ", Name: "  Studio  ", Description: "Line one\nline two",
		Price: subjects.Money{Amount: 0, Currency: "eur"}, CategoryID: "x", Attributes: map[string]string{"color": " black "},
		Images: []string{" https://img.example.com/a.jpg "}, Translations: map[string]subjects.ProductText{"DE-at": {Name: " Studio "}}}, "en")
	if err != nil {
		t.Fatal(err)
	}
	if p.SKU != "HP-1" || p.Name != "Studio" || p.Price.Currency != "EUR" || p.Attributes["color"] != "black" ||
		p.Images[0] != "https://img.example.com/a.jpg" || p.Translations["de-AT"].Name != "Studio" || p.Description != "Line one\nline two" {
		t.Fatalf("normalised: %+v", p)
	}
}

func TestNewProductNamesEveryBadField(t *testing.T) {
	_, err := New(subjects.ProductCreateRequest{SKU: "", Name: "", Price: subjects.Money{Amount: -1, Currency: "XXXX"},
		Attributes: map[string]string{"ok": "fine", "Bad": "x"}, Images: []string{"/relative"},
		Translations: map[string]subjects.ProductText{"en": {Name: "default"}, "fr": {Name: ""}}}, "en")
	want := []string{"sku", "name", "price.amount", "price.currency", "category_id", "attributes.Bad", "images[0]", "translations.en", "translations.fr.name"}
	got := fields(err)
	for _, f := range want {
		if !slices.Contains(got, f) {
			t.Errorf("no problem named %s in %v", f, got)
		}
	}
	_, err = New(subjects.ProductCreateRequest{SKU: "A", Name: "A", Price: subjects.Money{Amount: MaxAmount + 1, Currency: "EUR"}, CategoryID: "c"}, "en")
	if !slices.Contains(fields(err), "price.amount") {
		t.Fatalf("an absurd price passed: %v", err)
	}
	attrs := map[string]string{}
	for i := range MaxAttributes + 1 {
		attrs["a"+strings.Repeat("x", i)] = "v"
	}
	_, err = New(subjects.ProductCreateRequest{SKU: "A", Name: "A", Price: subjects.Money{Currency: "EUR"}, CategoryID: "c", Attributes: attrs}, "en")
	if !slices.Contains(fields(err), "attributes") {
		t.Fatalf("too many attributes passed: %v", err)
	}
}

func TestPatchMergesAndReportsWhatChanged(t *testing.T) {
	p := Product{Name: "A", Price: subjects.Money{Amount: 100, Currency: "EUR"}, Version: 3,
		Attributes: map[string]string{"color": "black", "size": "M"}, Translations: map[string]subjects.ProductText{"de": {Name: "A-de"}, "fr": {Name: "A-fr"}}}
	white := "white"
	changed, err := p.Patch(subjects.ProductUpdateRequest{Version: ptrTo(int64(3)), Name: ptrTo("A"), Price: &subjects.Money{Amount: 90, Currency: "eur"},
		Attributes: map[string]*string{"color": &white, "size": nil}, Translations: map[string]*subjects.ProductText{"fr": nil}}, "en")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(changed, ",") != "price,attributes,translations" {
		t.Fatalf("changed %v", changed)
	}
	if p.Attributes["color"] != "white" || len(p.Attributes) != 1 || len(p.Translations) != 1 || p.Price.Amount != 90 {
		t.Fatalf("patched: %+v", p)
	}
	if _, err := p.Patch(subjects.ProductUpdateRequest{Version: ptrTo(int64(2))}, "en"); !errors.Is(err, ErrStale) {
		t.Fatalf("a stale version: %v", err)
	}
	// The store writes nothing when Patch fails; Patch only has to say so.
	if _, err := p.Patch(subjects.ProductUpdateRequest{Name: ptrTo(""), Price: &subjects.Money{Amount: 1, Currency: "EUR"}}, "en"); !slices.Contains(fields(err), "name") {
		t.Fatalf("an empty name passed: %v", err)
	}
}

func TestCheckReview(t *testing.T) {
	r, err := CheckReview(subjects.ReviewCreateRequest{Rating: 5, Title: " Great ", Body: "Fine."})
	if err != nil || r.Title != "Great" || r.AuthorName != DefaultAuthorName {
		t.Fatalf("%+v %v", r, err)
	}
	for _, bad := range []subjects.ReviewCreateRequest{{Rating: 0, Title: "x"}, {Rating: 6, Title: "x"}, {Rating: 3}, {Rating: 3, Title: "x", AuthorName: strings.Repeat("n", 61)}} {
		if _, err := CheckReview(bad); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
}

func TestAcceptLanguageBecomesPreferences(t *testing.T) {
	for header, want := range map[string]string{
		"":                                 "",
		"de-AT,de;q=0.9,en;q=0.5,fr;q=0.1": "de-AT,de",
		"fr;q=0.2, de;q=0.8":               "de,fr",
		"en-US,de":                         "",
		"*":                                "",
		"pt-BR":                            "pt-BR,pt",
		"not a header ;;;":                 "",
		strings.Repeat("de,", 600):         "de",
	} {
		if got := ParsePrefs(header, "en").Key; got != want {
			t.Errorf("%.40q → %q, want %q", header, got, want)
		}
	}
}

func TestPickLocaleFallsBackByBaseLanguageThenDefault(t *testing.T) {
	texts := map[string]int{"de": 1, "fr-CA": 2}
	for prefs, want := range map[string]string{"de-AT,de": "de", "fr": "fr-CA", "es,fr": "fr-CA", "ja": ""} {
		got, ok := PickLocale(strings.Split(prefs, ","), "en", texts)
		if got != want || ok != (want != "") {
			t.Errorf("%s → %q %v, want %q", prefs, got, ok, want)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }
