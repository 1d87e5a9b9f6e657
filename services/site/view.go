package site

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/platform/background"
	"github.com/souk/souk/subjects"
)

// view is the site's copy of the catalog, built from its mirror of the hub's products bucket:
// every listed product's views by locale and the category tree, in memory, kept current by a
// watch. The mirror is a stream of the site's own domain, so the view loads and serves with
// the link to the hub cut; changes made at the hub arrive when it returns.
type view struct {
	locale, currency string

	mu       sync.RWMutex
	products map[string]*entry
	tree     *tree
}

// entry is one product: its replies by locale, its default-locale reply decoded (for
// filters, facets and sorts) and the lower-case text a query matches against.
type entry struct {
	views map[string]json.RawMessage
	p     subjects.Product
	text  string
}

func newView(locale, currency string) *view {
	return &view{locale: locale, currency: currency, products: map[string]*entry{}, tree: buildTree(nil)}
}

// run watches the mirror until ctx ends; a watch that ends otherwise is a failure, and the
// kit restarts the loop (the view keeps serving what it holds meanwhile).
func (v *view) run(ctx context.Context, js jetstream.JetStream) error {
	kv, err := js.KeyValue(ctx, bus.BucketProducts)
	if err != nil {
		return fmt.Errorf("products mirror: %w", err)
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch the products mirror: %w", err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("products mirror: the watch ended")
			}
			if e == nil {
				background.ReportUp(ctx)
				continue // the initial values are in
			}
			v.apply(e)
		}
	}
}

// apply takes one change of the mirror into the view; a document it cannot read is skipped
// (the catalog wrote it, a newer one replaces it).
func (v *view) apply(e jetstream.KeyValueEntry) {
	key := e.Key()
	deleted := e.Operation() != jetstream.KeyValuePut
	if key == subjects.DocCategories {
		var doc subjects.CategoryDocument
		if deleted || json.Unmarshal(e.Value(), &doc) != nil {
			return
		}
		t := buildTree(doc.Items)
		v.mu.Lock()
		v.tree = t
		v.mu.Unlock()
		return
	}
	id, ok := strings.CutPrefix(key, subjects.DocProductPrefix)
	if !ok {
		return
	}
	if deleted {
		v.mu.Lock()
		delete(v.products, id)
		v.mu.Unlock()
		return
	}
	en, err := v.entryOf(e.Value())
	if err != nil {
		return
	}
	v.mu.Lock()
	v.products[id] = en
	v.mu.Unlock()
}

func (v *view) entryOf(data []byte) (*entry, error) {
	var doc subjects.CatalogDocument
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	def, ok := doc.Views[v.locale]
	if !ok {
		return nil, errors.New("no view in the default locale")
	}
	en := &entry{views: doc.Views}
	if err := json.Unmarshal(def, &en.p); err != nil {
		return nil, err
	}
	var text strings.Builder
	text.WriteString(strings.ToLower(en.p.SKU))
	for _, raw := range doc.Views {
		var p subjects.Product
		if json.Unmarshal(raw, &p) == nil {
			text.WriteString(" " + strings.ToLower(p.Name) + " " + strings.ToLower(p.Description))
		}
	}
	en.text = text.String()
	return en, nil
}

// productGet answers the catalog's product read: the reply in the caller's language.
func (v *view) productGet(ctx context.Context, data []byte) ([]byte, error) {
	var req subjects.ProductIDRequest
	if err := json.Unmarshal(data, &req); err != nil {
		return nil, subjects.BadRequest("", "malformed request body")
	}
	v.mu.RLock()
	en := v.products[strings.ToLower(strings.TrimSpace(req.ID))]
	v.mu.RUnlock()
	if en == nil {
		return nil, subjects.Errorf(404, "not_found", "product not found")
	}
	return en.views[pickLocale(subjects.MetaFrom(ctx).AcceptLanguage, v.locale, en.views)], nil
}

// categoryList answers the catalog's category tree, named in the caller's language.
func (v *view) categoryList(ctx context.Context, _ subjects.Empty) (subjects.CategoryTree, error) {
	v.mu.RLock()
	t := v.tree
	v.mu.RUnlock()
	return subjects.CategoryTree{Items: t.wire(t.roots, subjects.MetaFrom(ctx).AcceptLanguage, v.locale)}, nil
}

// pickLocale is the locale among views that the caller's Accept-Language asks for first
// (exactly, or by its base language), else def.
func pickLocale[T any](acceptLanguage, def string, views map[string]T) string {
	for _, part := range strings.Split(acceptLanguage, ",") {
		tag := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
		if tag == "" || tag == "*" {
			continue
		}
		if _, ok := views[tag]; ok {
			return tag
		}
		base := strings.SplitN(tag, "-", 2)[0]
		if base == strings.SplitN(def, "-", 2)[0] {
			return def
		}
		for l := range views {
			if strings.SplitN(l, "-", 2)[0] == base {
				return l
			}
		}
	}
	return def
}
