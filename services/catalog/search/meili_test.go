package search

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/meilisearch/meilisearch-go"

	"github.com/souk/souk/services/catalog/product"
	"github.com/souk/souk/subjects"
)

// meiliQuery is a checked query as newQuery makes it: sorted newest, two to a page, mod
// applied, fingerprinted.
func meiliQuery(mod func(q *Query)) *Query {
	q := &Query{Sort: subjects.SortNewest, Limit: 2}
	if mod != nil {
		mod(q)
	}
	q.Fingerprint = q.fingerprint(true)
	return q
}

func meiliPtr[T any](v T) *T { return &v }

var (
	meiliCatA = uuid.MustParse("0190a1b2-0000-7000-8000-00000000000a")
	meiliCatB = uuid.MustParse("0190a1b2-0000-7000-8000-00000000000b")
)

func TestMeiliFilterExpressions(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(q *Query)
		want []string
	}{
		{"nothing", nil, nil},
		{"a category names only itself: documents list their ancestors", func(q *Query) {
			q.Category, q.CategoryIDs = &meiliCatA, []uuid.UUID{meiliCatA, meiliCatB}
		}, []string{`category_ids = "0190a1b2-0000-7000-8000-00000000000a"`}},
		{"category ids without the category", func(q *Query) { q.CategoryIDs = []uuid.UUID{meiliCatA, meiliCatB} },
			[]string{`category_id IN ["0190a1b2-0000-7000-8000-00000000000a", "0190a1b2-0000-7000-8000-00000000000b"]`}},
		{"currency", func(q *Query) { q.Currency = "EUR" }, []string{`currency = "EUR"`}},
		{"price range, inclusive", func(q *Query) {
			q.Currency, q.MinPrice, q.MaxPrice = "EUR", meiliPtr[int64](1000), meiliPtr[int64](5000)
		},
			[]string{`currency = "EUR"`, `price >= 1000`, `price <= 5000`}},
		{"minimum price zero", func(q *Query) { q.MinPrice = meiliPtr[int64](0) }, []string{`price >= 0`}},
		{"maximum price only", func(q *Query) { q.MaxPrice = meiliPtr[int64](99) }, []string{`price <= 99`}},
		{"in stock", func(q *Query) { q.InStock = meiliPtr(true) }, []string{`in_stock = true`}},
		{"out of stock", func(q *Query) { q.InStock = meiliPtr(false) }, []string{`in_stock = false`}},
		{"minimum rating", func(q *Query) { q.MinRating = meiliPtr(4.5) }, []string{`rating_avg >= 4.5`}},
		{"whole minimum rating", func(q *Query) { q.MinRating = meiliPtr(4.0) }, []string{`rating_avg >= 4`}},
		{"one value of an attribute", func(q *Query) { q.Attributes = []AttrFilter{{Name: "color", Values: []string{"red"}}} },
			[]string{`attributes.color = "red"`}},
		{"values of one attribute: any of them", func(q *Query) {
			q.Attributes = []AttrFilter{{Name: "color", Values: []string{"black", "navy blue"}}}
		}, []string{`attributes.color IN ["black", "navy blue"]`}},
		{"several attributes: all of them", func(q *Query) {
			q.Attributes = []AttrFilter{{Name: "color", Values: []string{"red"}}, {Name: "size", Values: []string{"L", "M"}}}
		}, []string{`attributes.color = "red"`, `attributes.size IN ["L", "M"]`}},
		{"quotes and backslashes in values", func(q *Query) {
			q.Attributes = []AttrFilter{{Name: "screen", Values: []string{`12" \ wide`}}}
		}, []string{`attributes.screen = "12\" \\ wide"`}},
		{"everything", func(q *Query) {
			q.Category, q.CategoryIDs = &meiliCatB, []uuid.UUID{meiliCatB}
			q.Currency, q.MinPrice, q.MaxPrice = "USD", meiliPtr[int64](1), meiliPtr[int64](2)
			q.InStock, q.MinRating = meiliPtr(true), meiliPtr(3.25)
			q.Attributes = []AttrFilter{{Name: "brand", Values: []string{"Acme", "Zeta"}}}
		}, []string{`category_ids = "0190a1b2-0000-7000-8000-00000000000b"`, `currency = "USD"`, `price >= 1`, `price <= 2`,
			`in_stock = true`, `rating_avg >= 3.25`, `attributes.brand IN ["Acme", "Zeta"]`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := meiliQuery(tc.mod)
			got := meiliFilter(q)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("filter\n got %q\nwant %q", got, tc.want)
			}
			req := searchRequest(q, got)
			if len(tc.want) == 0 && req.Filter != nil {
				t.Fatalf("no filter sent as %#v", req.Filter)
			}
			if len(tc.want) > 0 && req.Filter != strings.Join(tc.want, " AND ") {
				t.Fatalf("request filter %#v", req.Filter)
			}
		})
	}
}

// meiliParseQuoted reads a double-quoted filter value as Meilisearch's filter parser does
// (crates/filter-parser/src/value.rs: quoted_by, unescape, then the unescaper crate): the
// value runs to the first quote that no backslash escapes (a backslash takes the next
// character with it), \" becomes ", then \\ becomes \ (quoteFilter writes no other escape).
func meiliParseQuoted(s string) (value, rest string, err error) {
	body, ok := strings.CutPrefix(s, `"`)
	if !ok {
		return "", "", errors.New("no opening quote")
	}
	i, quoteEscaped := 0, false
	for ; i < len(body) && body[i] != '"'; i++ {
		if body[i] == '\\' {
			if i+1 == len(body) {
				return "", "", errors.New("a backslash ends the input")
			}
			quoteEscaped = quoteEscaped || body[i+1] == '"'
			i++
		}
	}
	if i == len(body) {
		return "", "", errors.New("no closing quote")
	}
	frag := body[:i]
	if quoteEscaped {
		frag = strings.ReplaceAll(frag, `\"`, `"`)
	}
	var b strings.Builder
	for j := 0; j < len(frag); j++ {
		if frag[j] == '\\' {
			if j+1 == len(frag) || frag[j+1] != '\\' {
				return "", "", fmt.Errorf("escape %q", frag[j:])
			}
			j++
		}
		b.WriteByte(frag[j])
	}
	return b.String(), body[i+1:], nil
}

func TestMeiliQuoteFilterValues(t *testing.T) {
	for v, want := range map[string]string{
		`red`:          `"red"`,
		`navy blue`:    `"navy blue"`,
		`12" vinyl`:    `"12\" vinyl"`,
		`C:\temp`:      `"C:\\temp"`,
		`ends in \`:    `"ends in \\"`,
		`\"`:           `"\\\""`,
		`it's`:         `"it's"`,
		`a AND b OR (`: `"a AND b OR ("`,
		`Kopfhörer`:    `"Kopfhörer"`,
	} {
		if got := quoteFilter(v); got != want {
			t.Errorf("quoteFilter(%q) = %s, want %s", v, got, want)
		}
	}
	// Whatever the value, Meilisearch's parser reads back exactly the value, and the
	// expression goes on after it.
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune{'a', ' ', '"', '\\', '\'', 'é', '(', ')', '=', 'n', 'u'}
	for range 2000 {
		v := make([]rune, r.IntN(12))
		for i := range v {
			v[i] = alphabet[r.IntN(len(alphabet))]
		}
		got, rest, err := meiliParseQuoted(quoteFilter(string(v)) + " AND x = 1")
		if err != nil || got != string(v) || rest != " AND x = 1" {
			t.Fatalf("value %q quoted %s read back as %q, rest %q, %v", string(v), quoteFilter(string(v)), got, rest, err)
		}
	}
}

func TestMeiliSortParameters(t *testing.T) {
	for sort, want := range map[string][]string{
		subjects.SortRelevance: nil,
		subjects.SortPriceAsc:  {"price:asc", "seq:asc"},
		subjects.SortPriceDesc: {"price:desc", "seq:desc"},
		subjects.SortNewest:    {"created_at:desc", "seq:desc"},
		subjects.SortRating:    {"rating_avg:desc", "seq:desc"},
	} {
		if got := meiliSort(sort); !slices.Equal(got, want) {
			t.Errorf("%s: %q, want %q", sort, got, want)
		}
	}
}

// meiliHits are search hits as Meilisearch returns them (the retrieved attributes only).
func meiliHits(t *testing.T, js string) meilisearch.Hits {
	t.Helper()
	var h meilisearch.Hits
	if err := json.Unmarshal([]byte(js), &h); err != nil {
		t.Fatal(err)
	}
	return h
}

const meiliThreeHits = `[
	{"id": "0190a1b2-0000-7000-8000-000000000001", "seq": 3, "price": 1000, "created_at": 1700000000000003, "rating_avg": 4.5},
	{"id": "0190a1b2-0000-7000-8000-000000000002", "seq": 7, "price": 1999, "created_at": 1700000000123456, "rating_avg": 4.33},
	{"id": "0190a1b2-0000-7000-8000-000000000003", "seq": 9, "price": 1999, "created_at": 1700000000000001, "rating_avg": 4.33}]`

func TestMeiliKeysetPagesFilterAfterTheLastHit(t *testing.T) {
	for sort, after := range map[string]string{
		subjects.SortPriceAsc:  `(price > 1999 OR (price = 1999 AND seq > 7))`,
		subjects.SortPriceDesc: `(price < 1999 OR (price = 1999 AND seq < 7))`,
		subjects.SortNewest:    `(created_at < 1700000000123456 OR (created_at = 1700000000123456 AND seq < 7))`,
		subjects.SortRating:    `(rating_avg < 4.33 OR (rating_avg = 4.33 AND seq < 7))`,
	} {
		t.Run(sort, func(t *testing.T) {
			q := meiliQuery(func(q *Query) { q.Sort, q.Currency = sort, "EUR" })
			first, _, err := pageRequest(q)
			if err != nil {
				t.Fatal(err)
			}
			field := strings.Split(meiliSort(sort)[0], ":")[0]
			if first.Filter != `currency = "EUR"` || first.Offset != 0 || first.Limit != 3 ||
				!slices.Equal(first.AttributesToRetrieve, []string{"id", "seq", field}) {
				t.Fatalf("first page: %+v", first)
			}
			ids, next, err := pageResult(q, 0, meiliHits(t, meiliThreeHits))
			if err != nil || len(ids) != 2 || ids[1].String() != "0190a1b2-0000-7000-8000-000000000002" || next == "" {
				t.Fatalf("page: %v %q %v", ids, next, err)
			}
			q.Cursor = next
			req, offset, err := pageRequest(q)
			if err != nil {
				t.Fatal(err)
			}
			if want := `currency = "EUR" AND ` + after; req.Filter != want || offset != 0 || req.Offset != 0 {
				t.Fatalf("next page filter\n got %v (offset %d)\nwant %s", req.Filter, offset, want)
			}
			// The last page has no next cursor.
			if _, next, err := pageResult(q, 0, meiliHits(t, meiliThreeHits)[:2]); err != nil || next != "" {
				t.Fatalf("last page: %q %v", next, err)
			}
		})
	}
}

func TestMeiliRelevancePagesByOffset(t *testing.T) {
	q := meiliQuery(func(q *Query) {
		q.Text, q.Terms, q.Sort = "Wireless head", []string{"wireless", "head"}, subjects.SortRelevance
	})
	req, offset, err := pageRequest(q)
	if err != nil {
		t.Fatal(err)
	}
	want := &meilisearch.SearchRequest{Query: "wireless head", MatchingStrategy: meilisearch.All, Limit: 3, AttributesToRetrieve: []string{"id"}}
	if offset != 0 || !reflect.DeepEqual(req, want) {
		t.Fatalf("first page: %+v", req)
	}
	for page, wantOffset := range []int64{2, 4} {
		_, next, err := pageResult(q, offset, meiliHits(t, meiliThreeHits))
		if err != nil {
			t.Fatal(err)
		}
		q.Cursor = next
		if req, offset, err = pageRequest(q); err != nil || offset != wantOffset || req.Offset != wantOffset || req.Filter != nil {
			t.Fatalf("page %d: offset %d, %+v, %v", page+2, offset, req, err)
		}
	}
}

func TestMeiliForgedCursorsAreRefused(t *testing.T) {
	price, seq, at, rating, off := int64(1999), int64(7), int64(1700000000123456), 4.33, int64(2)
	for _, tc := range []struct {
		name string
		sort string
		key  any // nil: Cursor is raw
		raw  string
	}{
		{"not base64", subjects.SortPriceAsc, nil, "%%%"},
		{"not json", subjects.SortPriceAsc, nil, "bm90IGpzb24"},
		{"PostgreSQL's key", subjects.SortPriceAsc, pgKey{Price: &price, ID: meiliCatA}, ""},
		{"no seq", subjects.SortPriceAsc, meiliKey{Price: &price}, ""},
		{"another sort's key", subjects.SortPriceAsc, meiliKey{At: &at, Seq: &seq}, ""},
		{"two sort values", subjects.SortNewest, meiliKey{At: &at, Price: &price, Seq: &seq}, ""},
		{"an offset for a sorted order", subjects.SortRating, meiliKey{Offset: &off}, ""},
		{"a rating beyond 5", subjects.SortRating, meiliKey{Rating: meiliPtr(7.5), Seq: &seq}, ""},
		{"a key for relevance", subjects.SortRelevance, meiliKey{Rating: &rating, Seq: &seq}, ""},
		{"offset zero", subjects.SortRelevance, meiliKey{Offset: meiliPtr[int64](0)}, ""},
		{"negative offset", subjects.SortRelevance, meiliKey{Offset: meiliPtr[int64](-20)}, ""},
		{"offset out of reach", subjects.SortRelevance, meiliKey{Offset: meiliPtr[int64](maxRelevanceOffset + 1)}, ""},
		{"offset and seq", subjects.SortRelevance, meiliKey{Offset: &off, Seq: &seq}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := meiliQuery(func(q *Query) { q.Sort, q.Terms = tc.sort, []string{"x"} })
			q.Cursor = tc.raw
			if tc.key != nil {
				var err error
				if q.Cursor, err = EncodeCursor(q, tc.key); err != nil {
					t.Fatal(err)
				}
			}
			if _, _, err := pageRequest(q); !errors.Is(err, errBadCursor) {
				t.Fatalf("got %v", err)
			}
		})
	}
	// A good cursor of another search is refused too.
	other := meiliQuery(func(q *Query) { q.Sort, q.Currency = subjects.SortPriceAsc, "USD" })
	_, next, err := pageResult(other, 0, meiliHits(t, meiliThreeHits))
	if err != nil {
		t.Fatal(err)
	}
	q := meiliQuery(func(q *Query) { q.Sort, q.Currency = subjects.SortPriceAsc, "EUR" })
	q.Cursor = next
	if _, _, err := pageRequest(q); !errors.Is(err, errBadCursor) {
		t.Fatalf("cursor of another search: %v", err)
	}
}

// meiliTree is electronics (with German and French names) > audio > headphones (German).
func meiliTree() (*product.Tree, [3]uuid.UUID) {
	ids := [3]uuid.UUID{meiliCatA, meiliCatB, uuid.MustParse("0190a1b2-0000-7000-8000-00000000000c")}
	return product.BuildTree([]product.Category{
		{ID: ids[2], ParentID: &ids[1], Name: "Headphones", Slug: "headphones", Translations: map[string]subjects.CategoryText{"de": {Name: "Kopfhörer"}}},
		{ID: ids[0], Name: "Electronics", Slug: "electronics", Translations: map[string]subjects.CategoryText{
			"fr": {Name: "Électronique"}, "de": {Name: "Elektronik"}}},
		{ID: ids[1], ParentID: &ids[0], Name: "Audio", Slug: "audio"},
	}), ids
}

func TestMeiliDocumentOfAProduct(t *testing.T) {
	tr, cats := meiliTree()
	p := product.Product{
		ID: uuid.MustParse("0190a1b2-0000-7000-8000-000000000001"), Seq: 42, SKU: "HP-1",
		Name: "Wireless Headphones", Description: "Over-ear, 30 h battery.",
		Price: subjects.Money{Amount: 12999, Currency: "EUR"}, CategoryID: cats[2],
		Attributes: map[string]string{"color": "black", "brand": "Sonic"},
		Translations: map[string]subjects.ProductText{
			"de": {Name: "Kabellose Kopfhörer", Description: "Ohrumschließend."},
			"fr": {Name: "Casque sans fil"},
		},
		RatingSum: 14, RatingCount: 3, InStock: true, Version: 3,
		CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 678901234, time.UTC),
	}
	want := &meiliDoc{
		ID: "0190a1b2-0000-7000-8000-000000000001", Seq: 42, SKU: "HP-1",
		Name: "Wireless Headphones", Description: "Over-ear, 30 h battery.",
		NameI18n:        map[string]string{"de": "Kabellose Kopfhörer", "fr": "Casque sans fil"},
		DescriptionI18n: map[string]string{"de": "Ohrumschließend."},
		Categories:      []string{"Headphones", "Kopfhörer", "Audio", "Electronics", "Elektronik", "Électronique"},
		CategoryID:      cats[2].String(),
		CategoryIDs:     []string{cats[2].String(), cats[1].String(), cats[0].String()},
		Attributes:      map[string]string{"color": "black", "brand": "Sonic"},
		AttributeNames:  []string{"brand", "color"},
		Price:           12999, Currency: "EUR", PriceBucket: "EUR:4",
		RatingAvg: 4.67, RatingCount: 3, InStock: true,
		CreatedAt: 1735787045678901,
	}
	got := newMeiliDoc(&p, tr)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("document\n got %+v\nwant %+v", got, want)
	}
	// The JSON field names are the ones the settings, filters and sorts name.
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	if names := slices.Sorted(maps.Keys(fields)); !slices.Equal(names, []string{"attribute_names", "attributes", "categories",
		"category_id", "category_ids", "created_at", "currency", "description", "description_i18n", "id", "in_stock", "name",
		"name_i18n", "price", "price_bucket", "rating_avg", "rating_count", "seq", "sku"}) {
		t.Fatalf("fields %q", names)
	}

	// A product without attributes, translations or reviews, in a category the tree does not
	// know yet.
	unknown := uuid.New()
	bare := newMeiliDoc(&product.Product{ID: p.ID, SKU: "X", Name: "X", Price: subjects.Money{Amount: 0, Currency: "USD"}, CategoryID: unknown}, tr)
	if !slices.Equal(bare.CategoryIDs, []string{unknown.String()}) || bare.Categories != nil || bare.RatingAvg != 0 ||
		len(bare.Attributes) != 0 || bare.Attributes == nil || len(bare.AttributeNames) != 0 || bare.PriceBucket != "USD:0" {
		t.Fatalf("bare document: %+v", bare)
	}
}

func TestMeiliPriceBucketsAreWidthBuckets(t *testing.T) {
	for amount, want := range map[int64]int{0: 0, 999: 0, 1000: 1, 2499: 1, 2500: 2, 9999: 3, 10000: 4, 249999: 7, 250000: 8, product.MaxAmount: 8} {
		if got := priceBucketIndex(amount); got != want {
			t.Errorf("bucket of %d: %d, want %d", amount, got, want)
		}
	}
}

func TestMeiliFacetsFromADistribution(t *testing.T) {
	many := map[string]int{}
	var wantMany []subjects.ValueCount
	for i := range 25 {
		v := fmt.Sprintf("v%02d", i)
		many[v] = 1 + i%7
		wantMany = append(wantMany, subjects.ValueCount{Value: v, Count: 1 + i%7})
	}
	slices.SortFunc(wantMany, func(a, b subjects.ValueCount) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Value, b.Value)
	})
	dist := map[string]map[string]int{
		"category_id":      {meiliCatA.String(): 3, meiliCatB.String(): 2},
		"price_bucket":     {"USD:8": 2, "EUR:3": 2, "EUR:0": 1},
		"attribute_names":  {"color": 5, "many": 25, "size": 2},
		"attributes.color": {"white": 1, "black": 3, "red": 1},
		"attributes.size":  {},
		"attributes.many":  many,
	}
	got, err := rawFacets(dist)
	if err != nil {
		t.Fatal(err)
	}
	want := RawFacets{
		Categories: map[uuid.UUID]int{meiliCatA: 3, meiliCatB: 2},
		Attributes: map[string][]subjects.ValueCount{
			"color": {{Value: "black", Count: 3}, {Value: "red", Count: 1}, {Value: "white", Count: 1}},
			"many":  wantMany[:MaxFacetValues],
		},
		Prices: []subjects.PriceBucket{PriceBucket("EUR", 0, 1), PriceBucket("EUR", 3, 2), PriceBucket("USD", 8, 2)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("facets\n got %+v\nwant %+v", got, want)
	}
	if got.Prices[1].Min != 50_00 || *got.Prices[1].Max != 100_00 || got.Prices[2].Max != nil {
		t.Fatalf("bucket bounds: %+v", got.Prices)
	}
	empty, err := rawFacets(map[string]map[string]int{})
	if err != nil || empty.Categories == nil || empty.Attributes == nil || empty.Prices != nil {
		t.Fatalf("no matches: %+v %v", empty, err)
	}
	for _, bad := range []map[string]map[string]int{
		{"category_id": {"electronics": 1}},
		{"price_bucket": {"EUR:9": 1}},
		{"price_bucket": {"EUR": 1}},
		{"price_bucket": {":1": 1}},
	} {
		if _, err := rawFacets(bad); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

func TestMeiliSettingsServeTheQueries(t *testing.T) {
	for _, tc := range []struct{ rules, want []string }{
		{[]string{"words", "typo", "proximity", "attribute", "sort", "exactness"}, []string{"sort", "words", "typo", "proximity", "attribute", "exactness"}},
		{[]string{"words", "typo", "proximity", "attributeRank", "sort", "wordPosition", "exactness"},
			[]string{"sort", "words", "typo", "proximity", "attributeRank", "wordPosition", "exactness"}},
		{[]string{"sort", "words", "custom:desc"}, []string{"sort", "words", "custom:desc"}},
	} {
		if got := sortFirst(tc.rules); !slices.Equal(got, tc.want) {
			t.Errorf("sortFirst(%q) = %q", tc.rules, got)
		}
	}
	s := meiliSettings([]string{"sort"})
	for _, sort := range []string{subjects.SortPriceAsc, subjects.SortPriceDesc, subjects.SortNewest, subjects.SortRating} {
		for _, p := range meiliSort(sort) {
			field := strings.Split(p, ":")[0]
			if !slices.Contains(s.SortableAttributes, field) || !slices.Contains(s.FilterableAttributes, field) {
				t.Errorf("%s: %s must be sortable and filterable (keyset pages filter on it)", sort, field)
			}
		}
	}
	for _, f := range append(slices.Clone(baseFacets), "category_ids", "currency", "price", "in_stock", "rating_avg", "attributes") {
		if !slices.Contains(s.FilterableAttributes, f) {
			t.Errorf("%s is not filterable", f)
		}
	}
	if s.SearchableAttributes[0] != "name" || s.SearchableAttributes[len(s.SearchableAttributes)-1] != "description_i18n" ||
		s.Faceting.MaxValuesPerFacet < MaxFacetValues || s.Faceting.SortFacetValuesBy["*"] != meilisearch.SortFacetTypeCount {
		t.Errorf("settings: %+v", s)
	}
}

func TestMeiliConfigDefaultsAndRedaction(t *testing.T) {
	c := MeiliConfig{URL: "http://127.0.0.1:7700", APIKey: "s3cret-key"}
	if err := c.check(); err != nil || c.Index != "products" || c.Timeout != 5*time.Second || c.TaskTimeout != time.Minute {
		t.Fatalf("defaults: %v %v", c, err)
	}
	type config struct{ Meili MeiliConfig } // as the catalog's Config holds it
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", config{Meili: c}), fmt.Sprintf("%v", &config{Meili: c}), fmt.Sprintf("%#v", c)} {
		if strings.Contains(s, "s3cret") || !strings.Contains(s, "127.0.0.1:7700") {
			t.Errorf("printed config: %s", s)
		}
	}
	if b, _ := json.Marshal(c); strings.Contains(string(b), "s3cret") {
		t.Errorf("config as JSON: %s", b)
	}
	for _, bad := range []MeiliConfig{{}, {URL: "127.0.0.1:7700"}, {URL: "ftp://host"}, {URL: "http://"},
		{URL: "http://host", Index: "no spaces"}, {URL: "http://host", Index: "a/b"}} {
		if err := bad.check(); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
	if _, err := NewMeiliEngine(MeiliConfig{URL: "nope"}); err == nil {
		t.Error("engine of a bad URL")
	}
}

// TestMeiliWireFormat checks the requests the engine sends against Meilisearch's documented
// API (POST /indexes/{uid}/search, its body, the Bearer key) and how it reads documented
// response shapes. It is a wire-format check with canned answers, not a substitute for the
// integration test against a real Meilisearch (meili_integration_test.go).
func TestMeiliWireFormat(t *testing.T) {
	type call struct {
		Method, Path, Auth string
		Body               map[string]any
	}
	var mu sync.Mutex
	var calls []call
	var answers []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		c := call{Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization")}
		if err := json.NewDecoder(r.Body).Decode(&c.Body); err != nil {
			t.Errorf("body: %v", err)
		}
		calls = append(calls, c)
		w.Header().Set("Content-Type", "application/json")
		if len(answers) == 0 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte(answers[0]))
		answers = answers[1:]
	}))
	defer srv.Close()
	e, err := NewMeiliEngine(MeiliConfig{URL: srv.URL, APIKey: "test-key", Index: "shop_products"})
	if err != nil {
		t.Fatal(err)
	}
	body := func(js string) map[string]any {
		var m map[string]any
		if err := json.Unmarshal([]byte(js), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}

	// A second page of a filtered search by price.
	q := meiliQuery(func(q *Query) {
		q.Text, q.Terms, q.Sort, q.Limit = "Headphones", []string{"headphones"}, subjects.SortPriceAsc, 2
		q.Category, q.InStock = &meiliCatA, meiliPtr(true)
		q.Attributes = []AttrFilter{{Name: "color", Values: []string{`12" "matte"`, "black"}}}
	})
	q.Cursor, err = EncodeCursor(q, meiliKey{Price: meiliPtr[int64](1999), Seq: meiliPtr[int64](7)})
	if err != nil {
		t.Fatal(err)
	}
	answers = []string{`{"hits": ` + meiliThreeHits + `, "query": "headphones", "processingTimeMs": 1, "limit": 3, "offset": 0, "estimatedTotalHits": 9}`}
	ids, next, err := e.Page(t.Context(), q)
	if err != nil || len(ids) != 2 || ids[0].String() != "0190a1b2-0000-7000-8000-000000000001" || next == "" {
		t.Fatalf("page: %v %q %v", ids, next, err)
	}
	want := call{Method: "POST", Path: "/indexes/shop_products/search", Auth: "Bearer test-key", Body: body(`{
		"q": "headphones",
		"matchingStrategy": "all",
		"filter": "category_ids = \"0190a1b2-0000-7000-8000-00000000000a\" AND in_stock = true AND attributes.color IN [\"12\\\" \\\"matte\\\"\", \"black\"] AND (price > 1999 OR (price = 1999 AND seq > 7))",
		"sort": ["price:asc", "seq:asc"],
		"limit": 3,
		"attributesToRetrieve": ["id", "seq", "price"],
		"hybrid": null}`)}
	if !reflect.DeepEqual(calls[0], want) {
		t.Fatalf("search request\n got %+v\nwant %+v", calls[0], want)
	}

	// Facets: the first search learns the attribute names, the second asks for their values;
	// the next Facets asks for everything at once.
	calls = nil
	fq := meiliQuery(func(q *Query) { q.Terms, q.Currency = []string{"headphones"}, "EUR" })
	answers = []string{
		`{"hits": [], "query": "headphones", "processingTimeMs": 2, "hitsPerPage": 0, "page": 1, "totalPages": 0, "totalHits": 5,
		  "facetDistribution": {"category_id": {"` + meiliCatA.String() + `": 3, "` + meiliCatB.String() + `": 2},
		    "price_bucket": {"EUR:2": 4, "EUR:3": 1}, "attribute_names": {"color": 5, "size": 1}}, "facetStats": {}}`,
		`{"hits": [], "query": "headphones", "processingTimeMs": 1, "hitsPerPage": 0, "page": 1, "totalPages": 0, "totalHits": 5,
		  "facetDistribution": {"attributes.color": {"black": 4, "white": 1}, "attributes.size": {"M": 1}}}`,
	}
	f, err := e.Facets(t.Context(), fq)
	if err != nil {
		t.Fatal(err)
	}
	wantFacets := RawFacets{
		Categories: map[uuid.UUID]int{meiliCatA: 3, meiliCatB: 2},
		Attributes: map[string][]subjects.ValueCount{"color": {{Value: "black", Count: 4}, {Value: "white", Count: 1}}, "size": {{Value: "M", Count: 1}}},
		Prices:     []subjects.PriceBucket{PriceBucket("EUR", 2, 4), PriceBucket("EUR", 3, 1)},
	}
	if !reflect.DeepEqual(f, wantFacets) {
		t.Fatalf("facets\n got %+v\nwant %+v", f, wantFacets)
	}
	facetBody := func(facets string) map[string]any {
		return body(`{"q": "headphones", "matchingStrategy": "all", "filter": "currency = \"EUR\"", "facets": ` + facets + `, "hitsPerPage": 0, "hybrid": null}`)
	}
	if len(calls) != 2 || !reflect.DeepEqual(calls[0].Body, facetBody(`["category_id", "price_bucket", "attribute_names"]`)) ||
		!reflect.DeepEqual(calls[1].Body, facetBody(`["attributes.color", "attributes.size"]`)) {
		t.Fatalf("facet requests: %+v", calls)
	}
	calls = nil
	answers = []string{`{"hits": [], "query": "headphones", "processingTimeMs": 1, "totalHits": 0, "facetDistribution": {}}`}
	if _, err := e.Facets(t.Context(), fq); err != nil {
		t.Fatal(err)
	}
	if want := facetBody(`["category_id", "price_bucket", "attribute_names", "attributes.color", "attributes.size"]`); len(calls) != 1 ||
		!reflect.DeepEqual(calls[0].Body, want) {
		t.Fatalf("facets after learning: %+v", calls)
	}

	// Meilisearch's errors come back as errors.
	if _, _, err := e.Page(t.Context(), meiliQuery(nil)); err == nil {
		t.Fatal("no error from a 500")
	}
}
