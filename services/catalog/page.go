package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/souk/souk/platform/cache"
	"github.com/souk/souk/services/catalog/product"
	"github.com/souk/souk/services/catalog/search"
	"github.com/souk/souk/subjects"
)

// productSearch serves GET /v1/products: a page of products and the facets of the whole
// search. The encoded page is cached; on a miss the engine gives the page's ids, the products
// come from the product cache (one query for the ones it lacks), and the facets from their
// own cache entry, which the pages of one search share whatever their sort.
func (h *handlers) productSearch(ctx context.Context, data []byte) ([]byte, error) {
	var req subjects.SearchRequest
	if len(data) > 0 {
		if err := json.Unmarshal(data, &req); err != nil {
			return nil, subjects.BadRequest("", "malformed request body")
		}
	}
	q, err := search.NewQuery(ctx, req, h.cats.resolve, h.attrs.known, h.defaultCurrency)
	if err != nil {
		return nil, err
	}
	p := h.callerPrefs(ctx)
	key := "s|" + q.Fingerprint + "|" + strconv.Itoa(q.Limit) + "|" + q.Cursor + "|" + p.Key
	return h.lists.Load(ctx, search.ListGroup, key, func(ctx context.Context) ([]byte, error) {
		if j, ok := h.engine.(search.Joint); ok && j.Joint(q) {
			if _, hit := h.lists.Get(search.ListGroup, facetKey(q, p)); !hit {
				return h.jointPage(ctx, j, q, p)
			}
		}
		// The page and the facets are independent statements: on a miss, run them at once.
		var f []byte
		g, gctx := errgroup.WithContext(ctx)
		g.Go(func() (err error) {
			f, err = h.facets(gctx, q, p)
			return err
		})
		ids, next, err := h.engine.Page(gctx, q)
		var items [][]byte
		if err == nil {
			items, err = h.productReplies(gctx, ids, p)
		}
		if err := errors.Join(err, g.Wait()); err != nil {
			return nil, err
		}
		return encodePage(items, next, f), nil
	})
}

// jointPage answers a page whose facets are not cached with the engine's one statement for
// both, and caches the facets for the other pages and sorts of the search.
func (h *handlers) jointPage(ctx context.Context, j search.Joint, q *search.Query, p product.Prefs) ([]byte, error) {
	t := h.lists.Ticket(search.ListGroup) // before the read: an invalidation racing it wins
	ids, next, raw, err := j.PageFacets(ctx, q)
	if err != nil {
		return nil, err
	}
	f, err := h.wireFacets(raw, p)
	if err != nil {
		return nil, err
	}
	h.lists.Put(t, facetKey(q, p), f)
	items, err := h.productReplies(ctx, ids, p)
	if err != nil {
		return nil, err
	}
	return encodePage(items, next, f), nil
}

// facetKey is the cache key of q's facets: its fingerprint without its sort (every sort and
// page of a search shares them) and the caller's language preferences.
func facetKey(q *search.Query, p product.Prefs) string {
	return "f|" + q.FacetFingerprint() + "|" + p.Key
}

// facets returns the encoded facets of q, cached by facetKey; computed on a page miss only.
func (h *handlers) facets(ctx context.Context, q *search.Query, p product.Prefs) ([]byte, error) {
	return h.lists.Load(ctx, search.ListGroup, facetKey(q, p), func(ctx context.Context) ([]byte, error) {
		raw, err := h.engine.Facets(ctx, q)
		if err != nil {
			return nil, err
		}
		return h.wireFacets(raw, p)
	})
}

// wireFacets encodes an engine's counts as the caller's facets.
func (h *handlers) wireFacets(raw search.RawFacets, p product.Prefs) ([]byte, error) {
	f := search.WireFacets(raw, h.cats.current(), p.List, h.defaultLocale)
	return json.Marshal(&f)
}

// productReplies returns the encoded replies of products ids in order: cached ones as they
// are, the others read in one query and cached. A product deleted meanwhile is left out.
func (h *handlers) productReplies(ctx context.Context, ids []uuid.UUID, p product.Prefs) ([][]byte, error) {
	out := make([][]byte, len(ids))
	var missing []uuid.UUID
	for i, id := range ids {
		key, group := productKey(id, p)
		if v, ok := h.products.Get(group, key); ok {
			out[i] = v
		} else {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	// One ticket per group, taken before the read: an invalidation racing it wins.
	tickets := make(map[uuid.UUID]cache.Ticket, len(missing))
	for _, id := range missing {
		tickets[id] = h.products.Ticket(id.String())
	}
	views, err := h.store.Views(ctx, missing...)
	if err != nil {
		return nil, err
	}
	found := make(map[uuid.UUID][]byte, len(views))
	for id, v := range views {
		b := h.pickView(v, p)
		found[id] = b
		key, _ := productKey(id, p)
		h.products.Put(tickets[id], key, b)
	}
	kept := out[:0]
	for i, id := range ids {
		if out[i] == nil {
			out[i] = found[id]
		}
		if out[i] != nil {
			kept = append(kept, out[i])
		}
	}
	return kept, nil
}

// encodePage writes {"items":[…],"next_cursor":"…","facets":{…}} from encoded parts.
func encodePage(items [][]byte, next string, facets []byte) []byte {
	n := len(facets) + len(next) + 64
	for _, it := range items {
		n += len(it) + 1
	}
	b := bytes.NewBuffer(make([]byte, 0, n))
	b.WriteString(`{"items":[`)
	for i, it := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(it)
	}
	b.WriteByte(']')
	if next != "" {
		b.WriteString(`,"next_cursor":`)
		enc, _ := json.Marshal(next)
		b.Write(enc)
	}
	b.WriteString(`,"facets":`)
	b.Write(facets)
	b.WriteByte('}')
	return b.Bytes()
}
