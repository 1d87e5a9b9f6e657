package search

// Search on Meilisearch: the engine (MeiliEngine, behind Engine) and the indexer that feeds
// its index from the CATALOG stream. PostgreSQL stays the record; the index is a copy that
// can always be rebuilt from it (see Indexer and Reindex).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/meilisearch/meilisearch-go"

	"github.com/souk/souk/services/catalog/product"
	"github.com/souk/souk/subjects"
)

// Defaults of MeiliConfig.
const (
	DefaultMeiliIndex       = "products"
	DefaultMeiliTimeout     = 5 * time.Second
	DefaultMeiliTaskTimeout = time.Minute
)

const (
	// syncChunk is the most products read from PostgreSQL and written to the index at once.
	syncChunk = 500
	// syncRounds bounds how often a chunk is written again because its products changed
	// while it was being written.
	syncRounds = 3
	// storeTimeout bounds the indexer's PostgreSQL reads.
	storeTimeout = 10 * time.Second
	// meiliMaxFacetValues is the index's faceting.maxValuesPerFacet: a search's facets list at
	// most this many categories and values per attribute (the most frequent).
	meiliMaxFacetValues = 1000
	// maxLearnedAttrs bounds the attribute names MeiliEngine remembers for its facets.
	maxLearnedAttrs = 1000
	// maxRelevanceOffset bounds the offset of a relevance cursor (Meilisearch serves at most
	// pagination.maxTotalHits hits of a search anyway, 1000 by default).
	maxRelevanceOffset = 1 << 20
)

var indexUIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,400}$`)

// MeiliConfig points the catalog at Meilisearch.
type MeiliConfig struct {
	// URL is Meilisearch's address (MEILI_URL); empty keeps search on PostgreSQL.
	URL string
	// APIKey is the key with the rights to search and to write the index (MEILI_API_KEY).
	// It is never logged.
	APIKey string `json:"-"`
	// Index is the index's uid ("products").
	Index string
	// Timeout bounds every request to Meilisearch (5 s).
	Timeout time.Duration
	// TaskTimeout bounds the wait for Meilisearch to apply a write (1 min).
	TaskTimeout time.Duration
}

// String shows the configuration without the API key (or a password in the URL).
func (c MeiliConfig) String() string {
	key, u := "", ""
	if c.APIKey != "" {
		key = "[redacted]"
	}
	if p, err := url.Parse(c.URL); err == nil {
		u = p.Redacted()
	}
	return fmt.Sprintf("{URL:%s APIKey:%s Index:%s Timeout:%s TaskTimeout:%s}", u, key, c.Index, c.Timeout, c.TaskTimeout)
}

// GoString keeps the API key out of %#v too.
func (c MeiliConfig) GoString() string { return c.String() }

// check fills in the defaults and checks c.
func (c *MeiliConfig) check() error {
	if c.Index == "" {
		c.Index = DefaultMeiliIndex
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultMeiliTimeout
	}
	if c.TaskTimeout <= 0 {
		c.TaskTimeout = DefaultMeiliTaskTimeout
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("meilisearch: the URL must be an absolute http or https URL")
	}
	if !indexUIDPattern.MatchString(c.Index) {
		return fmt.Errorf("meilisearch: index %q: use 1 to 400 letters, digits, _ and -", c.Index)
	}
	return nil
}

// client returns a Meilisearch client. Its own retries are off: they resend a request whose
// body is already spent, and every caller here has its own deadline and retry policy.
func (c *MeiliConfig) client() meilisearch.ServiceManager {
	return meilisearch.New(c.URL, meilisearch.WithAPIKey(c.APIKey), meilisearch.DisableRetries())
}

// meiliDoc is a listed product as the index holds it. Texts are searched in the order of
// meiliSettings' searchable attributes; numbers are JSON numbers (exact below 2^53: prices
// are below MaxAmount, created_at is in microseconds).
type meiliDoc struct {
	ID  string `json:"id"`
	Seq int64  `json:"seq"`
	SKU string `json:"sku"`
	// Name and Description are the default locale's; NameI18n and DescriptionI18n the
	// translations by locale, nested objects so that one searchable attribute covers every
	// locale there is.
	Name            string            `json:"name"`
	Description     string            `json:"description"`
	NameI18n        map[string]string `json:"name_i18n"`
	DescriptionI18n map[string]string `json:"description_i18n"`
	// Categories are the names (with translations) of the category and its ancestors.
	Categories []string `json:"categories"`
	// CategoryID is the product's own category (the facet); CategoryIDs it and its ancestors
	// (the filter: a category's search includes its subcategories).
	CategoryID  string   `json:"category_id"`
	CategoryIDs []string `json:"category_ids"`
	// Attributes are filtered on as attributes.<name>; AttributeNames lists their names, so
	// that a facet on it tells which attributes the matches have.
	Attributes     map[string]string `json:"attributes"`
	AttributeNames []string          `json:"attribute_names"`
	Price          int64             `json:"price"`
	Currency       string            `json:"currency"`
	// PriceBucket is "<currency>:<bucket>", the bucket as PriceBucket numbers it: the price
	// facet in one facet distribution.
	PriceBucket string  `json:"price_bucket"`
	RatingAvg   float64 `json:"rating_avg"`
	RatingCount int     `json:"rating_count"`
	InStock     bool    `json:"in_stock"`
	// CreatedAt is in Unix microseconds.
	CreatedAt int64 `json:"created_at"`
}

// newMeiliDoc builds p's document; t gives its category's ancestors and their names (a
// category t does not know yet counts as a root without names).
func newMeiliDoc(p *product.Product, t *product.Tree) *meiliDoc {
	d := &meiliDoc{
		ID: p.ID.String(), Seq: p.Seq, SKU: p.SKU, Name: p.Name, Description: p.Description,
		NameI18n: map[string]string{}, DescriptionI18n: map[string]string{},
		CategoryID: p.CategoryID.String(), Attributes: product.CloneMap(p.Attributes), AttributeNames: product.SortedKeys(p.Attributes),
		Price: p.Price.Amount, Currency: p.Price.Currency,
		PriceBucket: p.Price.Currency + ":" + strconv.Itoa(priceBucketIndex(p.Price.Amount)),
		RatingAvg:   p.Rating().Average, RatingCount: p.RatingCount, InStock: p.InStock, CreatedAt: p.CreatedAt.UnixMicro(),
	}
	for l, tr := range p.Translations {
		d.NameI18n[l] = tr.Name
		if tr.Description != "" {
			d.DescriptionI18n[l] = tr.Description
		}
	}
	var n *product.Node
	if t != nil {
		n = t.ByID[p.CategoryID]
	}
	if n == nil {
		d.CategoryIDs = []string{d.CategoryID}
	}
	for ; n != nil; n = n.Parent {
		d.CategoryIDs = append(d.CategoryIDs, n.ID.String())
		d.Categories = append(d.Categories, n.Name)
		for _, l := range product.SortedKeys(n.Translations) {
			d.Categories = append(d.Categories, n.Translations[l].Name)
		}
	}
	return d
}

// priceBucketIndex is the PriceBounds bucket of amount, as PostgreSQL's width_bucket numbers
// it: how many bounds are at or below amount.
func priceBucketIndex(amount int64) int {
	return sort.Search(len(PriceBounds), func(i int) bool { return PriceBounds[i] > amount })
}

// meiliSettings are the index settings; rankingRules come from sortFirst.
func meiliSettings(rankingRules []string) *meilisearch.Settings {
	return &meilisearch.Settings{
		RankingRules:         rankingRules,
		SearchableAttributes: []string{"name", "name_i18n", "sku", "categories", "attributes", "description", "description_i18n"},
		FilterableAttributes: []string{"attribute_names", "attributes", "category_id", "category_ids", "created_at", "currency",
			"in_stock", "price", "price_bucket", "rating_avg", "seq"},
		SortableAttributes: []string{"created_at", "price", "rating_avg", "seq"},
		Faceting: &meilisearch.Faceting{MaxValuesPerFacet: meiliMaxFacetValues,
			SortFacetValuesBy: map[string]meilisearch.SortFacetType{"*": meilisearch.SortFacetTypeCount}},
	}
}

// sortFirst puts the sort ranking rule first and keeps the others in their order (the
// server's defaults, whatever its version). A sorted search must be in strict sort order,
// or its keyset pages would skip: with sort after the relevance rules, Meilisearch sorts
// only within equally relevant hits. A search without sort ignores the rule.
func sortFirst(rules []string) []string {
	return append([]string{"sort"}, slices.DeleteFunc(slices.Clone(rules), func(r string) bool { return r == "sort" })...)
}

// quoteFilter quotes a value for a Meilisearch filter expression: in double quotes, with
// backslashes and double quotes escaped by a backslash (Meilisearch's filter parser takes
// \" as a quote and then unescapes \\ as a backslash).
func quoteFilter(v string) string {
	return `"` + filterEscaper.Replace(v) + `"`
}

var filterEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

// meiliFilter is q's filter as expressions that must all hold; a category's filter names
// the category alone, as every document lists its ancestors.
func meiliFilter(q *Query) []string {
	var f []string
	switch {
	case q.Category != nil:
		f = append(f, "category_ids = "+quoteFilter(q.Category.String()))
	case len(q.CategoryIDs) > 0:
		ids := make([]string, len(q.CategoryIDs))
		for i, id := range q.CategoryIDs {
			ids[i] = quoteFilter(id.String())
		}
		f = append(f, "category_id IN ["+strings.Join(ids, ", ")+"]")
	}
	if q.Currency != "" {
		f = append(f, "currency = "+quoteFilter(q.Currency))
	}
	if q.MinPrice != nil {
		f = append(f, "price >= "+strconv.FormatInt(*q.MinPrice, 10))
	}
	if q.MaxPrice != nil {
		f = append(f, "price <= "+strconv.FormatInt(*q.MaxPrice, 10))
	}
	if q.InStock != nil {
		f = append(f, "in_stock = "+strconv.FormatBool(*q.InStock))
	}
	if q.MinRating != nil {
		f = append(f, "rating_avg >= "+strconv.FormatFloat(*q.MinRating, 'f', -1, 64))
	}
	// Names are valid attribute names (checked by NewQuery), so they need no quoting.
	for _, a := range q.Attributes {
		if len(a.Values) == 1 {
			f = append(f, "attributes."+a.Name+" = "+quoteFilter(a.Values[0]))
			continue
		}
		vs := make([]string, len(a.Values))
		for i, v := range a.Values {
			vs[i] = quoteFilter(v)
		}
		f = append(f, "attributes."+a.Name+" IN ["+strings.Join(vs, ", ")+"]")
	}
	return f
}

// meiliSort is the sort parameter of a sort order: nil for relevance (Meilisearch's own
// ranking), else the sort field and seq as the tie-break.
func meiliSort(sort string) []string {
	switch sort {
	case subjects.SortRelevance:
		return nil
	case subjects.SortPriceAsc:
		return []string{"price:asc", "seq:asc"}
	case subjects.SortPriceDesc:
		return []string{"price:desc", "seq:desc"}
	case subjects.SortRating:
		return []string{"rating_avg:desc", "seq:desc"}
	default: // newest
		return []string{"created_at:desc", "seq:desc"}
	}
}

// meiliKey is the Meilisearch engine's position: the last hit's sort value and seq for the
// sorted orders; the offset of the next page for relevance.
type meiliKey struct {
	Offset *int64   `json:"o,omitempty"`
	Price  *int64   `json:"p,omitempty"`
	At     *int64   `json:"t,omitempty"` // created_at in Unix microseconds
	Rating *float64 `json:"g,omitempty"`
	Seq    *int64   `json:"s,omitempty"`
}

// after returns the filter that keeps what follows k in sort's order, or for relevance the
// offset to ask for. A key of the wrong shape for sort is a forged cursor.
func (k meiliKey) after(sort string) (filter string, offset int64, err error) {
	set := 0
	for _, p := range []bool{k.Offset != nil, k.Price != nil, k.At != nil, k.Rating != nil, k.Seq != nil} {
		if p {
			set++
		}
	}
	keyset := func(field, op, v string) string {
		s := strconv.FormatInt(*k.Seq, 10)
		return "(" + field + " " + op + " " + v + " OR (" + field + " = " + v + " AND seq " + op + " " + s + "))"
	}
	switch {
	case sort == subjects.SortRelevance && set == 1 && k.Offset != nil && *k.Offset > 0 && *k.Offset <= maxRelevanceOffset:
		return "", *k.Offset, nil
	case set != 2 || k.Seq == nil:
	case sort == subjects.SortPriceAsc && k.Price != nil:
		return keyset("price", ">", strconv.FormatInt(*k.Price, 10)), 0, nil
	case sort == subjects.SortPriceDesc && k.Price != nil:
		return keyset("price", "<", strconv.FormatInt(*k.Price, 10)), 0, nil
	case sort == subjects.SortNewest && k.At != nil:
		return keyset("created_at", "<", strconv.FormatInt(*k.At, 10)), 0, nil
	case sort == subjects.SortRating && k.Rating != nil && *k.Rating >= 0 && *k.Rating <= 5:
		return keyset("rating_avg", "<", strconv.FormatFloat(*k.Rating, 'f', -1, 64)), 0, nil
	}
	return "", 0, errBadCursor
}

// meiliHit is what a page reads of each hit.
type meiliHit struct {
	ID        string  `json:"id"`
	Seq       int64   `json:"seq"`
	Price     int64   `json:"price"`
	CreatedAt int64   `json:"created_at"`
	RatingAvg float64 `json:"rating_avg"`
}

// key is the position after h in sort's order; offset is the next relevance page's.
func (h *meiliHit) key(sort string, offset int64) meiliKey {
	k := meiliKey{Seq: &h.Seq}
	switch sort {
	case subjects.SortRelevance:
		return meiliKey{Offset: &offset}
	case subjects.SortPriceAsc, subjects.SortPriceDesc:
		k.Price = &h.Price
	case subjects.SortRating:
		k.Rating = &h.RatingAvg
	default:
		k.At = &h.CreatedAt
	}
	return k
}

// searchRequest is the request of q's matches, filtered by filters: every term must match
// (as in PostgreSQL), the last also as a prefix (Meilisearch's default).
func searchRequest(q *Query, filters []string) *meilisearch.SearchRequest {
	req := &meilisearch.SearchRequest{Query: strings.Join(q.Terms, " "), MatchingStrategy: meilisearch.All}
	if len(filters) > 0 {
		req.Filter = strings.Join(filters, " AND ")
	}
	return req
}

// pageRequest is the request of q's page (one hit more than the page, to know whether
// another follows) and its offset.
func pageRequest(q *Query) (*meilisearch.SearchRequest, int64, error) {
	filters := meiliFilter(q)
	var offset int64
	if q.Cursor != "" {
		var k meiliKey
		if err := DecodeCursor(q, &k); err != nil {
			return nil, 0, err
		}
		after, off, err := k.after(q.Sort)
		if err != nil {
			return nil, 0, err
		}
		if after != "" {
			filters = append(filters, after)
		}
		offset = off
	}
	req := searchRequest(q, filters)
	req.Sort, req.Offset, req.Limit = meiliSort(q.Sort), offset, int64(q.Limit+1)
	req.AttributesToRetrieve = []string{"id"}
	if len(req.Sort) > 0 {
		req.AttributesToRetrieve = []string{"id", "seq", strings.Split(req.Sort[0], ":")[0]}
	}
	return req, offset, nil
}

// pageResult reads the ids of a page's hits and the next page's cursor.
func pageResult(q *Query, offset int64, hits meilisearch.Hits) ([]uuid.UUID, string, error) {
	ids := make([]uuid.UUID, 0, min(len(hits), q.Limit))
	var last meiliHit
	for _, h := range hits[:min(len(hits), q.Limit)] {
		var d meiliHit
		if err := h.DecodeInto(&d); err != nil {
			return nil, "", fmt.Errorf("meilisearch page: %w", err)
		}
		id, err := uuid.Parse(d.ID)
		if err != nil {
			return nil, "", fmt.Errorf("meilisearch page: hit id %q: %w", d.ID, err)
		}
		ids, last = append(ids, id), d
	}
	if len(hits) <= q.Limit {
		return ids, "", nil
	}
	next, err := EncodeCursor(q, last.key(q.Sort, offset+int64(q.Limit)))
	return ids, next, err
}

// facetRequest asks for no hits and the facets of q's matches: exhaustively (page mode), so
// that the counts are exact. base are the facets beside the attributes names.
func facetRequest(q *Query, base, names []string) *meilisearch.SearchRequest {
	req := searchRequest(q, meiliFilter(q))
	req.Facets = slices.Clone(base)
	for _, n := range names {
		req.Facets = append(req.Facets, "attributes."+n)
	}
	zero := int64(0)
	req.HitsPerPage = &zero
	return req
}

// baseFacets are the facets every Facets call asks for.
var baseFacets = []string{"category_id", "price_bucket", "attribute_names"}

// rawFacets turns a facet distribution into RawFacets: direct category counts, price
// buckets, and the MaxFacetValues most frequent values of each attribute.
func rawFacets(dist map[string]map[string]int) (RawFacets, error) {
	f := RawFacets{Categories: map[uuid.UUID]int{}, Attributes: map[string][]subjects.ValueCount{}}
	for v, n := range dist["category_id"] {
		id, err := uuid.Parse(v)
		if err != nil {
			return RawFacets{}, fmt.Errorf("meilisearch facets: category %q: %w", v, err)
		}
		f.Categories[id] = n
	}
	for v, n := range dist["price_bucket"] {
		cur, b, _ := strings.Cut(v, ":")
		i, err := strconv.Atoi(b)
		if err != nil || i < 0 || i > len(PriceBounds) || cur == "" {
			return RawFacets{}, fmt.Errorf("meilisearch facets: price bucket %q", v)
		}
		f.Prices = append(f.Prices, PriceBucket(cur, i, n))
	}
	for facet, values := range dist {
		name, ok := strings.CutPrefix(facet, "attributes.")
		if !ok || len(values) == 0 {
			continue
		}
		vs := make([]subjects.ValueCount, 0, len(values))
		for v, n := range values {
			vs = append(vs, subjects.ValueCount{Value: v, Count: n})
		}
		f.Attributes[name] = vs
	}
	SortFacets(&f)
	for name, vs := range f.Attributes {
		f.Attributes[name] = vs[:min(len(vs), MaxFacetValues)]
	}
	return f, nil
}

// MeiliEngine searches a Meilisearch index that the indexer keeps. It reads what is indexed:
// writes reach it once Meilisearch has applied them, usually within a second.
//
// It gives a Query the PostgreSQL engine's meaning with Meilisearch's text matching (its
// tokenizer and typo tolerance instead of stemming and the trigram lexicon). Sorted pages are
// keyset pages on (sort value, seq): they neither repeat nor skip while products are added.
// Relevance pages are offsets, because Meilisearch cannot filter on its ranking: under
// concurrent inserts they may repeat or skip a product (PostgreSQL's do not), and they end
// at the index's pagination.maxTotalHits (1000 by default). Facets list at most
// meiliMaxFacetValues categories per search.
type MeiliEngine struct {
	index   meilisearch.IndexManager
	timeout time.Duration
	// attrs are the attribute names seen in facets so far (sorted, immutable): Facets asks
	// for their values in its first request and learns new ones from attribute_names.
	attrs   atomic.Pointer[[]string]
	learnMu sync.Mutex
}

// NewMeiliEngine returns the engine of cfg. It does not call Meilisearch: searches fail
// until it answers and the indexer has created the index.
func NewMeiliEngine(cfg MeiliConfig) (*MeiliEngine, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	return &MeiliEngine{index: cfg.client().Index(cfg.Index), timeout: cfg.Timeout}, nil
}

// Name implements Engine.
func (e *MeiliEngine) Name() string { return "meilisearch" }

func (e *MeiliEngine) search(ctx context.Context, req *meilisearch.SearchRequest) (*meilisearch.SearchResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	return e.index.SearchWithContext(ctx, req.Query, req)
}

// Page implements Engine.
func (e *MeiliEngine) Page(ctx context.Context, q *Query) ([]uuid.UUID, string, error) {
	req, offset, err := pageRequest(q)
	if err != nil {
		return nil, "", err
	}
	res, err := e.search(ctx, req)
	if err != nil {
		return nil, "", fmt.Errorf("meilisearch page: %w", err)
	}
	return pageResult(q, offset, res.Hits)
}

// Facets implements Engine: one search in the steady state; a second one for the values of
// attributes it had not seen before.
func (e *MeiliEngine) Facets(ctx context.Context, q *Query) (RawFacets, error) {
	var known []string
	if p := e.attrs.Load(); p != nil {
		known = *p
	}
	dist, err := e.facets(ctx, facetRequest(q, baseFacets, known))
	if err != nil {
		return RawFacets{}, err
	}
	var fresh []string
	for name := range dist["attribute_names"] {
		if _, ok := slices.BinarySearch(known, name); !ok && product.ValidAttrName(name) {
			fresh = append(fresh, name)
		}
	}
	if len(fresh) > 0 {
		slices.Sort(fresh)
		e.learn(fresh)
		more, err := e.facets(ctx, facetRequest(q, nil, fresh))
		if err != nil {
			return RawFacets{}, err
		}
		maps.Copy(dist, more)
	}
	return rawFacets(dist)
}

func (e *MeiliEngine) facets(ctx context.Context, req *meilisearch.SearchRequest) (map[string]map[string]int, error) {
	res, err := e.search(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("meilisearch facets: %w", err)
	}
	dist := map[string]map[string]int{}
	if len(res.FacetDistribution) > 0 {
		if err := json.Unmarshal(res.FacetDistribution, &dist); err != nil {
			return nil, fmt.Errorf("meilisearch facets: %w", err)
		}
	}
	return dist, nil
}

// learn adds names to the attribute names asked for up front, up to maxLearnedAttrs.
func (e *MeiliEngine) learn(names []string) {
	e.learnMu.Lock()
	defer e.learnMu.Unlock()
	var cur []string
	if p := e.attrs.Load(); p != nil {
		cur = *p
	}
	next := slices.Concat(cur, names)
	slices.Sort(next)
	next = slices.Compact(next)
	next = next[:min(len(next), maxLearnedAttrs)]
	e.attrs.Store(&next)
}
