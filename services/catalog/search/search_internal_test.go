package search

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/souk/souk/services/catalog/product"
	"github.com/souk/souk/subjects"
)

// Search rules, without I/O.

func TestSplitTermsIsBounded(t *testing.T) {
	if got := splitTerms("Kopfhörer, über-ear! 4K"); strings.Join(got, "|") != "kopfhörer|über|ear|4k" {
		t.Fatalf("split: %q", got)
	}
	if got := splitTerms(strings.Repeat("word ", 50)); len(got) != MaxTerms {
		t.Fatalf("%d terms kept", len(got))
	}
	if got := splitTerms(strings.Repeat("ä", 100)); len([]rune(got[0])) != MaxTermRunes {
		t.Fatalf("term of %d runes kept", len([]rune(got[0])))
	}
	if got := splitTerms("'; drop table products; --"); strings.Join(got, "|") != "drop|table|products" {
		t.Fatalf("split: %q", got)
	}
}

func TestCursorsAreBoundToTheirSearch(t *testing.T) {
	a := &Query{Terms: []string{"a"}, Sort: subjects.SortNewest, Limit: 20}
	a.Fingerprint = a.fingerprint(true)
	b := &Query{Terms: []string{"b"}, Sort: subjects.SortNewest, Limit: 20}
	b.Fingerprint = b.fingerprint(true)
	c, err := EncodeCursor(a, pgKey{ID: uuid.Must(uuid.NewV7()), At: ptrTo(int64(42))})
	if err != nil {
		t.Fatal(err)
	}
	var k pgKey
	a.Cursor = c
	if err := DecodeCursor(a, &k); err != nil || *k.At != 42 {
		t.Fatalf("round trip: %+v %v", k, err)
	}
	b.Cursor = c
	if err := DecodeCursor(b, &k); !errors.Is(err, errBadCursor) {
		t.Fatalf("a cursor of another search: %v", err)
	}
	for _, forged := range []string{"!!", "e30", "eyJmIjoiMSJ9", c[:len(c)-3]} {
		a.Cursor = forged
		if err := DecodeCursor(a, &k); !errors.Is(err, errBadCursor) {
			t.Errorf("forged %q: %v", forged, err)
		}
	}
	if a.fingerprint(false) != (&Query{Terms: []string{"a"}, Sort: subjects.SortPriceAsc}).fingerprint(false) {
		t.Fatal("facets must not depend on the sort")
	}
}

func TestFacetCategoriesRollUpAndAddUp(t *testing.T) {
	id := func() uuid.UUID { return uuid.Must(uuid.NewV7()) }
	el, audio, hp, books := id(), id(), id(), id()
	tr := product.BuildTree([]product.Category{{ID: el, Name: "Electronics", Slug: "electronics"}, {ID: audio, ParentID: &el, Name: "Audio", Slug: "audio"},
		{ID: hp, ParentID: &audio, Name: "Headphones", Slug: "headphones", Translations: map[string]subjects.CategoryText{"de": {Name: "Kopfhörer"}}},
		{ID: books, Name: "Books", Slug: "books"}})
	f := WireFacets(RawFacets{Categories: map[uuid.UUID]int{hp: 3, audio: 2, books: 4}}, tr, []string{"de"}, "en")
	counts := map[string]int{}
	top := 0
	for _, c := range f.Categories {
		counts[c.Path] = c.Count
		if c.ParentID == "" {
			top += c.Count
		}
	}
	if f.Total != 9 || top != 9 || counts["electronics"] != 5 || counts["electronics/audio"] != 5 || counts["electronics/audio/headphones"] != 3 {
		t.Fatalf("facets %+v", f)
	}
	if f.Categories[3].Path != "electronics/audio/headphones" || f.Categories[3].Name != "Kopfhörer" {
		t.Fatalf("facet names are in the caller's language: %+v", f.Categories)
	}
	if got := tr.Subtree(tr.ByID[el]); len(got) != 3 {
		t.Fatalf("subtree of electronics: %v", got)
	}
}

func TestPriceBucketsCoverEveryPrice(t *testing.T) {
	first, last := PriceBucket("EUR", 0, 1), PriceBucket("EUR", len(PriceBounds), 1)
	if first.Min != 0 || *first.Max != PriceBounds[0] || last.Max != nil || last.Min != PriceBounds[len(PriceBounds)-1] {
		t.Fatalf("first %+v last %+v", first, last)
	}
}

func ptrTo[T any](v T) *T { return &v }
