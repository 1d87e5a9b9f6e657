package catalog

// Search on Meilisearch: the engine (MeiliEngine, behind Engine) and the indexer that feeds
// its index from the CATALOG stream. PostgreSQL stays the record; the index is a copy that
// can always be rebuilt from it (see indexer and Reindex).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/meilisearch/meilisearch-go"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/souk/souk/subjects"
)

// Defaults of MeiliConfig.
const (
	DefaultMeiliIndex       = "products"
	DefaultMeiliTimeout     = 5 * time.Second
	DefaultMeiliTaskTimeout = time.Minute
)

const (
	// indexerName is the durable consumer of the CATALOG stream that feeds the index.
	indexerName = "catalog-search-index"
	// indexBatch is the most events the indexer applies together.
	indexBatch = 256
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
func newMeiliDoc(p *Product, t *tree) *meiliDoc {
	d := &meiliDoc{
		ID: p.ID.String(), Seq: p.Seq, SKU: p.SKU, Name: p.Name, Description: p.Description,
		NameI18n: map[string]string{}, DescriptionI18n: map[string]string{},
		CategoryID: p.CategoryID.String(), Attributes: cloneMap(p.Attributes), AttributeNames: sortedKeys(p.Attributes),
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
	var n *node
	if t != nil {
		n = t.byID[p.CategoryID]
	}
	if n == nil {
		d.CategoryIDs = []string{d.CategoryID}
	}
	for ; n != nil; n = n.parent {
		d.CategoryIDs = append(d.CategoryIDs, n.ID.String())
		d.Categories = append(d.Categories, n.Name)
		for _, l := range sortedKeys(n.Translations) {
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
	// Names match attrNamePattern (checked by newQuery), so they need no quoting.
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
		if _, ok := slices.BinarySearch(known, name); !ok && attrNamePattern.MatchString(name) {
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

// indexer keeps the index in step with PostgreSQL. It follows the CATALOG stream with the
// durable consumer "catalog-search-index" (explicit ack, from the first message, unlimited
// redelivery: Meilisearch being away is transient and the index must catch up). Events carry
// ids, not snapshots: for each batch the indexer reads the products' current state and writes
// it (listed ones upserted, the others deleted), so events applied twice or out of order
// still converge. A category event reindexes the listed products of the category's subtree.
// A batch is acknowledged once Meilisearch has applied it; after a failure it is handed back
// with a growing delay. Several instances share the work: a chunk whose products changed
// while it was written is read and written again (see syncChunk), so a slower instance never
// leaves an older state behind.
//
// A fresh index is a replay: the CATALOG stream keeps the latest event of every subject with
// no age limit (MaxMsgsPerSubject 1, configured in nats/), so a consumer created from the
// start sees every product. To rebuild, an operator deletes the index and the consumer
// (`nats consumer rm CATALOG catalog-search-index`) and restarts the catalog: it recreates
// the index with its settings and replays everything. (A start that finds the index fresh
// deletes the consumer itself, so deleting the index is enough.) Reindex rebuilds straight
// from PostgreSQL instead.
type indexer struct {
	cfg    MeiliConfig
	client meilisearch.ServiceManager
	index  meilisearch.IndexManager
	store  *Store
	js     jetstream.JetStream
	log    zerolog.Logger
}

// newIndexer returns the indexer of cfg; run starts it.
func newIndexer(cfg MeiliConfig, store *Store, deps Deps, log zerolog.Logger) (*indexer, error) {
	if deps.JS == nil {
		return nil, errors.New("meilisearch indexer: JetStream is required")
	}
	ix, err := newMeiliIndexer(cfg, store, log)
	if err != nil {
		return nil, err
	}
	ix.js = deps.JS
	return ix, nil
}

func newMeiliIndexer(cfg MeiliConfig, store *Store, log zerolog.Logger) (*indexer, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	client := cfg.client()
	return &indexer{cfg: cfg, client: client, index: client.Index(cfg.Index), store: store,
		log: log.With().Str("indexer", indexerName).Str("index", cfg.Index).Logger()}, nil
}

// run feeds the index until ctx ends. Failures are logged and retried after a pause that
// grows up to 30 s.
func (ix *indexer) run(ctx context.Context) {
	var cons jetstream.Consumer
	ensured, failures := false, 0
	for ctx.Err() == nil {
		err := func() error {
			if !ensured {
				if err := ix.start(ctx); err != nil {
					return fmt.Errorf("start: %w", err)
				}
				ensured, cons = true, nil
			}
			if cons == nil {
				c, err := ix.consumer(ctx)
				if err != nil {
					return fmt.Errorf("consumer: %w", err)
				}
				cons = c
			}
			msgs, err := ix.fetch(ctx, cons)
			if err != nil {
				cons = nil // the consumer may be gone: recreate it
				return fmt.Errorf("fetch: %w", err)
			}
			if len(msgs) == 0 {
				return nil
			}
			kept, err := ix.apply(ctx, msgs)
			if err != nil {
				for _, m := range kept {
					_ = m.NakWithDelay(retryPause(failures + 1))
				}
				ensured = false // the index may be gone: check it again
				return fmt.Errorf("apply %d events: %w", len(kept), err)
			}
			for _, m := range kept {
				_ = m.Ack()
			}
			return nil
		}()
		if err == nil {
			failures = 0
			continue
		}
		if ctx.Err() != nil {
			return
		}
		failures++
		pause := retryPause(failures)
		ix.log.Warn().Err(err).Dur("retry_in", pause).Msg("meilisearch indexer: failed; retrying")
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
	}
}

// retryPause doubles from 250 ms on the first failure up to 30 s.
func retryPause(failures int) time.Duration {
	return min(250*time.Millisecond<<min(failures-1, 8), 30*time.Second)
}

// start makes sure the index and its settings exist. A fresh index is filled by a replay:
// start deletes the durable consumer, so that the next one starts from the first event.
func (ix *indexer) start(ctx context.Context) error {
	fresh, err := ix.ensureIndex(ctx)
	if err != nil || !fresh {
		return err
	}
	ix.log.Info().Msg("meilisearch indexer: a fresh index; replaying the CATALOG stream")
	ctx, cancel := context.WithTimeout(ctx, ix.cfg.Timeout)
	defer cancel()
	if err := ix.js.DeleteConsumer(ctx, "CATALOG", indexerName); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("reset consumer %s: %w", indexerName, err)
	}
	return nil
}

// consumer creates or updates the durable consumer.
func (ix *indexer) consumer(ctx context.Context) (jetstream.Consumer, error) {
	ctx, cancel := context.WithTimeout(ctx, ix.cfg.Timeout)
	defer cancel()
	return ix.js.CreateOrUpdateConsumer(ctx, "CATALOG", jetstream.ConsumerConfig{
		Durable:       indexerName,
		Description:   "feeds the Meilisearch index " + ix.cfg.Index,
		FilterSubject: subjects.EvtCatalogWildcard,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		// Long enough for one write round; apply reports progress before every further one.
		AckWait:       2*ix.cfg.TaskTimeout + 2*storeTimeout,
		MaxDeliver:    -1,
		MaxAckPending: 4 * indexBatch,
	})
}

// fetch waits up to 30 s for an event, then takes what else is there, up to indexBatch.
func (ix *indexer) fetch(ctx context.Context, cons jetstream.Consumer) ([]jetstream.Msg, error) {
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	first, err := cons.Next(jetstream.FetchContext(wait))
	cancel()
	if err != nil {
		if ctx.Err() == nil && (errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded)) {
			return nil, nil
		}
		return nil, err
	}
	msgs := []jetstream.Msg{first}
	if more, err := cons.FetchNoWait(indexBatch - 1); err == nil {
		for m := range more.Messages() {
			msgs = append(msgs, m)
		}
	}
	return msgs, nil
}

// apply indexes the products a batch of events names and returns the events it kept: it
// terminates those it cannot read (no retry will make them readable).
func (ix *indexer) apply(ctx context.Context, msgs []jetstream.Msg) ([]jetstream.Msg, error) {
	kept := msgs[:0:0]
	var ids, cats []uuid.UUID
	for _, m := range msgs {
		product, category, err := parseCatalogEvent(m.Subject(), m.Data())
		if err != nil {
			ix.log.Error().Err(err).Str("subject", m.Subject()).Msg("meilisearch indexer: unreadable event; terminated")
			_ = m.TermWithReason("unreadable: " + err.Error())
			continue
		}
		kept = append(kept, m)
		if product != uuid.Nil {
			ids = append(ids, product)
		} else {
			cats = append(cats, category)
		}
	}
	if len(cats) > 0 {
		more, err := ix.subtreeProducts(ctx, cats)
		if err != nil {
			return kept, err
		}
		ids = append(ids, more...)
	}
	rounds := 0
	return kept, ix.sync(ctx, ids, func() {
		// Every write round after the first restarts the events' AckWait.
		if rounds++; rounds > 1 {
			for _, m := range kept {
				_ = m.InProgress()
			}
		}
	})
}

// parseCatalogEvent returns the product (or else the category) an event is about.
func parseCatalogEvent(subject string, data []byte) (product, category uuid.UUID, err error) {
	rest, _ := strings.CutPrefix(subject, "souk.evt.catalog.")
	if strings.HasPrefix(rest, "category_") {
		var ev subjects.CategoryChanged
		if err := json.Unmarshal(data, &ev); err != nil {
			return uuid.Nil, uuid.Nil, err
		}
		category, err = uuid.Parse(ev.CategoryID)
		if err == nil && category == uuid.Nil {
			err = errors.New("no category_id")
		}
		return uuid.Nil, category, err
	}
	var ev struct {
		ProductID string `json:"product_id"`
	}
	if err := json.Unmarshal(data, &ev); err != nil {
		return uuid.Nil, uuid.Nil, err
	}
	product, err = uuid.Parse(ev.ProductID)
	if err == nil && product == uuid.Nil {
		err = errors.New("no product_id")
	}
	return product, uuid.Nil, err
}

// subtreeProducts returns the listed products in cats and their subcategories.
func (ix *indexer) subtreeProducts(ctx context.Context, cats []uuid.UUID) ([]uuid.UUID, error) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	t, err := ix.currentTree(ctx)
	if err != nil {
		return nil, err
	}
	var sub []uuid.UUID
	for _, c := range cats {
		if n, ok := t.byID[c]; ok {
			sub = append(sub, t.subtree(n)...)
		}
	}
	if len(sub) == 0 {
		return nil, nil
	}
	return ix.store.listedProductIDsIn(ctx, sub)
}

// currentTree reads the category tree. The indexer reads it for every batch rather than keep
// one: another instance may have applied a category change that this one has not seen.
func (ix *indexer) currentTree(ctx context.Context) (*tree, error) {
	cats, err := ix.store.Categories(ctx)
	if err != nil {
		return nil, err
	}
	return buildTree(cats), nil
}

// sync writes the current state of products ids to the index, syncChunk at a time, calling
// progress (when not nil) before every write.
func (ix *indexer) sync(ctx context.Context, ids []uuid.UUID, progress func()) error {
	ids = slices.Clone(ids)
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	ids = slices.Compact(ids)
	if progress == nil {
		progress = func() {}
	}
	for len(ids) > 0 {
		n := min(len(ids), syncChunk)
		if err := ix.syncChunk(ctx, ids[:n], progress); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// syncChunk reads ids, writes them, and reads them again: a product that changed meanwhile
// may have been written by another instance before this write, which would then have put an
// older state over it, so it is written again (at most syncRounds times, then the error
// hands the batch back for later). A product that did not change cannot be stale: whoever
// changes it later publishes an event, read after the change.
func (ix *indexer) syncChunk(ctx context.Context, ids []uuid.UUID, progress func()) error {
	want, err := ix.read(ctx, ids)
	if err != nil {
		return err
	}
	for round := 1; ; round++ {
		progress()
		if err := ix.write(ctx, want); err != nil {
			return err
		}
		now, err := ix.read(ctx, slices.Collect(maps.Keys(want)))
		if err != nil {
			return err
		}
		changed := map[uuid.UUID]*meiliDoc{}
		for id, d := range now {
			if !reflect.DeepEqual(d, want[id]) {
				changed[id] = d
			}
		}
		if len(changed) == 0 {
			return nil
		}
		if round == syncRounds {
			return fmt.Errorf("%d products kept changing while being indexed", len(changed))
		}
		want = changed
	}
}

// read returns the documents of ids, nil for those not listed (deleted or unknown).
func (ix *indexer) read(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*meiliDoc, error) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	t, err := ix.currentTree(ctx)
	if err != nil {
		return nil, err
	}
	products, err := ix.store.Products(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[uuid.UUID]*meiliDoc, len(ids))
	for _, id := range ids {
		out[id] = nil
	}
	for i := range products {
		out[products[i].ID] = newMeiliDoc(&products[i], t)
	}
	return out, nil
}

// write upserts the documents of docs and deletes those whose document is nil, in one
// request each, and waits until Meilisearch has applied both.
func (ix *indexer) write(ctx context.Context, docs map[uuid.UUID]*meiliDoc) error {
	var upsert []*meiliDoc
	var gone []string
	for id, d := range docs {
		if d == nil {
			gone = append(gone, id.String())
		} else {
			upsert = append(upsert, d)
		}
	}
	slices.SortFunc(upsert, func(a, b *meiliDoc) int { return strings.Compare(a.ID, b.ID) })
	slices.Sort(gone)
	var tasks []int64
	call := func(fn func(ctx context.Context) (*meilisearch.TaskInfo, error)) error {
		ctx, cancel := context.WithTimeout(ctx, ix.cfg.Timeout)
		defer cancel()
		t, err := fn(ctx)
		if err == nil {
			tasks = append(tasks, t.TaskUID)
		}
		return err
	}
	pk := "id"
	if len(upsert) > 0 {
		if err := call(func(ctx context.Context) (*meilisearch.TaskInfo, error) {
			return ix.index.AddDocumentsWithContext(ctx, upsert, &meilisearch.DocumentOptions{PrimaryKey: &pk})
		}); err != nil {
			return fmt.Errorf("meilisearch: add %d documents: %w", len(upsert), err)
		}
	}
	if len(gone) > 0 {
		if err := call(func(ctx context.Context) (*meilisearch.TaskInfo, error) {
			return ix.index.DeleteDocumentsWithContext(ctx, gone, nil)
		}); err != nil {
			return fmt.Errorf("meilisearch: delete %d documents: %w", len(gone), err)
		}
	}
	return ix.wait(ctx, tasks...)
}

// wait waits until Meilisearch has applied tasks, for at most TaskTimeout in all; a task that
// failed is an error.
func (ix *indexer) wait(ctx context.Context, tasks ...int64) error {
	ctx, cancel := context.WithTimeout(ctx, ix.cfg.TaskTimeout)
	defer cancel()
	for _, uid := range tasks {
		t, err := ix.client.WaitForTaskWithContext(ctx, uid, 50*time.Millisecond)
		if err != nil {
			return fmt.Errorf("meilisearch: wait for task %d: %w", uid, err)
		}
		if t.Status != meilisearch.TaskStatusSucceeded {
			return &meiliTaskError{UID: uid, Type: string(t.Type), Status: string(t.Status), Code: t.Error.Code, Message: t.Error.Message}
		}
	}
	return nil
}

// meiliTaskError is a Meilisearch task that did not succeed.
type meiliTaskError struct {
	UID                         int64
	Type, Status, Code, Message string
}

func (e *meiliTaskError) Error() string {
	return fmt.Sprintf("meilisearch: task %d (%s) %s: %s: %s", e.UID, e.Type, e.Status, e.Code, e.Message)
}

// ensureIndex creates the index (primary key "id") when it is missing and applies the
// settings; both are idempotent, so every start does it. fresh reports an index that did not
// have the settings yet: a new one, or one that Meilisearch created by itself for documents
// written after the index was deleted.
func (ix *indexer) ensureIndex(ctx context.Context) (fresh bool, err error) {
	cctx, cancel := context.WithTimeout(ctx, ix.cfg.Timeout)
	_, err = ix.client.GetIndexWithContext(cctx, ix.cfg.Index)
	cancel()
	var me *meilisearch.Error
	if errors.As(err, &me) && me.StatusCode == http.StatusNotFound {
		cctx, cancel := context.WithTimeout(ctx, ix.cfg.Timeout)
		t, cerr := ix.client.CreateIndexWithContext(cctx, &meilisearch.IndexConfig{Uid: ix.cfg.Index, PrimaryKey: "id"})
		cancel()
		if cerr != nil {
			return false, fmt.Errorf("meilisearch: create index: %w", cerr)
		}
		var te *meiliTaskError
		if err = ix.wait(ctx, t.TaskUID); errors.As(err, &te) && te.Code == "index_already_exists" {
			err = nil // another instance was first
		}
	}
	if err != nil {
		return false, fmt.Errorf("meilisearch: index %s: %w", ix.cfg.Index, err)
	}
	cctx, cancel = context.WithTimeout(ctx, ix.cfg.Timeout)
	defer cancel()
	filterable, err := ix.index.GetFilterableAttributesWithContext(cctx)
	if err != nil {
		return false, fmt.Errorf("meilisearch: filterable attributes: %w", err)
	}
	fresh = true
	for _, a := range *filterable {
		if a == any("category_ids") {
			fresh = false
		}
	}
	rules, err := ix.index.GetRankingRulesWithContext(cctx)
	if err != nil {
		return false, fmt.Errorf("meilisearch: ranking rules: %w", err)
	}
	t, err := ix.index.UpdateSettingsWithContext(cctx, meiliSettings(sortFirst(*rules)))
	if err != nil {
		return false, fmt.Errorf("meilisearch: settings: %w", err)
	}
	return fresh, ix.wait(ctx, t.TaskUID)
}

// Reindex rebuilds cfg's index straight from PostgreSQL (for `souk reindex`): it applies the
// settings, writes every listed product, syncChunk at a time in creation order, then deletes
// the documents of products that are no longer listed. It is safe beside running indexers.
func Reindex(ctx context.Context, cfg MeiliConfig, store *Store, log zerolog.Logger) error {
	ix, err := newMeiliIndexer(cfg, store, log)
	if err != nil {
		return err
	}
	if _, err := ix.ensureIndex(ctx); err != nil {
		return err
	}
	listed := map[string]bool{}
	for after := int64(0); ; {
		sctx, cancel := context.WithTimeout(ctx, storeTimeout)
		ids, last, err := store.listedProductIDsAfter(sctx, after, syncChunk)
		cancel()
		if err != nil {
			return fmt.Errorf("reindex: %w", err)
		}
		if len(ids) == 0 {
			break
		}
		if err := ix.sync(ctx, ids, nil); err != nil {
			return fmt.Errorf("reindex: %w", err)
		}
		for _, id := range ids {
			listed[id.String()] = true
		}
		after = last
	}
	stale, err := ix.unlisted(ctx, listed)
	if err != nil {
		return fmt.Errorf("reindex: %w", err)
	}
	// sync reads them again: one created meanwhile is written, the others deleted.
	if err := ix.sync(ctx, stale, nil); err != nil {
		return fmt.Errorf("reindex: %w", err)
	}
	ix.log.Info().Int("products", len(listed)).Int("removed", len(stale)).Msg("meilisearch: reindexed")
	return nil
}

// unlisted returns the ids of the index's documents that are not in listed.
func (ix *indexer) unlisted(ctx context.Context, listed map[string]bool) ([]uuid.UUID, error) {
	var out []uuid.UUID
	for offset := int64(0); ; offset += 1000 {
		var res meilisearch.DocumentsResult
		cctx, cancel := context.WithTimeout(ctx, ix.cfg.Timeout)
		err := ix.index.GetDocumentsWithContext(cctx, &meilisearch.DocumentsQuery{Offset: offset, Limit: 1000, Fields: []string{"id"}}, &res)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("meilisearch: documents: %w", err)
		}
		for _, h := range res.Results {
			var d struct {
				ID string `json:"id"`
			}
			if err := h.DecodeInto(&d); err != nil {
				return nil, err
			}
			if id, err := uuid.Parse(d.ID); err == nil && !listed[d.ID] {
				out = append(out, id)
			}
		}
		if len(res.Results) == 0 || offset+int64(len(res.Results)) >= res.Total {
			return out, nil
		}
	}
}

// listedProductIDsIn returns the ids of the listed products in categories cats.
func (s *Store) listedProductIDsIn(ctx context.Context, cats []uuid.UUID) ([]uuid.UUID, error) {
	rows, err := s.db.Query(ctx, `select id from catalog.products where category_id = any($1) and deleted_at is null`, cats)
	if err != nil {
		return nil, fmt.Errorf("products in categories: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("products in categories: %w", err)
	}
	return ids, nil
}

// listedProductIDsAfter returns the ids of up to limit listed products with a seq above
// after, in seq order, and the last one's seq.
func (s *Store) listedProductIDsAfter(ctx context.Context, after int64, limit int) ([]uuid.UUID, int64, error) {
	rows, err := s.db.Query(ctx, `select id, seq from catalog.products where seq > $1 and deleted_at is null order by seq limit $2`, after, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("listed products: %w", err)
	}
	defer rows.Close()
	var ids []uuid.UUID
	last := after
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id, &last); err != nil {
			return nil, 0, fmt.Errorf("listed products: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, last, rows.Err()
}
