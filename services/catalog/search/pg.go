package search

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/semaphore"

	"github.com/souk/souk/platform/cache"
	"github.com/souk/souk/subjects"
)

// PGEngine searches the catalog's own tables: a weighted tsvector per product (GIN index)
// matched against search_query (typo correction by trigrams over the lexicon), filters on
// indexed columns, keyset pages on (sort key, id). It needs nothing installed beyond
// PostgreSQL's pg_trgm and unaccent.
type PGEngine struct {
	DB *pgxpool.Pool
	// Lists, when set, caches the text query of each list of terms (typo correction takes a
	// few milliseconds), in the cache of lists: a catalog change may add words, and outdates
	// the entry with every list.
	Lists *cache.Bytes
	// MaxMatches caps the matches one search reads to rank them by relevance and to count
	// its facets: the first MaxMatches in the order PostgreSQL reads them (the table's, in a
	// bitmap or sequential scan). Past it the facets are estimates (RawFacets.Estimated) and
	// relevance pages end with the candidates. Sorted pages are not capped: an index in
	// their order gives a page without reading every match. Zero or less: no cap.
	MaxMatches int
	// Conns bounds the pool's connections the engine's statements hold at once; a search
	// waits for one (until its deadline) past it. A search's statements read hundreds of rows
	// and take tens of milliseconds, where most of what shares the pool (a product read, a
	// step of a checkout) takes one: without a bound, a burst of uncached searches took every
	// connection and the short statements queued behind them. Zero or less: no bound.
	Conns int

	slotsOnce sync.Once
	slots     *semaphore.Weighted
}

// query runs a statement of the engine within its bound (Conns); the rows give back their
// connection and the engine's slot when closed.
func (e *PGEngine) query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	e.slotsOnce.Do(func() {
		if e.Conns > 0 {
			e.slots = semaphore.NewWeighted(int64(e.Conns))
		}
	})
	if e.slots == nil {
		return e.DB.Query(ctx, sql, args...)
	}
	if err := e.slots.Acquire(ctx, 1); err != nil {
		return nil, fmt.Errorf("search: waiting for a connection: %w", err)
	}
	rows, err := e.DB.Query(ctx, sql, args...)
	if err != nil {
		e.slots.Release(1)
		return nil, err
	}
	return &heldRows{Rows: rows, slots: e.slots}, nil
}

// heldRows gives back the engine's slot with its connection, once however often it is closed.
type heldRows struct {
	pgx.Rows
	slots *semaphore.Weighted
	once  sync.Once
}

func (r *heldRows) Close() {
	r.Rows.Close()
	r.once.Do(func() { r.slots.Release(1) })
}

// Name implements Engine.
func (e *PGEngine) Name() string { return "postgres" }

// pgKey is the PostgreSQL engine's position in a page order: the last item's sort key and id.
type pgKey struct {
	Rank   *float32  `json:"r,omitempty"`
	Price  *int64    `json:"p,omitempty"`
	At     *int64    `json:"t,omitempty"` // created_at in Unix microseconds (PostgreSQL's precision)
	Rating *string   `json:"g,omitempty"` // rating_avg, a numeric(3,2), as text
	ID     uuid.UUID `json:"i"`
}

// sqlQuery builds a statement with positional arguments.
type sqlQuery struct {
	where []string
	args  []any
	// tsq is the placeholder of the text query, when there is one.
	tsq string
}

func (b *sqlQuery) arg(v any) string {
	b.args = append(b.args, v)
	return "$" + strconv.Itoa(len(b.args))
}

// textQuery returns q's text query, built by catalog.search_query (typo correction runs
// there, against the lexicon), in its text form; ok is false when every term is a stop word
// and nothing can match. It is its own statement so that the search statements get it as a
// parameter: inside them the planner would call the function once per row, and could not
// use the GIN index with it.
func (e *PGEngine) textQuery(ctx context.Context, q *Query) (tsq string, ok bool, err error) {
	if len(q.Terms) == 0 {
		return "", true, nil
	}
	load := func(ctx context.Context) ([]byte, error) {
		var s *string
		rows, err := e.query(ctx, `select catalog.search_query($1::text[], true)::text`, q.Terms)
		if err == nil {
			s, err = pgx.CollectExactlyOneRow(rows, pgx.RowTo[*string])
		}
		if err != nil {
			return nil, fmt.Errorf("search query: %w", err)
		}
		if s == nil {
			return []byte{}, nil // only stop words: nothing matches
		}
		return []byte(*s), nil
	}
	var b []byte
	if e.Lists != nil {
		b, err = e.Lists.Load(ctx, ListGroup, "q|"+strings.Join(q.Terms, " "), load)
	} else {
		b, err = load(ctx)
	}
	return string(b), err == nil && len(b) > 0, err
}

// from is the FROM and WHERE of every search statement: the products matching q, whose text
// query is tsq.
func (b *sqlQuery) from(q *Query, tsq string) string {
	from := "catalog.products p"
	b.where = append(b.where, "p.deleted_at is null")
	if tsq != "" {
		b.tsq = b.arg(tsq) + "::tsquery"
		b.where = append(b.where, "p.search @@ "+b.tsq)
	}
	if q.CategoryIDs != nil {
		b.where = append(b.where, "p.category_id = any("+b.arg(q.CategoryIDs)+"::uuid[])")
	}
	if q.Currency != "" {
		b.where = append(b.where, "p.currency = "+b.arg(q.Currency))
	}
	if q.MinPrice != nil {
		b.where = append(b.where, "p.price_amount >= "+b.arg(*q.MinPrice))
	}
	if q.MaxPrice != nil {
		b.where = append(b.where, "p.price_amount <= "+b.arg(*q.MaxPrice))
	}
	if q.InStock != nil {
		b.where = append(b.where, "p.in_stock = "+b.arg(*q.InStock))
	}
	if q.MinRating != nil {
		b.where = append(b.where, "p.rating_avg >= "+b.arg(*q.MinRating)+"::numeric")
	}
	// One containment for every single-valued filter (the GIN index serves it); an OR of
	// containments for a filter with several values.
	single := map[string]string{}
	for _, f := range q.Attributes {
		if len(f.Values) == 1 {
			single[f.Name] = f.Values[0]
			continue
		}
		alts := make([]string, len(f.Values))
		for i, v := range f.Values {
			alts[i] = "p.attributes @> " + b.arg(map[string]string{f.Name: v}) + "::jsonb"
		}
		b.where = append(b.where, "("+strings.Join(alts, " or ")+")")
	}
	if len(single) > 0 {
		b.where = append(b.where, "p.attributes @> "+b.arg(single)+"::jsonb")
	}
	return from
}

// order returns the sort key expression and ORDER BY of a sort, and whether the order is
// ascending. Relevance ranks by the text query of b.
func (b *sqlQuery) order(sort string) (key, orderBy string, asc bool) {
	switch sort {
	case subjects.SortRelevance:
		key = "ts_rank(p.search, " + b.tsq + ", 1)"
		return key, key + " desc, p.id desc", false
	case subjects.SortPriceAsc:
		return "p.price_amount", "p.price_amount, p.id", true
	case subjects.SortPriceDesc:
		return "p.price_amount", "p.price_amount desc, p.id desc", false
	case subjects.SortRating:
		return "p.rating_avg", "p.rating_avg desc, p.id desc", false
	default: // newest
		return "p.created_at", "p.created_at desc, p.id desc", false
	}
}

// Page implements Engine.
func (e *PGEngine) Page(ctx context.Context, q *Query) ([]uuid.UUID, string, error) {
	tsq, ok, err := e.textQuery(ctx, q)
	if err != nil || !ok {
		return nil, "", err
	}
	var b sqlQuery
	from := b.from(q, tsq)
	key, orderBy, asc := b.order(q.Sort)
	// Capped relevance ranks the first MaxMatches matches: the candidates are chosen before
	// the cursor's position applies, so that every page ranks the same candidates and the
	// pages end with them.
	capped := e.capped(q)
	var sql string
	if capped {
		sql = b.matches(e.MaxMatches, "p.id, "+key+" as k", from) + " select m.id, m.k from m"
		key, orderBy, b.where = "m.k", "m.k desc, m.id desc", nil
	}
	id := "p.id"
	if capped {
		id = "m.id"
	}
	after, err := b.after(q, key, id, asc)
	if err != nil {
		return nil, "", err
	}
	if after != "" {
		b.where = append(b.where, after)
	}
	if !capped {
		sql = "select p.id, " + key + " from " + from
	}
	if len(b.where) > 0 {
		sql += " where " + strings.Join(b.where, " and ")
	}
	sql += " order by " + orderBy + " limit " + b.arg(q.Limit+1)
	rows, err := e.query(ctx, sql, b.args...)
	if err != nil {
		return nil, "", fmt.Errorf("search page: %w", err)
	}
	defer rows.Close()
	var p pgPage
	for rows.Next() {
		var id uuid.UUID
		var k any
		if err := rows.Scan(&id, &k); err != nil {
			return nil, "", fmt.Errorf("search page: %w", err)
		}
		p.add(id, k)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("search page: %w", err)
	}
	return p.result(q)
}

// after is the condition on the sort key and id of the rows after q's cursor ("" when it
// has none).
func (b *sqlQuery) after(q *Query, key, id string, asc bool) (string, error) {
	if q.Cursor == "" {
		return "", nil
	}
	var last pgKey
	if err := DecodeCursor(q, &last); err != nil {
		return "", err
	}
	val, err := keyArg(q.Sort, last)
	if err != nil {
		return "", err
	}
	op := "<"
	if asc {
		op = ">"
	}
	return "(" + key + ", " + id + ") " + op + " (" + b.arg(val) + ", " + b.arg(last.ID) + ")", nil
}

// capped tells whether q's page ranks only the first MaxMatches matches.
func (e *PGEngine) capped(q *Query) bool {
	return q.Sort == subjects.SortRelevance && e.MaxMatches > 0
}

// matches is the WITH of a statement over b's matches: m, the first limit of them with
// cols (every one when limit ≤ 0). The matches are a CTE of their own, h, read lazily up to
// the limit, because the planner plans a CTE to be read to its end: with the limit in the
// same query it takes a sequential scan whenever it overestimates the matches, betting
// that the limit comes early ("kopfhörer": 16 476 estimated, 3 415 matches, 28 775 rows
// filtered, 120 to 660 ms), where the GIN index reads the matches only (8 to 21 ms).
func (b *sqlQuery) matches(limit int, cols, from string) string {
	sel := "select " + cols + " from " + from + " where " + strings.Join(b.where, " and ")
	if limit <= 0 {
		return "with m as materialized (" + sel + ")"
	}
	return "with h as materialized (" + sel + "), m as materialized (select * from h limit " + strconv.Itoa(limit) + ")"
}

// pgPage collects the rows of a page: up to its limit and one more, which says there is
// a next page.
type pgPage struct {
	ids  []uuid.UUID
	keys []any
}

func (p *pgPage) add(id uuid.UUID, key any) {
	p.ids = append(p.ids, id)
	p.keys = append(p.keys, key)
}

// result is the page's ids and the cursor after its last item ("" on the last page).
func (p *pgPage) result(q *Query) ([]uuid.UUID, string, error) {
	if len(p.ids) <= q.Limit {
		return p.ids, "", nil
	}
	last := pgKey{ID: p.ids[q.Limit-1]}
	setKey(q.Sort, &last, p.keys[q.Limit-1])
	next, err := EncodeCursor(q, last)
	return p.ids[:q.Limit], next, err
}

// keyArg is the bound value of a decoded position for sort; a key of the wrong shape is a
// forged cursor.
func keyArg(sort string, k pgKey) (any, error) {
	switch {
	case sort == subjects.SortRelevance && k.Rank != nil:
		return *k.Rank, nil
	case (sort == subjects.SortPriceAsc || sort == subjects.SortPriceDesc) && k.Price != nil:
		return *k.Price, nil
	case sort == subjects.SortRating && k.Rating != nil:
		var n pgtype.Numeric
		if n.Scan(*k.Rating) != nil || !n.Valid {
			return nil, errBadCursor
		}
		return n, nil
	case sort == subjects.SortNewest && k.At != nil:
		return time.UnixMicro(*k.At), nil
	}
	return nil, errBadCursor
}

// setKey stores a row's sort key value v in k.
func setKey(sort string, k *pgKey, v any) {
	switch x := v.(type) {
	case float32:
		k.Rank = &x
	case int64:
		k.Price = &x
	case time.Time:
		us := x.UnixMicro()
		k.At = &us
	case pgtype.Numeric:
		// A rating is a numeric(3, 2): written with its two decimals, whether it came in
		// binary (a page's own statement: 0 for 0.00) or as text (the joint statement).
		if f, err := x.Float64Value(); err == nil && f.Valid {
			s := strconv.FormatFloat(f.Float64, 'f', 2, 64)
			k.Rating = &s
		}
	}
}

// facetCols are the columns facetSelects counts.
const facetCols = "p.category_id, p.attributes, p.price_amount, p.currency"

// Facets implements Engine: one statement over the matching rows (the first MaxMatches,
// when capped), materialised once, counting by category, by attribute value (the most
// frequent MaxFacetValues of each) and by price bucket.
func (e *PGEngine) Facets(ctx context.Context, q *Query) (RawFacets, error) {
	f := RawFacets{Categories: map[uuid.UUID]int{}, Attributes: map[string][]subjects.ValueCount{}}
	tsq, ok, err := e.textQuery(ctx, q)
	if err != nil || !ok {
		return f, err
	}
	var b sqlQuery
	from := b.from(q, tsq)
	sql := e.facetStatement(&b, b.matches(e.countLimit(), facetCols, from), "")
	rows, err := e.query(ctx, sql, b.args...)
	if err != nil {
		return RawFacets{}, fmt.Errorf("search facets: %w", err)
	}
	defer rows.Close()
	return e.readFacets(rows, nil)
}

// countLimit is the matches a facets statement reads: one more than it counts, to tell
// whether there were more.
func (e *PGEngine) countLimit() int {
	if e.MaxMatches <= 0 {
		return 0
	}
	return e.MaxMatches + 1
}

// facetStatement completes with (the WITH of b's matches, m, of at least facetCols) into
// the statement whose rows readFacets reads: kind 0 a category's count, 1 an attribute
// value's, 2 a price bucket's, 3 (when capped) how many matches m holds, counting the
// first MaxMatches of them (s). first, when not empty, is a select of the page's rows
// (kind 4) in front of them.
func (e *PGEngine) facetStatement(b *sqlQuery, with, first string) string {
	s, more := "select * from m", ""
	if e.MaxMatches > 0 {
		s += " limit " + strconv.Itoa(e.MaxMatches)
		more = ` union all select 3, '', '', count(*) from m`
	}
	if first != "" {
		first += " union all "
	}
	return with + `, s as (` + s + `)
		` + first + `select 0, category_id::text, '', count(*) from s group by category_id
		union all
		select 1, key, value, n from (
			select a.key, a.value, count(*) as n, row_number() over (partition by a.key order by count(*) desc, a.value) as rn
			from s, jsonb_each_text(s.attributes) a group by a.key, a.value) v
		where rn <= ` + strconv.Itoa(MaxFacetValues) + `
		union all
		select 2, currency, width_bucket(price_amount, ` + b.arg(PriceBounds) + `::bigint[])::text, count(*) from s group by 2, 3` + more
}

// readFacets reads the rows of facetStatement; those of kind 4 go to page (the row's id,
// sort key as text and position).
func (e *PGEngine) readFacets(rows pgx.Rows, page func(id, key string, pos int) error) (RawFacets, error) {
	f := RawFacets{Categories: map[uuid.UUID]int{}, Attributes: map[string][]subjects.ValueCount{}}
	for rows.Next() {
		var kind, n int
		var k, v string
		if err := rows.Scan(&kind, &k, &v, &n); err != nil {
			return RawFacets{}, fmt.Errorf("search facets: %w", err)
		}
		switch kind {
		case 0:
			id, err := uuid.Parse(k)
			if err != nil {
				return RawFacets{}, fmt.Errorf("search facets: %w", err)
			}
			f.Categories[id] = n
		case 1:
			f.Attributes[k] = append(f.Attributes[k], subjects.ValueCount{Value: v, Count: n})
		case 2:
			i, err := strconv.Atoi(v)
			if err != nil {
				return RawFacets{}, fmt.Errorf("search facets: %w", err)
			}
			f.Prices = append(f.Prices, PriceBucket(k, i, n))
		case 3:
			f.Estimated = n > e.MaxMatches
		case 4:
			if err := page(k, v, n); err != nil {
				return RawFacets{}, fmt.Errorf("search page: %w", err)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return RawFacets{}, fmt.Errorf("search facets: %w", err)
	}
	SortFacets(&f)
	return f, nil
}

// Joint implements Joint: a capped search's first relevance page reads the same matches
// as its facets; so does a sorted page of a search with at most MaxMatches matches, which
// are then all of them. Whether a sorted search has more is known once its matches are
// read: PageFacets then reads the page on its own (Page).
//
// That is also why sorted pages go this way whenever their facets are wanted. On its own, a
// sorted page over a text query is the planner's bet between walking the sort key's index,
// testing each row against the text query, and reading the matches from the GIN index to
// sort them; it bets on the walk whenever it overestimates the matches, and a rare phrase
// then walks most of the index ("yoga mat" by price: 98 ms, against 24 ms from the GIN
// index on 100 000 products), where for a common word the walk stops early ("camera" by
// price: 5 ms, against 81 ms to read and sort every match). Reading at most MaxMatches+1
// matches first tells which it is, at the price of the facets' own read.
func (e *PGEngine) Joint(q *Query) bool {
	return e.MaxMatches > 0 && (q.Sort != subjects.SortRelevance || q.Cursor == "")
}

// PageFacets implements Joint: Page and Facets of q in one statement, which reads the
// first MaxMatches matches once for both; a sorted search with more matches than that has
// its page read by Page.
func (e *PGEngine) PageFacets(ctx context.Context, q *Query) ([]uuid.UUID, string, RawFacets, error) {
	tsq, ok, err := e.textQuery(ctx, q)
	if err != nil || !ok {
		return nil, "", RawFacets{Categories: map[uuid.UUID]int{}, Attributes: map[string][]subjects.ValueCount{}}, err
	}
	var b sqlQuery
	from := b.from(q, tsq)
	key, _, asc := b.order(q.Sort)
	with := b.matches(e.countLimit(), "p.id, "+key+" as k, "+facetCols, from)
	order := "k desc, id desc"
	if asc {
		order = "k, id"
	}
	after, err := b.after(q, "k", "id", asc)
	if err != nil {
		return nil, "", RawFacets{}, err
	}
	if after != "" {
		after = " where " + after
	}
	// The page's rows, their keys as text, a time in Unix microseconds.
	text := "k::text"
	if q.Sort == subjects.SortNewest {
		text = "(extract(epoch from k) * 1000000)::bigint::text"
	}
	first := `select 4, id::text, ` + text + `, row_number() over (order by ` + order + `) from (
		select id, k from s` + after + ` order by ` + order + ` limit ` + strconv.Itoa(q.Limit+1) + `) pg`
	exact := q.Sort != subjects.SortRelevance
	if exact {
		// A sorted page from s is the page only if s holds every match.
		first += ` where (select count(*) from m) <= ` + strconv.Itoa(e.MaxMatches)
	}
	sql := e.facetStatement(&b, with, first)
	rows, err := e.query(ctx, sql, b.args...)
	if err != nil {
		return nil, "", RawFacets{}, fmt.Errorf("search facets: %w", err)
	}
	defer rows.Close()
	type row struct {
		pos int
		id  uuid.UUID
		k   any
	}
	var got []row
	f, err := e.readFacets(rows, func(id, key string, pos int) error {
		u, err := uuid.Parse(id)
		if err != nil {
			return err
		}
		k, err := parseKey(q.Sort, key)
		got = append(got, row{pos, u, k})
		return err
	})
	if err != nil {
		return nil, "", RawFacets{}, err
	}
	rows.Close()
	if exact && f.Estimated {
		ids, next, err := e.Page(ctx, q)
		return ids, next, f, err
	}
	slices.SortFunc(got, func(a, b row) int { return a.pos - b.pos })
	var p pgPage
	for _, r := range got {
		p.add(r.id, r.k)
	}
	ids, next, err := p.result(q)
	return ids, next, f, err
}

// parseKey reads a sort key PageFacets gives as text into the value Page scans.
func parseKey(sort, s string) (any, error) {
	switch sort {
	case subjects.SortRelevance:
		k, err := strconv.ParseFloat(s, 32)
		return float32(k), err
	case subjects.SortPriceAsc, subjects.SortPriceDesc:
		return strconv.ParseInt(s, 10, 64)
	case subjects.SortRating:
		var n pgtype.Numeric
		err := n.Scan(s)
		return n, err
	default: // newest
		us, err := strconv.ParseInt(s, 10, 64)
		return time.UnixMicro(us), err
	}
}
