package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/services/catalog/product"
	"github.com/souk/souk/subjects"
)

// importBatch is the products written per transaction by Import, importWriters the
// transactions at once.
const (
	importBatch   = 500
	importWriters = 2
)

// ImportResult says what Import wrote.
type ImportResult struct {
	// Categories and Products count the rows created; what existed already is left alone.
	Categories int
	Products   int
}

// Import loads categories and products in bulk (`souk seed` loads the demo catalog of
// internal/demodata so), creating only what is missing: categories by path, products by SKU,
// so a second run writes nothing and a longer list adds the difference. Categories come
// parents first, each naming its parent by path in ParentID ("" at the top); products name
// their category by path in CategoryID, and are checked as a create request is. Everything
// it creates goes through the outbox like any other write (the running shop's caches and
// search index follow). It migrates the schema first, then writes straight to it in batches,
// for speed; it is the catalog's own code, so the schema stays private.
func Import(ctx context.Context, db *pgxpool.Pool, defaultLocale string, cats []subjects.CategoryCreateRequest,
	products []subjects.ProductCreateRequest) (ImportResult, error) {
	var res ImportResult
	svc, err := Service(Config{DefaultLocale: defaultLocale}, kit.Deps{DB: db})
	if err != nil {
		return res, err
	}
	if err := kit.Migrate(ctx, db, svc); err != nil {
		return res, err
	}
	store := NewStore(db, defaultLocale)
	if err := store.EnsureLocale(ctx, defaultLocale); err != nil {
		return res, err
	}
	ids, created, err := importCategories(ctx, db, cats)
	if err != nil {
		return res, err
	}
	res.Categories = created
	// Computing search documents is the work: two writers keep two cores busy. Their words,
	// attribute names and locales are written in sorted order, so they cannot deadlock.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(importWriters)
	var mu sync.Mutex
	for start := 0; start < len(products); start += importBatch {
		batch := products[start:min(start+importBatch, len(products))]
		g.Go(func() error {
			k, err := store.importProducts(gctx, batch, ids)
			mu.Lock()
			res.Products += k
			mu.Unlock()
			return err
		})
	}
	return res, g.Wait()
}

// importCategories creates the missing categories, parents first, and returns every path's
// id.
func importCategories(ctx context.Context, db *pgxpool.Pool, cats []subjects.CategoryCreateRequest) (map[string]uuid.UUID, int, error) {
	ids := make(map[string]uuid.UUID, len(cats))
	created := 0
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		for _, c := range cats {
			var parent *uuid.UUID
			path := c.Slug
			if c.ParentID != "" {
				p, ok := ids[c.ParentID]
				if !ok {
					return fmt.Errorf("import: category %s/%s comes before its parent", c.ParentID, c.Slug)
				}
				parent, path = &p, c.ParentID+"/"+c.Slug
			}
			id := uuid.Must(uuid.NewV7())
			tag, err := tx.Exec(ctx, `insert into catalog.categories (id, parent_id, name, slug, translations) values ($1, $2, $3, $4, $5)
				on conflict do nothing`, id, parent, c.Name, c.Slug, c.Translations)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 1 {
				created++
				if err := categoryEvent(ctx, tx, subjects.EvtCategoryCreated, id); err != nil {
					return err
				}
			}
			err = tx.QueryRow(ctx, `select id from catalog.categories
				where coalesce(parent_id, '00000000-0000-0000-0000-000000000000') = coalesce($1, '00000000-0000-0000-0000-000000000000'::uuid) and slug = $2`,
				parent, c.Slug).Scan(&id)
			if err != nil {
				return err
			}
			ids[path] = id
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("import categories: %w", err)
	}
	return ids, created, nil
}

// importRow is one product as the batch insert reads it from JSON.
type importRow struct {
	ID           uuid.UUID                       `json:"id"`
	SKU          string                          `json:"sku"`
	Name         string                          `json:"name"`
	Description  string                          `json:"description"`
	Amount       int64                           `json:"amount"`
	Currency     string                          `json:"currency"`
	CategoryID   uuid.UUID                       `json:"category_id"`
	Attributes   map[string]string               `json:"attributes"`
	Images       []string                        `json:"images"`
	Translations map[string]subjects.ProductText `json:"translations"`
}

// importProducts inserts the products of batch whose SKU no listed product has, with their
// words, attribute names, locales and product_created events, in one transaction.
func (s *Store) importProducts(ctx context.Context, batch []subjects.ProductCreateRequest, categories map[string]uuid.UUID) (int, error) {
	rows := make([]importRow, 0, len(batch))
	for _, req := range batch {
		p, err := product.New(req, s.defaultLocale)
		if err != nil {
			return 0, fmt.Errorf("import: product %s: %w", req.SKU, err)
		}
		cat, ok := categories[req.CategoryID]
		if !ok {
			return 0, fmt.Errorf("import: product %s: no category %s", req.SKU, req.CategoryID)
		}
		rows = append(rows, importRow{ID: uuid.Must(uuid.NewV7()), SKU: p.SKU, Name: p.Name, Description: p.Description,
			Amount: p.Price.Amount, Currency: p.Price.Currency, CategoryID: cat, Attributes: p.Attributes,
			Images: p.Images, Translations: p.Translations})
	}
	doc, err := json.Marshal(rows)
	if err != nil {
		return 0, err
	}
	inserted := 0
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		// Each category's words are computed once, not per product; only SKUs no listed
		// product has get their search document computed; their words, attribute names and
		// locales are recorded in the same statement, each set sorted (see writeProductTerms).
		res, err := tx.Query(ctx, `with words as (select id, catalog.category_text(id) as w from catalog.categories),
			ins as (insert into catalog.products
				(id, sku, name, description, price_amount, currency, category_id, attributes, images, translations, in_stock, search)
			select u.id, u.sku, u.name, u.description, u.amount, u.currency, u.category_id, u.attributes,
				array(select jsonb_array_elements_text(u.images)), u.translations,
				coalesce((select available > 0 from catalog.stock st where st.sku = u.sku), false),
				catalog.product_document($2, u.name, u.description, u.translations, u.attributes, u.sku, words.w)
			from jsonb_to_recordset($1::jsonb) as u(id uuid, sku text, name text, description text, amount bigint, currency text,
				category_id uuid, attributes jsonb, images jsonb, translations jsonb)
			join words on words.id = u.category_id
			where not exists (select 1 from catalog.products p where lower(p.sku) = lower(u.sku) and p.deleted_at is null)
			on conflict do nothing
			returning id, sku, version, search, attributes, translations),
			lex as (select catalog.add_words(catalog.tsvector_agg(search)) from ins),
			names as (insert into catalog.attribute_names (name)
				select distinct k from ins, jsonb_object_keys(ins.attributes) k order by k on conflict do nothing),
			locs as (insert into catalog.locales (locale)
				select distinct k from ins, jsonb_object_keys(ins.translations) k order by k on conflict do nothing)
			select id, sku, version from ins, lex`, doc, s.defaultLocale)
		if err != nil {
			return err
		}
		created, err := pgx.CollectRows(res, scanProductRef)
		if err != nil {
			return err
		}
		inserted = len(created)
		return s.productsChanged(ctx, tx, subjects.EvtProductCreated, created, nil)
	})
	if err != nil {
		return 0, fmt.Errorf("import products: %w", err)
	}
	return inserted, nil
}
