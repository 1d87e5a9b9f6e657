// Package search is the catalog's search wing: the Query a search request becomes, the two
// engines that answer it (PostgreSQL, the default, and Meilisearch), and the indexer that
// keeps the Meilisearch index in step with the catalog's events. It reads the domain from
// services/catalog/product and never imports the service: the service gives it what it needs
// (a category resolver, the attribute names in use, a Source of products).
package search

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/souk/souk/platform/page"
	"github.com/souk/souk/services/catalog/product"
	"github.com/souk/souk/subjects"
)

// Bounds of a search request: every loop over client input is bounded by one of these.
const (
	MaxQueryRunes  = 200
	MaxTerms       = 8
	MaxTermRunes   = 40
	MaxAttrFilters = 10
	MaxAttrValues  = 10
	// MaxFacetValues is the most values a facet lists per attribute, the most frequent first.
	MaxFacetValues = 20
	MaxCursorBytes = 512
)

// ListGroup is the cache group of every list reply (search pages, facets, the PostgreSQL
// engine's text queries): any catalog change outdates them all.
const ListGroup = "lists"

// PriceBounds are the price facet's bucket limits in minor units: [0, 10), [10, 25), …,
// [2500, ∞) in major units.
var PriceBounds = []int64{10_00, 25_00, 50_00, 100_00, 250_00, 500_00, 1000_00, 2500_00}

// Engine finds products. Both engines (PostgreSQL and Meilisearch) give a Query the same
// meaning; each pages with its own cursor, bound to the Query's Fingerprint.
type Engine interface {
	// Name is "postgres" or "meilisearch".
	Name() string
	// Page returns the ids of one page of the products matching q, in q's order, and the
	// cursor of the next page ("" on the last). A cursor it cannot read is a 400 on "cursor".
	Page(ctx context.Context, q *Query) (ids []uuid.UUID, next string, err error)
	// Facets counts the products matching q (limit and cursor aside): every one, or the
	// first the engine reads up to its cap, saying so in RawFacets.Estimated.
	Facets(ctx context.Context, q *Query) (RawFacets, error)
}

// Joint is an engine that answers some searches' page and facets with one statement,
// reading their matches once rather than twice.
type Joint interface {
	// Joint tells whether PageFacets serves q.
	Joint(q *Query) bool
	// PageFacets is Page and Facets of q at once.
	PageFacets(ctx context.Context, q *Query) (ids []uuid.UUID, next string, f RawFacets, err error)
}

// RawFacets are an engine's counts, before the service rolls categories up its tree.
type RawFacets struct {
	// Categories counts matches by the category they are in (not its ancestors).
	Categories map[uuid.UUID]int
	// Attributes lists the MaxFacetValues most frequent values of each attribute.
	Attributes map[string][]subjects.ValueCount
	// Prices counts matches per currency and PriceBounds bucket.
	Prices []subjects.PriceBucket
	// Estimated says the search matches more products than were counted: the counts are of
	// the first ones read (subjects.Facets.Estimated).
	Estimated bool
}

// AttrFilter keeps products whose attribute Name has one of Values.
type AttrFilter struct {
	Name   string
	Values []string
}

// Query is a checked, normalised search.
type Query struct {
	// Text is the query as typed (trimmed); Terms its words, lower case, letters and digits.
	Text  string
	Terms []string
	// Category is the category asked for (nil: all); CategoryIDs it and its descendants.
	Category    *uuid.UUID
	CategoryIDs []uuid.UUID
	MinPrice    *int64
	MaxPrice    *int64
	Currency    string
	InStock     *bool
	MinRating   *float64
	// Attributes are sorted by name, their values sorted and distinct.
	Attributes []AttrFilter
	// Sort is one of the subjects.Sort* values, the default resolved.
	Sort  string
	Limit int
	// Cursor is the client's cursor, for the engine to decode.
	Cursor string
	// Fingerprint identifies the search (everything but Limit and Cursor); a cursor is only
	// good for the search it came from.
	Fingerprint string
}

// splitTerms splits a query into at most MaxTerms lower-case words of letters and digits,
// each cut to MaxTermRunes.
func splitTerms(q string) []string {
	var terms []string
	for _, w := range strings.FieldsFunc(strings.ToLower(q), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if len(terms) == MaxTerms {
			break
		}
		if utf8.RuneCountInString(w) > MaxTermRunes {
			w = string([]rune(w)[:MaxTermRunes])
		}
		terms = append(terms, w)
	}
	return terms
}

// AttrNames says whether an attribute name is in use; an unknown one is a 400.
type AttrNames func(ctx context.Context, name string) (bool, error)

// ResolveCategory finds a category by id or path, with the tree it was found in; an unknown
// one is product.ErrCategoryNotFound.
type ResolveCategory func(ctx context.Context, ref string) (*product.Node, *product.Tree, error)

// NewQuery checks a search request. resolve finds the category; known says which attribute
// names exist; defaultCurrency is meant by a price bound without a currency.
func NewQuery(ctx context.Context, req subjects.SearchRequest, resolve ResolveCategory, known AttrNames, defaultCurrency string) (*Query, error) {
	var p subjects.Problems
	q := &Query{Text: strings.TrimSpace(req.Q), Limit: req.Limit, Cursor: req.Cursor, MinPrice: req.MinPrice, MaxPrice: req.MaxPrice,
		InStock: req.InStock, MinRating: req.MinRating}
	if utf8.RuneCountInString(q.Text) > MaxQueryRunes || !utf8.ValidString(q.Text) {
		p.Add("q", "must be valid text of at most "+strconv.Itoa(MaxQueryRunes)+" characters")
	} else {
		q.Terms = splitTerms(q.Text)
	}
	if ref := strings.TrimSpace(req.Category); ref != "" {
		n, t, err := resolve(ctx, ref)
		switch {
		case errors.Is(err, product.ErrCategoryNotFound):
			p.Add("category", "no such category (give an id or a path such as electronics/audio)")
		case err != nil:
			return nil, err
		default:
			q.Category, q.CategoryIDs = &n.ID, t.Subtree(n)
		}
	}
	checkPriceRange(req, defaultCurrency, q, &p)
	if q.MinRating != nil && (math.IsNaN(*q.MinRating) || *q.MinRating < 0 || *q.MinRating > 5) {
		p.Add("min_rating", "must be a number from 0 to 5")
	}
	if err := checkAttrFilters(ctx, req.Attributes, known, q, &p); err != nil {
		return nil, err
	}
	switch q.Sort = req.Sort; q.Sort {
	case "":
		q.Sort = subjects.SortNewest
		if len(q.Terms) > 0 {
			q.Sort = subjects.SortRelevance
		}
	case subjects.SortRelevance:
		if len(q.Terms) == 0 {
			q.Sort = subjects.SortNewest // nothing to be relevant to
		}
	case subjects.SortPriceAsc, subjects.SortPriceDesc, subjects.SortNewest, subjects.SortRating:
	default:
		p.Add("sort", "must be one of relevance, price_asc, price_desc, newest, rating")
	}
	if q.Limit == 0 {
		q.Limit = page.Default
	}
	if q.Limit < 1 || q.Limit > page.Max {
		p.Add("limit", "must be between 1 and "+strconv.Itoa(page.Max))
	}
	if len(q.Cursor) > MaxCursorBytes {
		p.Add("cursor", "is not a cursor of this search")
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	q.Fingerprint = q.fingerprint(true)
	return q, nil
}

func checkPriceRange(req subjects.SearchRequest, defaultCurrency string, q *Query, p *subjects.Problems) {
	if req.Currency != "" {
		c, ok := subjects.CheckCurrency(req.Currency)
		if !ok {
			p.Add("currency", subjects.CurrencyProblem)
		}
		q.Currency = c
	}
	if q.MinPrice == nil && q.MaxPrice == nil {
		return
	}
	if q.Currency == "" {
		q.Currency = defaultCurrency
	}
	if q.MinPrice != nil && *q.MinPrice < 0 {
		p.Add("min_price", "must not be negative")
	}
	if q.MaxPrice != nil && *q.MaxPrice < 0 {
		p.Add("max_price", "must not be negative")
	}
	if q.MinPrice != nil && q.MaxPrice != nil && *q.MinPrice > *q.MaxPrice {
		p.Add("min_price", "must not be above max_price")
	}
}

func checkAttrFilters(ctx context.Context, attrs map[string][]string, known AttrNames, q *Query, p *subjects.Problems) error {
	if len(attrs) > MaxAttrFilters {
		p.Add("attributes", "at most "+strconv.Itoa(MaxAttrFilters)+" attribute filters")
		return nil
	}
	for _, name := range product.SortedKeys(attrs) {
		field := "attr." + name
		values := attrs[name]
		if len(values) == 0 || len(values) > MaxAttrValues {
			p.Add(field, "give 1 to "+strconv.Itoa(MaxAttrValues)+" values")
			continue
		}
		if !product.ValidAttrName(name) {
			p.Add(field, "is not an attribute name")
			continue
		}
		ok, err := known(ctx, name)
		if err != nil {
			return err
		}
		if !ok {
			p.Add(field, "no product has this attribute")
			continue
		}
		f := AttrFilter{Name: name}
		for _, v := range values {
			v, msg := subjects.CheckText(v, product.MaxAttrValueRunes, true, false)
			if msg != "" {
				p.Add(field, "each value "+msg)
				break
			}
			f.Values = append(f.Values, v)
		}
		slices.Sort(f.Values)
		f.Values = slices.Compact(f.Values)
		q.Attributes = append(q.Attributes, f)
	}
	return nil
}

// FacetFingerprint identifies the search without its order: its facets' cache key (every
// sort and page of a search shares them).
func (q *Query) FacetFingerprint() string { return q.fingerprint(false) }

// fingerprint hashes the search's meaning; withSort false leaves the order out (facets do
// not depend on it).
func (q *Query) fingerprint(withSort bool) string {
	canon := struct {
		Terms      []string     `json:"t"`
		Category   *uuid.UUID   `json:"c"`
		Min        *int64       `json:"min"`
		Max        *int64       `json:"max"`
		Currency   string       `json:"u"`
		InStock    *bool        `json:"s"`
		MinRating  *float64     `json:"r"`
		Attributes []AttrFilter `json:"a"`
		Sort       string       `json:"o"`
	}{q.Terms, q.Category, q.MinPrice, q.MaxPrice, q.Currency, q.InStock, q.MinRating, q.Attributes, ""}
	if withSort {
		canon.Sort = q.Sort
	}
	b, _ := json.Marshal(canon)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// errBadCursor is the 400 of a cursor that is not of this search.
var errBadCursor = subjects.BadRequest("cursor", "is not a cursor of this search")

// cursorEnvelope is every engine's cursor: the search's fingerprint and the engine's key.
type cursorEnvelope struct {
	F string          `json:"f"`
	K json.RawMessage `json:"k"`
}

// EncodeCursor wraps an engine's position key in a cursor bound to q.
func EncodeCursor(q *Query, key any) (string, error) {
	k, err := json.Marshal(key)
	if err != nil {
		return "", fmt.Errorf("encode cursor: %w", err)
	}
	b, err := json.Marshal(cursorEnvelope{F: q.Fingerprint, K: k})
	if err != nil {
		return "", fmt.Errorf("encode cursor: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// DecodeCursor reads q's cursor into key; a cursor that is malformed or of another search is
// errBadCursor (a 400 on "cursor").
func DecodeCursor(q *Query, key any) error {
	b, err := base64.RawURLEncoding.DecodeString(q.Cursor)
	if err != nil {
		return errBadCursor
	}
	var env cursorEnvelope
	if json.Unmarshal(b, &env) != nil || env.F != q.Fingerprint {
		return errBadCursor
	}
	dec := json.NewDecoder(bytes.NewReader(env.K))
	dec.DisallowUnknownFields()
	if dec.Decode(key) != nil {
		return errBadCursor
	}
	return nil
}

// rollUp turns direct category counts into counts that include subcategories, as the
// facets show them: every category with a match, in path order.
func rollUp(raw map[uuid.UUID]int, t *product.Tree, prefs []string, defaultLocale string) []subjects.CategoryCount {
	totals := make(map[*product.Node]int, len(raw)*2)
	for id, n := range raw {
		for c := t.ByID[id]; c != nil; c = c.Parent {
			totals[c] += n
		}
	}
	out := make([]subjects.CategoryCount, 0, len(totals))
	for n, count := range totals {
		w := n.Wire(prefs, defaultLocale, false)
		out = append(out, subjects.CategoryCount{ID: w.ID, ParentID: w.ParentID, Name: w.Name, Path: w.Path, Count: count})
	}
	slices.SortFunc(out, func(a, b subjects.CategoryCount) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// WireFacets turns raw counts into the wire facets, category names in the first of prefs
// each has a translation for.
func WireFacets(raw RawFacets, t *product.Tree, prefs []string, defaultLocale string) subjects.Facets {
	f := subjects.Facets{Categories: rollUp(raw.Categories, t, prefs, defaultLocale), Attributes: raw.Attributes, Prices: raw.Prices,
		Estimated: raw.Estimated}
	for _, n := range raw.Categories {
		f.Total += n
	}
	if f.Attributes == nil {
		f.Attributes = map[string][]subjects.ValueCount{}
	}
	if f.Prices == nil {
		f.Prices = []subjects.PriceBucket{}
	}
	return f
}

// PriceBucket returns the bucket of PriceBounds that holds amount: index i covers
// [PriceBounds[i-1], PriceBounds[i]), 0 the prices below the first bound.
func PriceBucket(currency string, i int, count int) subjects.PriceBucket {
	b := subjects.PriceBucket{Currency: currency, Count: count}
	if i > 0 {
		b.Min = PriceBounds[i-1]
	}
	if i < len(PriceBounds) {
		hi := PriceBounds[i]
		b.Max = &hi
	}
	return b
}

// SortFacets puts each attribute's values by count (then value) and the price buckets by
// currency and price, so that equal searches give equal bytes whatever the engine.
func SortFacets(f *RawFacets) {
	for _, vs := range f.Attributes {
		slices.SortFunc(vs, func(a, b subjects.ValueCount) int {
			if a.Count != b.Count {
				return b.Count - a.Count
			}
			return strings.Compare(a.Value, b.Value)
		})
	}
	slices.SortFunc(f.Prices, func(a, b subjects.PriceBucket) int {
		if c := strings.Compare(a.Currency, b.Currency); c != 0 {
			return c
		}
		return int(a.Min - b.Min)
	})
}
