package catalog_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/souk/souk/internal/demodata"
	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/services/catalog"
	"github.com/souk/souk/services/catalog/search"
	"github.com/souk/souk/subjects"
)

// demoSize is the seeded catalog of the search tests: small enough to seed in a second or
// two, large enough that every leaf category holds products.
const demoSize = 1000

// seeded starts a catalog on a database holding demodata.Catalog(demoSize), and returns the
// demo products (as created) for the expectations.
func seeded(t *testing.T) (*env, []subjects.ProductCreateRequest) {
	t.Helper()
	return seededWith(t, catalog.Config{})
}

// seededWith is seeded with a catalog of cfg.
func seededWith(t *testing.T, cfg catalog.Config) (*env, []subjects.ProductCreateRequest) {
	t.Helper()
	e := newEnv(t)
	if _, err := seed(e.ctx, e.db, demoSize); err != nil {
		t.Fatal(err)
	}
	e.start(cfg)
	_, products := demodata.Catalog(demoSize)
	return e, products
}

// TestImportCreatesOnlyWhatIsMissing imports the demo catalog twice, the second time longer:
// categories are found by path and products by SKU, so only the difference is written, and
// every category lands below its parent.
func TestImportCreatesOnlyWhatIsMissing(t *testing.T) {
	e := newEnv(t)
	cats, _ := demodata.Catalog(0)
	if res, err := seed(e.ctx, e.db, 50); err != nil || res != (catalog.ImportResult{Categories: len(cats), Products: 50}) {
		t.Fatalf("first import: %+v %v", res, err)
	}
	if res, err := seed(e.ctx, e.db, 80); err != nil || res != (catalog.ImportResult{Products: 30}) {
		t.Fatalf("second import: %+v %v", res, err)
	}
	e.start(catalog.Config{})
	tree, err := subjects.CategoryList.Call(e.ctx, e.nc, subjects.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	var walk func(cs []subjects.Category)
	walk = func(cs []subjects.Category) {
		for _, c := range cs {
			paths = append(paths, c.Path)
			walk(c.Children)
		}
	}
	walk(tree.Items)
	for _, c := range cats {
		if !slices.Contains(paths, c.Path) {
			t.Errorf("category %s is not in the tree", c.Path)
		}
	}
	if len(paths) != len(cats) {
		t.Errorf("%d categories in the tree, %d imported", len(paths), len(cats))
	}
}

// count returns how many demo products satisfy keep.
func count(products []subjects.ProductCreateRequest, keep func(subjects.ProductCreateRequest) bool) int {
	n := 0
	for _, p := range products {
		if keep(p) {
			n++
		}
	}
	return n
}

// all walks every page of req and returns the items.
func (e *env) all(req subjects.SearchRequest) []subjects.Product {
	e.t.Helper()
	var items []subjects.Product
	for range 1000 {
		page := e.search(req)
		items = append(items, page.Items...)
		if page.NextCursor == "" {
			return items
		}
		req.Cursor = page.NextCursor
	}
	e.t.Fatal("more than 1000 pages")
	return nil
}

func skus(items []subjects.Product) []string {
	out := make([]string, len(items))
	for i, p := range items {
		out[i] = p.SKU
	}
	return out
}

func facetCount(f subjects.Facets, path string) int {
	for _, c := range f.Categories {
		if c.Path == path {
			return c.Count
		}
	}
	return 0
}

const headphonesPath = "electronics/audio/headphones"

func TestSearchFindsWhatAShopperMeans(t *testing.T) {
	e, products := seeded(t)
	inHeadphones := count(products, func(p subjects.ProductCreateRequest) bool { return p.CategoryID == headphonesPath })
	if inHeadphones < 5 {
		t.Fatalf("the demo catalog has %d headphones", inHeadphones)
	}
	// A typo, a prefix, the German word (only in translations), with and without umlaut:
	// each finds every pair of headphones, and the best match is one.
	for _, q := range []string{"heaphones", "headph", "Kopfhörer", "kopfhorer", "headphones"} {
		page := e.search(subjects.SearchRequest{Q: q, Limit: 5})
		if got := facetCount(page.Facets, headphonesPath); got != inHeadphones {
			t.Errorf("q=%s finds %d of the %d headphones", q, got, inHeadphones)
		}
		if len(page.Items) == 0 || page.Items[0].CategoryID != categoryID(e, headphonesPath) {
			t.Errorf("q=%s: the best match is not a pair of headphones: %v", q, skus(page.Items))
		}
	}
	// A query with a filter: every match obeys it, and none is missing.
	cheap := e.all(subjects.SearchRequest{Q: "heaphones", MaxPrice: ptr(int64(10000)), Limit: 50})
	want := count(products, func(p subjects.ProductCreateRequest) bool {
		return p.CategoryID == headphonesPath && p.Price.Amount <= 10000
	})
	got := 0
	for _, p := range cheap {
		if p.Price.Amount > 10000 || p.Price.Currency != "EUR" {
			t.Fatalf("max_price=10000 let through %s at %d", p.SKU, p.Price.Amount)
		}
		if p.CategoryID == categoryID(e, headphonesPath) {
			got++
		}
	}
	if got != want {
		t.Fatalf("q=heaphones&max_price=10000 finds %d of the %d headphones under 100 EUR", got, want)
	}
	// Multi-word: every word must match.
	for _, p := range e.all(subjects.SearchRequest{Q: "black headphones", Limit: 100}) {
		if p.Attributes["color"] != "black" && !strings.Contains(strings.ToLower(p.Name+p.Description), "black") {
			t.Errorf("black headphones found %s (%s, %v)", p.SKU, p.Name, p.Attributes)
		}
	}
}

func categoryID(e *env, path string) string {
	e.t.Helper()
	tree, err := subjects.CategoryList.Call(e.ctx, e.nc, subjects.Empty{})
	if err != nil {
		e.t.Fatal(err)
	}
	var find func([]subjects.Category) string
	find = func(cs []subjects.Category) string {
		for _, c := range cs {
			if c.Path == path {
				return c.ID
			}
			if id := find(c.Children); id != "" {
				return id
			}
		}
		return ""
	}
	return find(tree.Items)
}

func TestFiltersAndFacetsAddUp(t *testing.T) {
	e, products := seeded(t)
	all := e.search(subjects.SearchRequest{Limit: 1})
	top, buckets := 0, 0
	for _, c := range all.Facets.Categories {
		if c.ParentID == "" {
			top += c.Count
		}
		if want := count(products, func(p subjects.ProductCreateRequest) bool {
			return p.CategoryID == c.Path || strings.HasPrefix(p.CategoryID, c.Path+"/")
		}); c.Count != want {
			t.Errorf("facet %s counts %d, the catalog has %d", c.Path, c.Count, want)
		}
	}
	for _, b := range all.Facets.Prices {
		buckets += b.Count
	}
	if all.Facets.Total != demoSize || top != demoSize || buckets != demoSize {
		t.Fatalf("total %d, top-level categories %d, price buckets %d; want %d each", all.Facets.Total, top, buckets, demoSize)
	}
	black := count(products, func(p subjects.ProductCreateRequest) bool { return p.Attributes["color"] == "black" })
	if got := valueCount(all.Facets, "color", "black"); got != black {
		t.Fatalf("facet color=black counts %d, the catalog has %d", got, black)
	}

	// Category (with subcategories) and attribute filters, alone and together.
	audio := e.search(subjects.SearchRequest{Category: "electronics/audio", Attributes: map[string][]string{"color": {"black", "white"}}, Limit: 100})
	want := count(products, func(p subjects.ProductCreateRequest) bool {
		return strings.HasPrefix(p.CategoryID, "electronics/audio/") && (p.Attributes["color"] == "black" || p.Attributes["color"] == "white")
	})
	if audio.Facets.Total != want || len(audio.Items) != min(want, 100) {
		t.Fatalf("audio in black or white: %d (%d items), want %d", audio.Facets.Total, len(audio.Items), want)
	}
	for _, p := range audio.Items {
		if c := p.Attributes["color"]; c != "black" && c != "white" {
			t.Fatalf("%s has color %q", p.SKU, c)
		}
	}
	mid := e.search(subjects.SearchRequest{MinPrice: ptr(int64(5000)), MaxPrice: ptr(int64(20000)), Currency: "eur"})
	if want := count(products, func(p subjects.ProductCreateRequest) bool { return p.Price.Amount >= 5000 && p.Price.Amount <= 20000 }); mid.Facets.Total != want {
		t.Fatalf("50..200 EUR: %d, want %d", mid.Facets.Total, want)
	}
	if none := e.search(subjects.SearchRequest{Currency: "USD"}); none.Facets.Total != 0 || len(none.Items) != 0 {
		t.Fatalf("no product is priced in USD: %+v", none.Facets)
	}
}

func valueCount(f subjects.Facets, attr, value string) int {
	for _, v := range f.Attributes[attr] {
		if v.Value == value {
			return v.Count
		}
	}
	return 0
}

func TestEverySortPagesThroughEverythingOnce(t *testing.T) {
	e, _ := seeded(t)
	for _, sort := range []string{subjects.SortNewest, subjects.SortPriceAsc, subjects.SortPriceDesc, subjects.SortRating, subjects.SortRelevance} {
		req := subjects.SearchRequest{Sort: sort, Limit: 37}
		if sort == subjects.SortRelevance {
			req.Q = "black"
		}
		items := e.all(req)
		total := e.search(req).Facets.Total
		names := skus(items)
		slices.Sort(names)
		if len(slices.Compact(names)) != len(items) || len(items) != total {
			t.Fatalf("%s: %d items, %d distinct, total %d", sort, len(items), len(slices.Compact(names)), total)
		}
		for i := 1; i < len(items); i++ {
			a, b := items[i-1], items[i]
			bad := (sort == subjects.SortPriceAsc && a.Price.Amount > b.Price.Amount) ||
				(sort == subjects.SortPriceDesc && a.Price.Amount < b.Price.Amount) ||
				(sort == subjects.SortNewest && a.CreatedAt.Before(b.CreatedAt)) ||
				(sort == subjects.SortRating && a.Rating.Average < b.Rating.Average)
			if bad {
				t.Fatalf("%s: %s before %s", sort, a.SKU, b.SKU)
			}
		}
	}
}

// Products added while a shopper pages must not make the pages repeat or skip anything
// that was there when the shopper began.
func TestPagesNeitherRepeatNorSkipWhileProductsAreAdded(t *testing.T) {
	e, _ := seeded(t)
	cat := categoryID(e, headphonesPath)
	for _, sort := range []string{subjects.SortNewest, subjects.SortPriceAsc} {
		before := skus(e.all(subjects.SearchRequest{Sort: sort, Limit: 100}))
		var wg sync.WaitGroup
		stop := make(chan struct{})
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				e.product(subjects.ProductCreateRequest{SKU: fmt.Sprintf("NEW-%s-%d", sort, i), Name: "Newcomer", CategoryID: cat,
					Price: eur(int64(100 + i*997%100000))})
			}
		})
		req := subjects.SearchRequest{Sort: sort, Limit: 25}
		var seen []string
		for range 1000 {
			page := e.search(req)
			seen = append(seen, skus(page.Items)...)
			if page.NextCursor == "" {
				break
			}
			req.Cursor = page.NextCursor
		}
		close(stop)
		wg.Wait()
		sorted := slices.Clone(seen)
		slices.Sort(sorted)
		if len(slices.Compact(sorted)) != len(seen) {
			t.Fatalf("%s: a product was listed twice", sort)
		}
		for _, sku := range before {
			if !slices.Contains(seen, sku) {
				t.Fatalf("%s: %s was skipped", sort, sku)
			}
		}
	}
}

func TestBadSearchesAreRefusedWithTheFieldNamed(t *testing.T) {
	e, _ := seeded(t)
	other := e.search(subjects.SearchRequest{Q: "black", Limit: 2}).NextCursor
	for _, c := range []struct {
		req   subjects.SearchRequest
		field string
	}{
		{subjects.SearchRequest{Attributes: map[string][]string{"flavour": {"x"}}}, "attr.flavour"},
		{subjects.SearchRequest{Cursor: "forged!"}, "cursor"},
		{subjects.SearchRequest{Q: "white", Limit: 2, Cursor: other}, "cursor"},
		{subjects.SearchRequest{Limit: 101}, "limit"},
		{subjects.SearchRequest{Limit: -1}, "limit"},
		{subjects.SearchRequest{Sort: "cheapest"}, "sort"},
		{subjects.SearchRequest{MinPrice: ptr(int64(500)), MaxPrice: ptr(int64(100))}, "min_price"},
		{subjects.SearchRequest{MaxPrice: ptr(int64(-1))}, "max_price"},
		{subjects.SearchRequest{Currency: "EURO"}, "currency"},
		{subjects.SearchRequest{MinRating: ptr(6.0)}, "min_rating"},
		{subjects.SearchRequest{Q: strings.Repeat("a", 201)}, "q"},
		{subjects.SearchRequest{Category: "no/such/category"}, "category"},
		{subjects.SearchRequest{Category: "elec\x00tronics"}, "category"},
		{subjects.SearchRequest{Attributes: map[string][]string{"color": {"bl\x00ack"}}}, "attr.color"},
	} {
		_, err := subjects.ProductSearch.Call(e.ctx, e.nc, c.req)
		expect.Error(t, err, 400, "validation", c.field)
	}
	// Input that is odd but harmless searches.
	for _, q := range []string{"'; drop table catalog.products; --", "%_\\", "¯\\_(ツ)_/¯", "the", "a b c d e f g h i j k"} {
		if _, err := subjects.ProductSearch.Call(e.ctx, e.nc, subjects.SearchRequest{Q: q}); err != nil {
			t.Errorf("q=%q: %v", q, err)
		}
	}
}

// TestAnAttributeIsFilterableOnceAProductHasIt filters on an attribute right after the first
// product with it is imported behind the instance's back (as `souk seed` does) and right
// after an unknown name was refused: the filter is served, not refused as unknown.
func TestAnAttributeIsFilterableOnceAProductHasIt(t *testing.T) {
	e := newEnv(t)
	e.start(catalog.Config{})
	_, err := subjects.ProductSearch.Call(e.ctx, e.nc, subjects.SearchRequest{Attributes: map[string][]string{"color": {"black"}}})
	expect.Error(t, err, 400, "validation", "attr.color")
	if _, err := seed(e.ctx, e.db, 50); err != nil {
		t.Fatal(err)
	}
	page, err := subjects.ProductSearch.Call(e.ctx, e.nc, subjects.SearchRequest{Attributes: map[string][]string{"color": {"black"}}})
	if err != nil {
		t.Fatalf("filter on color once products have it: %v", err)
	}
	if len(page.Items) == 0 {
		t.Fatalf("no black product among the seeded")
	}
}

// A capped search (SOUK_SEARCH_MAX_MATCHES) counts its facets over the first matches it
// reads and says so past the cap, and exactly below it; relevance pages rank those same
// candidates, best first, each once, and end with them; sorted pages still walk every match.
func TestCappedSearchCountsAndRanksTheFirstMatches(t *testing.T) {
	const maxMatches = 40
	e, products := seededWith(t, catalog.Config{SearchMaxMatches: maxMatches})

	// Past the cap: every product matches an empty search.
	all := e.search(subjects.SearchRequest{Limit: 1})
	top, buckets := 0, 0
	for _, c := range all.Facets.Categories {
		if c.ParentID == "" {
			top += c.Count
		}
	}
	for _, b := range all.Facets.Prices {
		buckets += b.Count
	}
	if !all.Facets.Estimated || all.Facets.Total != maxMatches || top != maxMatches || buckets != maxMatches {
		t.Fatalf("all %d products, cap %d: estimated %v, total %d, top-level categories %d, price buckets %d",
			len(products), maxMatches, all.Facets.Estimated, all.Facets.Total, top, buckets)
	}
	// Sorted pages are not capped.
	if n := len(e.all(subjects.SearchRequest{Sort: subjects.SortNewest, Limit: 100})); n != demoSize {
		t.Fatalf("newest pages list %d products, want all %d", n, demoSize)
	}

	// Below the cap the counts are exact: a category's matches, counted by its sorted pages.
	narrow := subjects.SearchRequest{Category: headphonesPath, Attributes: map[string][]string{"color": {"black"}}, Limit: 1}
	want := len(e.all(subjects.SearchRequest{Category: narrow.Category, Attributes: narrow.Attributes, Sort: subjects.SortPriceAsc, Limit: 100}))
	if want == 0 || want > maxMatches {
		t.Fatalf("the narrow search matches %d products; the test needs 1 to %d", want, maxMatches)
	}
	if f := e.search(narrow).Facets; f.Estimated || f.Total != want {
		t.Fatalf("%d matches below the cap: estimated %v, total %d", want, f.Estimated, f.Total)
	}

	// Relevance over a broad word: the pages list the capped candidates once each, in
	// rank order across pages, so page 1 is the best of them.
	req := subjects.SearchRequest{Q: "black", Limit: 7}
	matches := len(e.all(subjects.SearchRequest{Q: req.Q, Sort: subjects.SortNewest, Limit: 100}))
	if matches <= maxMatches {
		t.Fatalf("%q matches %d products; the test needs more than %d", req.Q, matches, maxMatches)
	}
	items := e.all(req)
	ids := make([]string, len(items))
	for i, p := range items {
		ids[i] = p.ID
	}
	distinct := slices.Clone(ids)
	slices.Sort(distinct)
	if len(slices.Compact(distinct)) != maxMatches || len(ids) != maxMatches {
		t.Fatalf("relevance pages list %d products (%d distinct), want the %d candidates", len(ids), len(slices.Compact(distinct)), maxMatches)
	}
	if f := e.search(req).Facets; !f.Estimated || f.Total != maxMatches {
		t.Fatalf("%q: estimated %v, total %d; want an estimate over %d", req.Q, f.Estimated, f.Total, maxMatches)
	}
	// The first page with its facets in one statement is the first page and the facets of
	// their own statements.
	engine := &search.PGEngine{DB: e.db, MaxMatches: maxMatches}
	pageIDs, _, _ := jointIsOwn(e, engine, req, "the first page")
	if len(pageIDs) != req.Limit {
		t.Fatalf("the first page lists %d products, want %d", len(pageIDs), req.Limit)
	}
	if got := fmt.Sprint(pageIDs); got != fmt.Sprint(ids[:req.Limit]) {
		t.Fatalf("the engine's first page %s is not the catalog's %v", got, ids[:req.Limit])
	}

	ranks := map[string]float32{}
	rows, err := e.db.Query(e.ctx, `select id::text, ts_rank(search, catalog.search_query(array['black'], true), 1)
		from catalog.products where id = any($1::uuid[])`, ids)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var r float32
		if err := rows.Scan(&id, &r); err != nil {
			t.Fatal(err)
		}
		ranks[id] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(ids); i++ {
		if ranks[ids[i-1]] < ranks[ids[i]] {
			t.Fatalf("relevance: %s (rank %v) before %s (rank %v)", items[i-1].SKU, ranks[ids[i-1]], items[i].SKU, ranks[ids[i]])
		}
	}
}

// A sorted page asked with its facets (the joint statement) comes from the facets' own read
// of the matches when the search has at most MaxMatches of them, and from its own statement
// when it has more. Either way, page for page and cursor for cursor, it is what Page gives,
// ties in the sort key broken the same, and the facets are what Facets counts.
func TestSortedPagesWithTheirFacetsAreTheSortedPages(t *testing.T) {
	const maxMatches = 40
	e, _ := seededWith(t, catalog.Config{SearchMaxMatches: maxMatches})
	engine := &search.PGEngine{DB: e.db, MaxMatches: maxMatches}
	for _, c := range []struct {
		req  subjects.SearchRequest
		many bool // more matches than maxMatches
	}{
		{subjects.SearchRequest{Q: "black"}, true},
		{subjects.SearchRequest{Q: "headphones", MaxPrice: ptr(int64(9000))}, false},
		{subjects.SearchRequest{Q: "wireless headphones", MinPrice: ptr(int64(1000))}, false},
	} {
		for _, sort := range []string{subjects.SortPriceAsc, subjects.SortPriceDesc, subjects.SortNewest, subjects.SortRating} {
			req := c.req
			req.Sort, req.Limit = sort, 7
			listed := 0
			for page := 1; ; page++ {
				ids, next, facets := jointIsOwn(e, engine, req, fmt.Sprintf("%q by %s, page %d", req.Q, sort, page))
				if facets.Estimated != c.many {
					t.Fatalf("%q: estimated %v; the case wants more than %d matches: %v", req.Q, facets.Estimated, maxMatches, c.many)
				}
				listed += len(ids)
				if next == "" {
					break
				}
				req.Cursor = next
			}
			if listed == 0 || (listed > maxMatches) != c.many {
				t.Fatalf("%q by %s: %d matches listed; the case wants more than %d: %v", req.Q, sort, listed, maxMatches, c.many)
			}
		}
	}
}

// jointIsOwn fails the test unless engine answers req jointly (PageFacets) and that is
// what its own statements give (Page and Facets), which it returns; what names req in a
// failure.
func jointIsOwn(e *env, engine *search.PGEngine, req subjects.SearchRequest, what string) ([]uuid.UUID, string, search.RawFacets) {
	e.t.Helper()
	q, err := search.NewQuery(e.ctx, req, nil, nil, "EUR")
	if err != nil {
		e.t.Fatal(err)
	}
	if !engine.Joint(q) {
		e.t.Fatalf("%s: not answered jointly", what)
	}
	jointIDs, jointNext, jointFacets, err := engine.PageFacets(e.ctx, q)
	if err != nil {
		e.t.Fatal(err)
	}
	ids, next, err := engine.Page(e.ctx, q)
	if err != nil {
		e.t.Fatal(err)
	}
	facets, err := engine.Facets(e.ctx, q)
	if err != nil {
		e.t.Fatal(err)
	}
	if !slices.Equal(jointIDs, ids) || jointNext != next || !reflect.DeepEqual(jointFacets, facets) {
		e.t.Fatalf("%s: joint %v (next %q), facets %+v;\nown statements %v (next %q), facets %+v",
			what, jointIDs, jointNext, jointFacets, ids, next, facets)
	}
	return ids, next, facets
}
