package search

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/souk/souk/platform/page"
	"github.com/souk/souk/services/catalog/product"
	"github.com/souk/souk/subjects"
)

// meiliIntegration returns the configuration of a uniquely named index on the Meilisearch
// of MEILI_URL (and MEILI_API_KEY), deleted when the test ends, or skips the test.
func meiliIntegration(t *testing.T) MeiliConfig {
	t.Helper()
	u := os.Getenv("MEILI_URL")
	if u == "" {
		t.Skip("MEILI_URL not set: the Meilisearch integration test needs a running Meilisearch (see README)")
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	cfg := MeiliConfig{URL: u, APIKey: os.Getenv("MEILI_API_KEY"), Index: "souk_test_" + hex.EncodeToString(b[:]), TaskTimeout: 30 * time.Second}
	if err := cfg.check(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		client := cfg.client()
		if task, err := client.DeleteIndexWithContext(ctx, cfg.Index); err != nil {
			t.Logf("delete index %s: %v", cfg.Index, err)
		} else if _, err := client.WaitForTaskWithContext(ctx, task.TaskUID, 50*time.Millisecond); err != nil {
			t.Logf("delete index %s: %v", cfg.Index, err)
		}
	})
	return cfg
}

// meiliCatalog is a small shop: a category tree and 20 products built in Go, with German
// translations, colours, two currencies, ratings, and two products created in the same
// microsecond.
func meiliCatalog() (*product.Tree, map[string]uuid.UUID, []*product.Product) {
	cat := map[string]uuid.UUID{}
	var cats []product.Category
	add := func(path, name, de string) {
		id := uuid.New()
		cat[path] = id
		c := product.Category{ID: id, Name: name, Slug: path[strings.LastIndexByte(path, '/')+1:], Translations: map[string]subjects.CategoryText{}}
		if i := strings.LastIndexByte(path, '/'); i > 0 {
			parent := cat[path[:i]]
			c.ParentID = &parent
		}
		if de != "" {
			c.Translations["de"] = subjects.CategoryText{Name: de}
		}
		cats = append(cats, c)
	}
	add("electronics", "Electronics", "Elektronik")
	add("electronics/audio", "Audio", "")
	add("electronics/audio/headphones", "Headphones", "Kopfhörer")
	add("electronics/audio/speakers", "Speakers", "Lautsprecher")
	add("home", "Home", "Haushalt")
	add("home/kitchen", "Kitchen", "Küche")
	add("home/lighting", "Lighting", "Beleuchtung")

	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var products []*product.Product
	p := func(path, name, de, color, cur string, amount int64, ratings ...int) *product.Product {
		n := len(products)
		pr := &product.Product{ID: uuid.New(), Seq: int64(n + 1), SKU: fmt.Sprintf("IT-%02d", n), Name: name,
			Description: "A fine " + strings.ToLower(name) + ".", Price: subjects.Money{Amount: amount, Currency: cur},
			CategoryID: cat[path], Attributes: map[string]string{"color": color}, InStock: n%3 != 0,
			Translations: map[string]subjects.ProductText{}, CreatedAt: base.Add(time.Duration(n) * time.Minute)}
		if de != "" {
			pr.Translations["de"] = subjects.ProductText{Name: de}
		}
		for _, r := range ratings {
			pr.RatingSum += int64(r)
			pr.RatingCount++
		}
		products = append(products, pr)
		return pr
	}
	p("electronics/audio/headphones", "Wireless Headphones", "Kabellose Kopfhörer", "black", "EUR", 129_99, 5, 4, 5)
	p("electronics/audio/headphones", "Studio Headphones", "", "black", "EUR", 89_00, 4)
	p("electronics/audio/headphones", "Kids Headphones", "", "blue", "EUR", 19_99)
	p("electronics/audio/headphones", "Noise Cancelling Headphones", "", "white", "EUR", 249_00, 5, 5)
	p("electronics/audio/speakers", "Bluetooth Speaker", "", "black", "EUR", 59_00, 3)
	p("electronics/audio/speakers", "Bookshelf Speakers", "Regallautsprecher", "white", "EUR", 199_00)
	p("electronics/audio/speakers", "Party Speaker", "", "red", "USD", 149_00, 2, 4)
	p("electronics", "USB Cable", "USB-Kabel", "white", "EUR", 9_99)
	p("electronics", "Power Bank", "", "black", "EUR", 29_99, 4)
	p("home/kitchen", "Espresso Machine", "Espressomaschine", "red", "EUR", 499_00, 5)
	p("home/kitchen", "Electric Kettle", "Wasserkocher", "white", "EUR", 39_99, 4, 3)
	p("home/kitchen", "Toaster", "", "red", "EUR", 34_99)
	p("home/kitchen", "Chef's Knife", "Kochmesser", "black", "EUR", 79_00, 5)
	p("home/kitchen", "Cutting Board", "Schneidebrett", "brown", "EUR", 24_99)
	p("home/kitchen", "Coffee Grinder", "Kaffeemühle", "black", "USD", 45_00, 4)
	p("home/lighting", "Desk Lamp", "Schreibtischlampe", "black", "EUR", 49_00, 4, 4)
	p("home/lighting", "Floor Lamp", "Stehlampe", "white", "EUR", 129_99)
	p("home/lighting", "LED Bulb", "", "white", "EUR", 4_99, 3)
	same := p("home/lighting", "Lantern", "Laterne", `12" \ matte`, "EUR", 49_00)
	twin := p("home/lighting", "Table Lamp", "Tischlampe", "black", "EUR", 49_00)
	twin.CreatedAt = same.CreatedAt // a tie on newest: seq decides
	return product.BuildTree(cats), cat, products
}

// allPages pages through q, failing on a repeated id, and returns the ids in order.
func allPages(t *testing.T, e *MeiliEngine, q *Query) []uuid.UUID {
	t.Helper()
	var ids []uuid.UUID
	seen := map[uuid.UUID]bool{}
	for page := 0; ; page++ {
		if page > 50 {
			t.Fatal("more than 50 pages")
		}
		got, next, err := e.Page(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range got {
			if seen[id] {
				t.Fatalf("%s: %s repeated on page %d", q.Sort, id, page+1)
			}
			seen[id] = true
		}
		ids = append(ids, got...)
		if next == "" {
			return ids
		}
		q.Cursor = next
	}
}

func TestMeiliIntegrationSearch(t *testing.T) {
	cfg := meiliIntegration(t)
	ctx := t.Context()
	tr, cat, products := meiliCatalog()
	byID := map[uuid.UUID]*product.Product{}
	docs := map[uuid.UUID]*meiliDoc{}
	for _, p := range products {
		byID[p.ID] = p
		docs[p.ID] = newMeiliDoc(p, tr)
	}
	ix, err := NewIndexer(cfg, nil, nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if fresh, err := ix.ensureIndex(ctx); err != nil || !fresh {
		t.Fatalf("a new index: fresh %v, %v", fresh, err)
	}
	if fresh, err := ix.ensureIndex(ctx); err != nil || fresh { // idempotent, and no longer fresh
		t.Fatalf("again: fresh %v, %v", fresh, err)
	}
	if err := ix.write(ctx, docs); err != nil {
		t.Fatal(err)
	}
	e, err := NewMeiliEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	names := func(ids []uuid.UUID) []string {
		out := make([]string, len(ids))
		for i, id := range ids {
			out[i] = byID[id].Name
		}
		return out
	}
	search := func(mod func(q *Query)) []uuid.UUID {
		return allPages(t, e, meiliQuery(func(q *Query) {
			q.Limit = 3
			mod(q)
			if q.Text != "" {
				q.Terms, q.Sort = splitTerms(q.Text), subjects.SortRelevance
			}
		}))
	}
	text := func(s string) func(q *Query) { return func(q *Query) { q.Text = s } }

	// Text: a typo, a prefix, a German word from a translation, a category's word.
	for query, want := range map[string]string{
		"heaphones":    "Wireless Headphones",
		"headph":       "Studio Headphones",
		"kopfhörer":    "Wireless Headphones",
		"wasserkocher": "Electric Kettle",
		"beleuchtung":  "Desk Lamp",
	} {
		if got := names(search(text(query))); !slices.Contains(got, want) {
			t.Errorf("%q finds %q, not %q", query, got, want)
		}
	}
	// Every term must match.
	if got := names(search(text("studio headphones"))); !slices.Equal(got, []string{"Studio Headphones"}) {
		t.Errorf("studio headphones: %q", got)
	}

	// A query with filters: the category's subtree, a price range, colours, stock.
	got := names(search(func(q *Query) {
		q.Text = "headphones"
		q.Category, q.Currency, q.MaxPrice = meiliPtr(cat["electronics/audio"]), "EUR", meiliPtr[int64](200_00)
		q.Attributes = []AttrFilter{{Name: "color", Values: []string{"black", "blue"}}}
	}))
	slices.Sort(got)
	if want := []string{"Kids Headphones", "Studio Headphones", "Wireless Headphones"}; !slices.Equal(got, want) {
		t.Errorf("filtered headphones: %q", got)
	}
	for _, mod := range []func(q *Query){
		func(q *Query) { q.Attributes = []AttrFilter{{Name: "color", Values: []string{`12" \ matte`}}} },
		func(q *Query) { q.InStock, q.MinRating, q.Currency = meiliPtr(true), meiliPtr(4.0), "EUR" },
		func(q *Query) {
			q.Currency, q.MinPrice, q.MaxPrice = "EUR", meiliPtr[int64](49_00), meiliPtr[int64](49_00)
		},
	} {
		q := meiliQuery(mod)
		var want []string
		for _, p := range products {
			if meiliMatches(p, q) {
				want = append(want, p.Name)
			}
		}
		got := names(search(mod))
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) || len(want) == 0 {
			t.Errorf("filter %q: %q, want %q", meiliFilter(q), got, want)
		}
	}

	// Keyset pages in every order: each product once, in order.
	for _, sort := range []string{subjects.SortPriceAsc, subjects.SortPriceDesc, subjects.SortNewest, subjects.SortRating} {
		ids := search(func(q *Query) { q.Sort = sort })
		if len(ids) != len(products) {
			t.Fatalf("%s: %d of %d products", sort, len(ids), len(products))
		}
		if !slices.IsSortedFunc(ids, func(a, b uuid.UUID) int { return meiliCompare(sort, byID[a], byID[b]) }) {
			t.Errorf("%s: out of order: %q", sort, names(ids))
		}
	}
	if ids := search(text("lamp")); len(ids) < 3 {
		t.Errorf("relevance pages of lamp: %q", names(ids))
	}

	// Facets add up: direct category counts and price buckets to the matches, attribute
	// values to what the products hold.
	for _, mod := range []func(q *Query){
		func(q *Query) {},
		func(q *Query) { q.Category = meiliPtr(cat["electronics"]) },
		func(q *Query) { q.Text, q.Terms = "lamp", []string{"lamp"} },
	} {
		q := meiliQuery(mod)
		f, err := e.Facets(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		q.Sort, q.Limit = subjects.SortNewest, page.Max
		q.Fingerprint = q.fingerprint(true)
		ids := allPages(t, e, q)
		wantCats, wantColors := map[uuid.UUID]int{}, map[string]int{}
		for _, id := range ids {
			wantCats[byID[id].CategoryID]++
			wantColors[byID[id].Attributes["color"]]++
		}
		prices := 0
		for _, b := range f.Prices {
			prices += b.Count
		}
		colors := map[string]int{}
		for _, vc := range f.Attributes["color"] {
			colors[vc.Value] = vc.Count
		}
		if !maps.Equal(f.Categories, wantCats) || prices != len(ids) || !maps.Equal(colors, wantColors) || len(ids) == 0 {
			t.Errorf("facets of %q: %+v, want categories %v, colours %v, %d in all", meiliFilter(q), f, wantCats, wantColors, len(ids))
		}
	}
}

// meiliMatches is the meaning of q's filters (no text) for p, as PostgreSQL gives it.
func meiliMatches(p *product.Product, q *Query) bool {
	ok := (q.Currency == "" || p.Price.Currency == q.Currency) &&
		(q.MinPrice == nil || p.Price.Amount >= *q.MinPrice) && (q.MaxPrice == nil || p.Price.Amount <= *q.MaxPrice) &&
		(q.InStock == nil || p.InStock == *q.InStock) && (q.MinRating == nil || p.Rating().Average >= *q.MinRating)
	for _, a := range q.Attributes {
		ok = ok && slices.Contains(a.Values, p.Attributes[a.Name])
	}
	return ok
}

// meiliCompare orders products as sort does.
func meiliCompare(sort string, a, b *product.Product) int {
	switch sort {
	case subjects.SortPriceAsc:
		return cmp.Or(cmp.Compare(a.Price.Amount, b.Price.Amount), cmp.Compare(a.Seq, b.Seq))
	case subjects.SortPriceDesc:
		return cmp.Or(cmp.Compare(b.Price.Amount, a.Price.Amount), cmp.Compare(b.Seq, a.Seq))
	case subjects.SortRating:
		return cmp.Or(cmp.Compare(b.Rating().Average, a.Rating().Average), cmp.Compare(b.Seq, a.Seq))
	default:
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(b.Seq, a.Seq))
	}
}
