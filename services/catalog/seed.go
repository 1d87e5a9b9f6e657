package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/souk/souk/subjects"
)

// seedBatch is the products written per transaction by Seed, seedWriters the transactions
// at once.
const (
	seedBatch   = 500
	seedWriters = 2
)

// SeedResult says what Seed wrote.
type SeedResult struct {
	// Categories and Products count the rows created; what existed already is left alone.
	Categories int
	Products   int
}

// Seed loads the demo catalog of DemoCatalog(n): categories by path and products by SKU,
// creating only what is missing, so a second run writes nothing and a larger n adds the
// difference. Everything it creates goes through the outbox like any other write (the
// running shop's caches and search index follow). It writes straight to the catalog's
// schema in batches, for speed; it is the catalog's own code, so the schema stays private.
func Seed(ctx context.Context, db *pgxpool.Pool, n int, defaultLocale string) (SeedResult, error) {
	var res SeedResult
	if n < 0 {
		return res, errors.New("seed: the number of products must not be negative")
	}
	if err := Migrate(ctx, db); err != nil {
		return res, err
	}
	store := NewStore(db, defaultLocale, nil)
	if err := store.EnsureLocale(ctx, defaultLocale); err != nil {
		return res, err
	}
	cats, products := DemoCatalog(n)
	ids, created, err := seedCategories(ctx, db, cats)
	if err != nil {
		return res, err
	}
	res.Categories = created
	// Computing search documents is the work: two writers keep two cores busy. Their words,
	// attribute names and locales are written in sorted order, so they cannot deadlock.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(seedWriters)
	var mu sync.Mutex
	for start := 0; start < len(products); start += seedBatch {
		batch := products[start:min(start+seedBatch, len(products))]
		g.Go(func() error {
			k, err := store.seedProducts(gctx, batch, ids)
			mu.Lock()
			res.Products += k
			mu.Unlock()
			return err
		})
	}
	return res, g.Wait()
}

// seedCategories creates the missing categories, parents first, and returns every path's id.
func seedCategories(ctx context.Context, db *pgxpool.Pool, cats []SeedCategory) (map[string]uuid.UUID, int, error) {
	ids := make(map[string]uuid.UUID, len(cats))
	created := 0
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		for _, c := range cats {
			var parent *uuid.UUID
			if i := strings.LastIndexByte(c.Path, '/'); i >= 0 {
				p, ok := ids[c.Path[:i]]
				if !ok {
					return fmt.Errorf("seed: category %s comes before its parent", c.Path)
				}
				parent = &p
			}
			id := uuid.Must(uuid.NewV7())
			tag, err := tx.Exec(ctx, `insert into catalog.categories (id, parent_id, name, slug, translations) values ($1, $2, $3, $4, $5)
				on conflict do nothing`, id, parent, c.Name, c.Slug, c.Translations)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 1 {
				created++
				if err := categoryEvent(ctx, tx, subjects.EvtCategoryCreated.Kind, id); err != nil {
					return err
				}
			}
			err = tx.QueryRow(ctx, `select id from catalog.categories
				where coalesce(parent_id, '00000000-0000-0000-0000-000000000000') = coalesce($1, '00000000-0000-0000-0000-000000000000'::uuid) and slug = $2`,
				parent, c.Slug).Scan(&id)
			if err != nil {
				return err
			}
			ids[c.Path] = id
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("seed categories: %w", err)
	}
	return ids, created, nil
}

// seedRow is one product as the batch insert reads it from JSON.
type seedRow struct {
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

// seedProducts inserts the products of batch whose SKU no listed product has, with their
// words, attribute names, locales and product_created events, in one transaction.
func (s *Store) seedProducts(ctx context.Context, batch []subjects.ProductCreateRequest, categories map[string]uuid.UUID) (int, error) {
	rows := make([]seedRow, 0, len(batch))
	for _, req := range batch {
		p, err := NewProduct(req, s.defaultLocale)
		if err != nil {
			return 0, fmt.Errorf("seed: product %s: %w", req.SKU, err)
		}
		cat, ok := categories[req.CategoryID]
		if !ok {
			return 0, fmt.Errorf("seed: product %s: no category %s", req.SKU, req.CategoryID)
		}
		rows = append(rows, seedRow{ID: uuid.Must(uuid.NewV7()), SKU: p.SKU, Name: p.Name, Description: p.Description,
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
		return s.productsChanged(ctx, tx, subjects.EvtProductCreated.Kind, created, nil)
	})
	if err != nil {
		return 0, fmt.Errorf("seed products: %w", err)
	}
	return inserted, nil
}
