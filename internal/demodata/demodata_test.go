package demodata

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/souk/souk/subjects"
)

// The rules a demo product must meet, restated here so that these tests stand on their own.
var (
	skuPattern      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
	attrNamePattern = regexp.MustCompile(`^[a-z_]+$`)
	slugPattern     = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
)

func TestDemoCatalogIsDeterministic(t *testing.T) {
	cats1, products1 := Catalog(300)
	cats2, products2 := Catalog(300)
	if !reflect.DeepEqual(cats1, cats2) || !reflect.DeepEqual(products1, products2) {
		t.Fatal("two calls with the same n differ")
	}
	json1, err1 := json.Marshal(products1)
	json2, err2 := json.Marshal(products2)
	if err1 != nil || err2 != nil || !bytes.Equal(json1, json2) {
		t.Fatalf("the JSON of two calls differs (errors %v, %v)", err1, err2)
	}

	catsSmall, small := Catalog(50)
	_, large := Catalog(500)
	if !reflect.DeepEqual(catsSmall, cats1) {
		t.Error("the categories depend on n")
	}
	if !reflect.DeepEqual(small, large[:50]) {
		t.Error("Catalog(500) does not extend Catalog(50)")
	}
	for _, n := range []int{0, -3} {
		if cats, products := Catalog(n); len(products) != 0 || len(cats) != len(cats1) {
			t.Errorf("Catalog(%d) = %d categories, %d products", n, len(cats), len(products))
		}
	}
}

func TestDemoCategories(t *testing.T) {
	cats, _ := Catalog(0)
	seen := map[string]bool{}
	children := map[string]int{}
	tops := 0
	for _, c := range cats {
		i := strings.LastIndexByte(c.Path, '/')
		parent, nested := c.Path[:max(i, 0)], i >= 0
		switch {
		case seen[c.Path]:
			t.Errorf("%s: twice", c.Path)
		case nested && !seen[parent]:
			t.Errorf("%s: before its parent", c.Path)
		case !strings.HasSuffix("/"+c.Path, "/"+c.Slug) || !slugPattern.MatchString(c.Slug):
			t.Errorf("%s: slug %q", c.Path, c.Slug)
		case strings.Count(c.Path, "/") > 2:
			t.Errorf("%s: deeper than three levels", c.Path)
		case c.Name == "" || c.Translations["de"].Name == "" || c.Translations["fr"].Name == "":
			t.Errorf("%s: name or translation missing: %q %v", c.Path, c.Name, c.Translations)
		}
		seen[c.Path] = true
		if nested {
			children[parent]++
		} else {
			tops++
		}
	}
	leaves := len(cats) - len(children)
	if tops < 6 || tops > 8 || leaves < 40 || leaves > 60 {
		t.Errorf("%d departments and %d leaves, want 6..8 and 40..60", tops, leaves)
	}
	for _, c := range cats {
		if children[c.Path] == 0 && !strings.Contains(c.Path, "/") {
			t.Errorf("%s: a department without subcategories", c.Path)
		}
	}
	want := map[string][2]string{
		"electronics/audio/headphones": {"Kopfhörer", "Casques"},
		"electronics/audio/earbuds":    {"In-Ear-Kopfhörer", "Écouteurs"},
	}
	for _, c := range cats {
		if w, ok := want[c.Path]; ok && (c.Translations["de"].Name != w[0] || c.Translations["fr"].Name != w[1]) {
			t.Errorf("%s: translations %v, want %v", c.Path, c.Translations, w)
		}
	}
}

func TestDemoProductsAreValid(t *testing.T) {
	cats, products := Catalog(2000)
	leaf := leafPaths(cats)
	skus := map[string]bool{}
	for i, p := range products {
		if msg := checkProduct(i, p, leaf); msg != "" {
			t.Errorf("%s (%s): %s", p.SKU, p.Name, msg)
		}
		if skus[p.SKU] {
			t.Errorf("%s: twice", p.SKU)
		}
		skus[p.SKU] = true
	}
}

// leafPaths returns the paths of the categories without children.
func leafPaths(cats []Category) map[string]bool {
	leaf := map[string]bool{}
	for _, c := range cats {
		leaf[c.Path] = true
	}
	for _, c := range cats {
		if i := strings.LastIndexByte(c.Path, '/'); i >= 0 {
			leaf[c.Path[:i]] = false
		}
	}
	return leaf
}

// checkProduct returns what is wrong with product i, or "".
func checkProduct(i int, p subjects.ProductCreateRequest, leaf map[string]bool) string {
	switch {
	case !skuPattern.MatchString(p.SKU) || p.SKU != fmt.Sprintf("DEMO-%06d", i):
		return "bad SKU"
	case !leaf[p.CategoryID]:
		return "category " + p.CategoryID + " is not a leaf"
	case p.Price.Amount <= 0 || p.Price.Currency != "EUR":
		return fmt.Sprintf("price %+v", p.Price)
	case !strings.Contains(" 0 49 99 ", fmt.Sprintf(" %d ", p.Price.Amount%100)):
		return fmt.Sprintf("price %d does not end in 00, 49 or 99", p.Price.Amount)
	case len(p.Images) < 1 || len(p.Images) > 2:
		return fmt.Sprintf("%d images", len(p.Images))
	case len(p.Attributes) < 3 || len(p.Attributes) > 5 || p.Attributes["brand"] == "":
		return fmt.Sprintf("attributes %v", p.Attributes)
	case len(p.Translations) != 2:
		return fmt.Sprintf("translations %v", p.Translations)
	}
	for k, url := range p.Images {
		if url != fmt.Sprintf("https://images.souk.example/demo/%s-%d.jpg", p.SKU, k+1) {
			return "image " + url
		}
	}
	for name, value := range p.Attributes {
		if !attrNamePattern.MatchString(name) || len(name) > 40 || !validText(value, 100) {
			return fmt.Sprintf("attribute %q = %q", name, value)
		}
	}
	texts := []subjects.ProductText{{Name: p.Name, Description: p.Description}, p.Translations["de"], p.Translations["fr"]}
	for _, tx := range texts {
		if !validText(tx.Name, 200) || !validText(tx.Description, 2000) || !strings.HasSuffix(tx.Description, ".") ||
			strings.ContainsAny(tx.Name+tx.Description, "%{}|") {
			return fmt.Sprintf("text %+v", tx)
		}
	}
	if n := strings.Count(p.Description, ". ") + 1; n > 3 {
		return fmt.Sprintf("%d sentences", n)
	}
	return ""
}

// validText reports whether s is non-empty, trimmed, valid UTF-8 of at most limit runes,
// with single spaces.
func validText(s string, limit int) bool {
	return s != "" && s == strings.TrimSpace(s) && utf8.ValidString(s) && utf8.RuneCountInString(s) <= limit &&
		!strings.Contains(s, "  ")
}

func TestDemoCatalogSpread(t *testing.T) {
	_, products := Catalog(2000)
	departments, brands := map[string]bool{}, map[string]bool{}
	values := map[string]map[string]bool{}
	var cheap, dear, colored, headphones int
	for _, p := range products {
		departments[strings.Split(p.CategoryID, "/")[0]] = true
		brands[p.Attributes["brand"]] = true
		for name, v := range p.Attributes {
			if values[name] == nil {
				values[name] = map[string]bool{}
			}
			values[name][v] = true
		}
		if p.Attributes["color"] != "" {
			colored++
		}
		switch {
		case p.Price.Amount < 100_00:
			cheap++
		case p.Price.Amount > 1000_00:
			dear++
		}
		de, fr := p.Translations["de"], p.Translations["fr"]
		if p.CategoryID == "electronics/audio/headphones" && strings.Contains(p.Name, "Headphones") &&
			strings.Contains(de.Name, "Kopfhörer") && strings.Contains(fr.Name, "Casque") {
			headphones++
		}
		// The translations hold words of their own: a search for them finds products
		// through the translation only.
		if en := p.Name + " " + p.Description; strings.Contains(en, "Kopfhörer") || strings.Contains(en, "Casque") {
			t.Errorf("%s: a translated word in the English text %q", p.SKU, en)
		}
	}
	if len(departments) < 5 || len(brands) < 40 || cheap < 200 || dear < 20 || headphones < 10 || colored < len(products)*7/10 {
		t.Errorf("%d departments, %d brands, %d under 100 €, %d over 1000 €, %d headphones, %d with a color",
			len(departments), len(brands), cheap, dear, headphones, colored)
	}
	for name, vs := range values {
		if name != "brand" && (len(vs) < 2 || len(vs) > 15) {
			t.Errorf("attribute %s has %d values, want a facet of 2..15", name, len(vs))
		}
	}
}

// TestDemoVocabulary checks the tables themselves, including what 2000 products may not
// happen to show.
func TestDemoVocabulary(t *testing.T) {
	d := demo()
	for name, a := range attrSpecs() {
		if len(a.vals) < 3 || len(a.vals) > 15 || !attrNamePattern.MatchString(name) || name == "brand" {
			t.Errorf("attribute %s: %d values", name, len(a.vals))
		}
	}
	for _, l := range d.leaves {
		names := map[string]bool{}
		for _, a := range l.attrs {
			if names[a.name] || a.name == "brand" {
				t.Errorf("%s: attribute %s twice", l.path, a.name)
			}
			names[a.name] = true
		}
		for _, a := range l.adjs {
			if (a.set != "") != (a.setAttr >= 0) {
				t.Errorf("%s: adjective %s sets %q unresolved", l.path, a.en, a.set)
			}
			if l.kind != kindGoods && strings.ContainsAny(a.de, "-+") {
				t.Errorf("%s: title adjective %s is a prefix", l.path, a.en)
			}
		}
		if len(l.brands) > 15 {
			t.Errorf("%s: %d brands make too long a facet", l.path, len(l.brands))
		}
	}
	for kind, intros := range d.intros {
		for _, in := range intros {
			for _, parts := range in.parts {
				for _, p := range parts {
					goodsOnly := p.slot == slotName || p.slot == slotModel || p.slot == slotAgree
					titleOnly := p.slot == slotTitle || p.slot == slotAuthor || p.slot == slotDeAuthor
					if (kind == kindGoods && titleOnly) || (kind != kindGoods && goodsOnly) {
						t.Errorf("intro of kind %d uses slot %d", kind, p.slot)
					}
				}
			}
		}
	}
}

func BenchmarkDemoCatalog100k(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Catalog(100_000)
	}
}
