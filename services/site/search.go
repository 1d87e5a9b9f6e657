package site

import (
	"cmp"
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/souk/souk/subjects"
)

// Search at a site runs over the view in memory: a site's catalog is the shop's (thousands of
// products, not millions), and a search engine there would be one more thing to run offline.
// A query matches products whose SKU, names or descriptions, in any language, contain every
// word of it (so the last word also matches as a prefix); there is no typo tolerance, which
// the hub's engine has. Filters, sorts, facets and cursors are the catalog's.

const maxLimit = 100

// productSearch answers the catalog's search and browse.
func (v *view) productSearch(ctx context.Context, req subjects.SearchRequest) (subjects.ProductPage, error) {
	limit := cmp.Or(req.Limit, 20)
	if limit < 1 || limit > maxLimit {
		return subjects.ProductPage{}, subjects.BadRequest("limit", "must be 1..100")
	}
	offset := 0
	if req.Cursor != "" {
		n, err := strconv.Atoi(req.Cursor)
		if err != nil || n < 0 {
			return subjects.ProductPage{}, subjects.BadRequest("cursor", "is not a cursor of this search")
		}
		offset = n
	}
	v.mu.RLock()
	t := v.tree
	match, err := v.filter(req, t)
	v.mu.RUnlock()
	if err != nil {
		return subjects.ProductPage{}, err
	}
	sortEntries(match, req)
	page := subjects.ProductPage{Items: []subjects.Product{}, Facets: facets(match, t)}
	lang := subjects.MetaFrom(ctx).AcceptLanguage
	for i := offset; i < len(match) && i < offset+limit; i++ {
		var p subjects.Product
		if json.Unmarshal(match[i].views[pickLocale(lang, v.locale, match[i].views)], &p) == nil {
			page.Items = append(page.Items, p)
		}
	}
	if offset+limit < len(match) {
		page.NextCursor = strconv.Itoa(offset + limit)
	}
	return page, nil
}

// filter returns the entries that match every criterion of req; the caller holds v.mu.
func (v *view) filter(req subjects.SearchRequest, t *tree) ([]*entry, error) {
	words := strings.Fields(strings.ToLower(req.Q))
	var cats map[string]bool
	if req.Category != "" {
		n := t.resolve(req.Category)
		if n == nil {
			return nil, subjects.BadRequest("category", "no such category")
		}
		cats = t.subtree(n)
	}
	currency := req.Currency
	if currency == "" && (req.MinPrice != nil || req.MaxPrice != nil) {
		currency = v.currency
	}
	var out []*entry
	for _, en := range v.products {
		p := &en.p
		ok := (cats == nil || cats[p.CategoryID]) &&
			(currency == "" || strings.EqualFold(p.Price.Currency, currency)) &&
			(req.MinPrice == nil || p.Price.Amount >= *req.MinPrice) &&
			(req.MaxPrice == nil || p.Price.Amount <= *req.MaxPrice) &&
			(req.InStock == nil || p.InStock == *req.InStock) &&
			(req.MinRating == nil || p.Rating.Average >= *req.MinRating)
		for name, values := range req.Attributes {
			ok = ok && slices.Contains(values, p.Attributes[name])
		}
		for _, w := range words {
			ok = ok && strings.Contains(en.text, w)
		}
		if ok {
			out = append(out, en)
		}
	}
	return out, nil
}

// sortEntries orders match as req.Sort asks (newest without a query, name matches first
// with one), ties broken by id so that cursors walk a stable order.
func sortEntries(match []*entry, req subjects.SearchRequest) {
	words := strings.Fields(strings.ToLower(req.Q))
	sortBy := cmp.Or(req.Sort, subjects.SortNewest)
	if req.Sort == "" && len(words) > 0 {
		sortBy = subjects.SortRelevance
	}
	score := func(e *entry) int {
		n := 0
		for _, w := range words {
			if strings.Contains(strings.ToLower(e.p.Name), w) {
				n++
			}
		}
		return n
	}
	slices.SortFunc(match, func(a, b *entry) int {
		var c int
		switch sortBy {
		case subjects.SortPriceAsc:
			c = cmp.Compare(a.p.Price.Amount, b.p.Price.Amount)
		case subjects.SortPriceDesc:
			c = cmp.Compare(b.p.Price.Amount, a.p.Price.Amount)
		case subjects.SortRating:
			c = cmp.Compare(b.p.Rating.Average, a.p.Rating.Average)
		case subjects.SortRelevance:
			c = cmp.Compare(score(b), score(a))
		}
		if c == 0 {
			c = b.p.CreatedAt.Compare(a.p.CreatedAt)
		}
		return cmp.Or(c, strings.Compare(a.p.ID, b.p.ID))
	})
}

// facets counts match by category (each including its subcategories), attribute value and
// currency (one open-ended price bucket per currency).
func facets(match []*entry, t *tree) subjects.Facets {
	f := subjects.Facets{Total: len(match), Categories: []subjects.CategoryCount{}, Attributes: map[string][]subjects.ValueCount{},
		Prices: []subjects.PriceBucket{}}
	cats, attrs, prices := map[string]int{}, map[string]map[string]int{}, map[string]int{}
	for _, en := range match {
		for n := t.byID[en.p.CategoryID]; n != nil; n = t.byID[n.c.ParentID] {
			cats[n.c.ID]++
			if n.c.ParentID == "" {
				break
			}
		}
		for name, value := range en.p.Attributes {
			if attrs[name] == nil {
				attrs[name] = map[string]int{}
			}
			attrs[name][value]++
		}
		prices[en.p.Price.Currency]++
	}
	for _, id := range slices.Sorted(maps.Keys(cats)) {
		n := t.byID[id]
		f.Categories = append(f.Categories, subjects.CategoryCount{ID: id, ParentID: n.c.ParentID, Name: n.c.Name, Path: n.c.Path, Count: cats[id]})
	}
	for name, values := range attrs {
		for _, value := range slices.Sorted(maps.Keys(values)) {
			f.Attributes[name] = append(f.Attributes[name], subjects.ValueCount{Value: value, Count: values[value]})
		}
	}
	for _, cur := range slices.Sorted(maps.Keys(prices)) {
		f.Prices = append(f.Prices, subjects.PriceBucket{Currency: cur, Count: prices[cur]})
	}
	return f
}
