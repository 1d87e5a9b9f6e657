package catalog

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/cache"
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/platform/page"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/services/catalog/product"
	"github.com/souk/souk/services/catalog/search"
	"github.com/souk/souk/subjects"
)

// handlers serves the endpoints. Every method is safe to run twice: writes are keyed by what
// they change (a SKU, a slug, a review per customer and product), and a patch that changes
// nothing writes nothing.
type handlers struct {
	store           *Store
	cats            *categoryIndex
	attrs           *attrIndex
	engine          search.Engine
	products        *cache.Bytes // product replies by id and language preference
	lists           *cache.Bytes // search pages and facets
	prefs           *product.PrefsCache
	defaultLocale   string
	defaultCurrency string
	// cfg, deps and log are what start builds the rest with; follow is the CATALOG follower.
	cfg    Config
	deps   kit.Deps
	log    zerolog.Logger
	follow jetstream.ConsumeContext
	// listChanges invalidates the lists after changes seen on the stream, coalesced.
	listChanges *coalescer
	// started is the database's snapshot taken as start began, before any cache held
	// anything: see heldAtStart.
	started pg.Snapshot
}

// callerPrefs are the caller's language preferences.
func (h *handlers) callerPrefs(ctx context.Context) product.Prefs {
	return h.prefs.Resolve(subjects.MetaFrom(ctx).AcceptLanguage)
}

// parseID reads an entity id; a malformed one is as unknown as a missing one.
func parseID(s string, notFound error) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, wireError(notFound)
	}
	return id, nil
}

// invalidate drops this instance's cached replies of product id (uuid.Nil: none) and every
// list, at once; other instances follow from the event.
func (h *handlers) invalidate(id uuid.UUID) {
	if id != uuid.Nil {
		h.products.Invalidate(id.String())
	}
	h.lists.InvalidateAll()
}

// Categories. -----------------------------------------------------------------------------

func (h *handlers) categoryList(ctx context.Context, _ subjects.Empty) (subjects.CategoryTree, error) {
	t := h.cats.current()
	return subjects.CategoryTree{Items: product.WireTree(t.Roots, h.callerPrefs(ctx).List, h.defaultLocale)}, nil
}

func (h *handlers) categoryCreate(ctx context.Context, req subjects.CategoryCreateRequest) (subjects.Category, error) {
	var p subjects.Problems
	c := product.NewCategory(req, h.defaultLocale, &p)
	var err error
	if c.ParentID, err = h.resolveParent(ctx, req.ParentID, &p); err != nil {
		return subjects.Category{}, err
	}
	if err := p.Err(); err != nil {
		return subjects.Category{}, err
	}
	if err := h.store.CreateCategory(ctx, &c); err != nil {
		if errors.Is(err, product.ErrCategoryNotFound) {
			return subjects.Category{}, subjects.BadRequest("parent_id", "no such category")
		}
		return subjects.Category{}, wireError(err)
	}
	return h.categoryReply(ctx, c.ID)
}

// resolveParent finds the parent a category names by id or path: nil for the top level (an
// empty reference), a problem on parent_id for an unknown one.
func (h *handlers) resolveParent(ctx context.Context, ref string, p *subjects.Problems) (*uuid.UUID, error) {
	if strings.TrimSpace(ref) == "" {
		return nil, nil
	}
	n, _, err := h.cats.resolve(ctx, ref)
	switch {
	case errors.Is(err, product.ErrCategoryNotFound):
		p.Add("parent_id", "no such category")
		return nil, nil
	case err != nil:
		return nil, err
	}
	return &n.ID, nil
}

// categoryReply reloads this instance's tree (the write is committed) and answers the staff
// view of category id.
func (h *handlers) categoryReply(ctx context.Context, id uuid.UUID) (subjects.Category, error) {
	if err := h.cats.reload(ctx); err != nil {
		return subjects.Category{}, err
	}
	h.lists.InvalidateAll()
	n, ok := h.cats.current().ByID[id]
	if !ok {
		return subjects.Category{}, wireError(product.ErrCategoryNotFound)
	}
	return n.Wire(nil, h.defaultLocale, true), nil
}

func (h *handlers) categoryUpdate(ctx context.Context, req subjects.CategoryUpdateRequest) (subjects.Category, error) {
	id, err := parseID(req.ID, product.ErrCategoryNotFound)
	if err != nil {
		return subjects.Category{}, err
	}
	// The parent is resolved first (it may take a query); everything else is checked under
	// the row lock, and a problem writes nothing.
	var p subjects.Problems
	var parent *uuid.UUID
	if req.ParentID != nil {
		if parent, err = h.resolveParent(ctx, *req.ParentID, &p); err != nil {
			return subjects.Category{}, err
		}
	}
	if err := p.Err(); err != nil {
		return subjects.Category{}, err
	}
	_, err = h.store.UpdateCategory(ctx, id, func(c *product.Category) (bool, error) {
		return c.Patch(req, parent, h.defaultLocale)
	})
	if err != nil {
		return subjects.Category{}, wireError(err)
	}
	return h.categoryReply(ctx, id)
}

// Products. -------------------------------------------------------------------------------

// productKey is the cache key of product id's reply for a language preference, and the
// group the product's events invalidate (the id's text, the key's first 36 bytes): one
// allocation for both, where id.String() and a concatenation were two on every read.
func productKey(id uuid.UUID, p product.Prefs) (key, group string) {
	var text [36]byte
	hex.Encode(text[0:8], id[0:4])
	hex.Encode(text[9:13], id[4:6])
	hex.Encode(text[14:18], id[6:8])
	hex.Encode(text[19:23], id[8:10])
	hex.Encode(text[24:36], id[10:16])
	text[8], text[13], text[18], text[23] = '-', '-', '-', '-'
	var b strings.Builder
	b.Grow(len(text) + 1 + len(p.Key))
	b.Write(text[:])
	b.WriteByte('|')
	b.WriteString(p.Key)
	key = b.String()
	return key, key[:len(text)]
}

// productGet serves GET /v1/products/{id} from the cache of encoded replies; a miss reads
// one row by primary key. Entries are keyed by the canonical id, the group the product's
// events invalidate.
func (h *handlers) productGet(ctx context.Context, data []byte) ([]byte, error) {
	id, ok := gatewayProductID(data)
	if !ok {
		var req subjects.ProductIDRequest
		if err := json.Unmarshal(data, &req); err != nil {
			return nil, subjects.BadRequest("", "malformed request body")
		}
		var err error
		if id, err = parseID(req.ID, product.ErrNotFound); err != nil {
			return nil, err
		}
	}
	p := h.callerPrefs(ctx)
	key, group := productKey(id, p)
	return h.products.Load(ctx, group, key, func(ctx context.Context) ([]byte, error) {
		if len(p.List) == 0 { // the default language: one row, not every translation
			body, ok, err := h.store.View(ctx, id, h.defaultLocale)
			if err == nil && !ok {
				err = wireError(product.ErrNotFound)
			}
			return body, err
		}
		views, err := h.store.Views(ctx, id)
		if err != nil {
			return nil, err
		}
		if len(views[id]) == 0 {
			return nil, wireError(product.ErrNotFound)
		}
		return h.pickView(views[id], p), nil
	})
}

// pickView is the reply among a product's views (by locale) in the caller's language.
func (h *handlers) pickView(views map[string][]byte, p product.Prefs) []byte {
	if l, ok := product.PickLocale(p.List, h.defaultLocale, views); ok {
		return views[l]
	}
	return views[h.defaultLocale]
}

// productFast answers a product read from the cache on the subscription goroutine (see
// rpc.Fast); anything else goes to productGet.
func (h *handlers) productFast(data []byte, meta subjects.Meta) ([]byte, bool) {
	id, ok := gatewayProductID(data)
	if !ok {
		return nil, false
	}
	key, group := productKey(id, h.prefs.Resolve(meta.AcceptLanguage))
	return h.products.Get(group, key)
}

// gatewayProductID reads the request the gateway sends, exactly {"id":"<uuid>"}, without
// reflection (json.Unmarshal was a tenth of an uncached read's CPU in the service); ok is
// false for anything else, which the handler decodes in full.
func gatewayProductID(data []byte) (uuid.UUID, bool) {
	raw, ok := bytes.CutPrefix(data, []byte(`{"id":"`))
	if !ok || len(raw) != 38 || string(raw[36:]) != `"}` {
		return uuid.Nil, false
	}
	id, err := uuid.ParseBytes(raw[:36])
	return id, err == nil
}

// resolveCategory finds the category a product names by id or path (400 on category_id).
func (h *handlers) resolveCategory(ctx context.Context, ref string) (uuid.UUID, error) {
	n, _, err := h.cats.resolve(ctx, ref)
	if errors.Is(err, product.ErrCategoryNotFound) {
		return uuid.Nil, subjects.BadRequest("category_id", "no such category (give an id or a path such as electronics/audio)")
	}
	if err != nil {
		return uuid.Nil, err
	}
	return n.ID, nil
}

func (h *handlers) productCreate(ctx context.Context, req subjects.ProductCreateRequest) (subjects.Product, error) {
	p, err := product.New(req, h.defaultLocale)
	if err != nil {
		return subjects.Product{}, err
	}
	if p.CategoryID, err = h.resolveCategory(ctx, req.CategoryID); err != nil {
		return subjects.Product{}, err
	}
	p.ID = uuid.Must(uuid.NewV7())
	if err := h.store.CreateProduct(ctx, &p); err != nil {
		return subjects.Product{}, wireError(err)
	}
	h.invalidate(uuid.Nil)
	return p.Wire(nil, h.defaultLocale, true), nil
}

func (h *handlers) productUpdate(ctx context.Context, req subjects.ProductUpdateRequest) (subjects.Product, error) {
	id, err := parseID(req.ID, product.ErrNotFound)
	if err != nil {
		return subjects.Product{}, err
	}
	var category uuid.UUID
	if req.CategoryID != nil {
		if category, err = h.resolveCategory(ctx, *req.CategoryID); err != nil {
			return subjects.Product{}, err
		}
	}
	p, err := h.store.UpdateProduct(ctx, id, func(p *product.Product) ([]string, error) {
		changed, err := p.Patch(req, h.defaultLocale)
		if err == nil && req.CategoryID != nil && category != p.CategoryID {
			p.CategoryID, changed = category, append(changed, "category_id")
		}
		return changed, err
	})
	if err != nil {
		return subjects.Product{}, wireError(err)
	}
	h.invalidate(id)
	return p.Wire(nil, h.defaultLocale, true), nil
}

func (h *handlers) productDelete(ctx context.Context, req subjects.ProductIDRequest) (subjects.Empty, error) {
	id, err := parseID(req.ID, product.ErrNotFound)
	if err != nil {
		return subjects.Empty{}, err
	}
	if err := h.store.DeleteProduct(ctx, id); err != nil {
		return subjects.Empty{}, wireError(err)
	}
	h.invalidate(id)
	return subjects.Empty{}, nil
}

// Reviews. --------------------------------------------------------------------------------

func (h *handlers) reviewCreate(ctx context.Context, req subjects.ReviewCreateRequest) (subjects.Review, error) {
	claims, err := authn.MustClaims(ctx)
	if err != nil {
		return subjects.Review{}, err
	}
	user, err := uuid.Parse(claims.Subject)
	if err != nil {
		return subjects.Review{}, wireError(product.ErrNotPurchased) // a service token bought nothing
	}
	productID, err := parseID(req.ProductID, product.ErrNotFound)
	if err != nil {
		return subjects.Review{}, err
	}
	req, err = product.CheckReview(req)
	if err != nil {
		return subjects.Review{}, err
	}
	r := product.Review{ID: uuid.Must(uuid.NewV7()), ProductID: productID, UserID: user, Rating: req.Rating, Title: req.Title,
		Body: req.Body, AuthorName: req.AuthorName}
	if err := h.store.CreateReview(ctx, &r); err != nil {
		return subjects.Review{}, wireError(err)
	}
	h.invalidate(productID)
	return r.Wire(), nil
}

func (h *handlers) reviewList(ctx context.Context, req subjects.ReviewListRequest) (subjects.ReviewPage, error) {
	productID, err := parseID(req.ProductID, product.ErrNotFound)
	if err != nil {
		return subjects.ReviewPage{}, err
	}
	items, next, err := page.List(subjects.ListRequest{Limit: req.Limit, Cursor: req.Cursor}, "reviews/"+productID.String(),
		func(r page.Request) ([]product.Review, error) { return h.store.Reviews(ctx, productID, r) },
		func(rv product.Review) page.Key { return page.Key{At: rv.CreatedAt, ID: rv.ID} }, func(rv product.Review) subjects.Review { return rv.Wire() })
	return subjects.ReviewPage{Items: items, NextCursor: next}, wireError(err)
}

func (h *handlers) reviewModerate(ctx context.Context, req subjects.ReviewModerateRequest) (subjects.Review, error) {
	id, err := parseID(req.ID, product.ErrReviewNotFound)
	if err != nil {
		return subjects.Review{}, err
	}
	r, err := h.store.ModerateReview(ctx, id, req.Hidden)
	if err != nil {
		return subjects.Review{}, wireError(err)
	}
	h.invalidate(r.ProductID)
	return r.Wire(), nil
}

// wireError is the one mapping of domain errors to the wire. Anything it does not know is
// returned as is, and the transport masks it as a 500.
func wireError(err error) error {
	field := func(code int, slug, msg, field, fieldMsg string) error {
		return &subjects.Error{Code: code, Slug: slug, Message: msg, Fields: []subjects.FieldError{{Field: field, Message: fieldMsg}}}
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, product.ErrNotFound):
		return subjects.Errorf(http.StatusNotFound, "product_not_found", "product not found")
	case errors.Is(err, product.ErrCategoryNotFound):
		return subjects.Errorf(http.StatusNotFound, "category_not_found", "category not found")
	case errors.Is(err, product.ErrReviewNotFound):
		return subjects.Errorf(http.StatusNotFound, "review_not_found", "review not found")
	case errors.Is(err, product.ErrSKUTaken):
		return field(http.StatusConflict, "sku_taken", "a listed product has this SKU", "sku", "is taken")
	case errors.Is(err, product.ErrSlugTaken):
		return field(http.StatusConflict, "slug_taken", "a sibling category has this slug", "slug", "is taken")
	case errors.Is(err, product.ErrStale):
		return field(http.StatusConflict, "stale_version", "the product changed since that version; read it again", "version", "is not the current version")
	case errors.Is(err, product.ErrCycle):
		return field(http.StatusConflict, "category_cycle", "a category cannot move below itself", "parent_id", "is the category or below it")
	case errors.Is(err, product.ErrReviewed):
		return subjects.Errorf(http.StatusConflict, "already_reviewed", "you have reviewed this product already")
	case errors.Is(err, product.ErrNotPurchased):
		return subjects.Errorf(http.StatusForbidden, "not_purchased", "only customers who paid for the product can review it")
	}
	return err
}
