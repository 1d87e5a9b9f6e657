package catalog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/services/catalog/product"
	"github.com/souk/souk/subjects"
)

// Store is the catalog schema. Every write that others must learn of adds its events to the
// outbox in its own transaction (the kit wakes the relay once the request is done).
type Store struct {
	db            *pgxpool.Pool
	defaultLocale string
}

// NewStore returns a Store over db whose products' own text is in defaultLocale.
func NewStore(db *pgxpool.Pool, defaultLocale string) *Store {
	return &Store{db: db, defaultLocale: defaultLocale}
}

const productColumns = `id, seq, sku, name, description, price_amount, currency, category_id, attributes, images,
	translations, rating_sum, rating_count, in_stock, version, created_at, updated_at, deleted_at`

func scanProduct(row pgx.Row) (product.Product, error) {
	var p product.Product
	err := row.Scan(&p.ID, &p.Seq, &p.SKU, &p.Name, &p.Description, &p.Price.Amount, &p.Price.Currency, &p.CategoryID,
		&p.Attributes, &p.Images, &p.Translations, &p.RatingSum, &p.RatingCount, &p.InStock, &p.Version,
		&p.CreatedAt, &p.UpdatedAt, &p.DeletedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return product.Product{}, product.ErrNotFound
	}
	return p, err
}

// scanProductRef reads a row of (id, sku, version): what an event about a product needs.
func scanProductRef(r pgx.CollectableRow) (product.Product, error) {
	var p product.Product
	err := r.Scan(&p.ID, &p.SKU, &p.Version)
	return p, err
}

// productEvent is a ProductChanged of kind about p; changed names the fields of an update,
// inStock is the new availability of a stock change.
func productEvent(kind subjects.Event[subjects.ProductChanged], p *product.Product, changed []string, inStock *bool) outbox.Event {
	id := outbox.NewID()
	return outbox.Event{ID: id, Subject: kind.Subject(p.ID.String()), Payload: subjects.ProductChanged{
		EventID: id.String(), OccurredAt: time.Now().UTC(), ProductID: p.ID.String(), SKU: p.SKU, Version: p.Version,
		Changed: changed, InStock: inStock,
	}}
}

// Products returns the listed products among ids, in no particular order.
func (s *Store) Products(ctx context.Context, ids []uuid.UUID) ([]product.Product, error) {
	rows, err := s.db.Query(ctx, `select `+productColumns+` from catalog.products where id = any($1) and deleted_at is null`, ids)
	if err != nil {
		return nil, fmt.Errorf("products: %w", err)
	}
	defer rows.Close()
	out := make([]product.Product, 0, len(ids))
	for rows.Next() {
		p, err := scanProduct(rows)
		if err != nil {
			return nil, fmt.Errorf("products: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// refreshViews rebuilds, in tx, the shoppers' replies of products ids (the product_views
// read model) after their rows changed.
func (s *Store) refreshViews(ctx context.Context, tx pgx.Tx, ids ...uuid.UUID) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `select catalog.refresh_views($1, $2)`, ids, s.defaultLocale)
	return err
}

// View returns the shoppers' reply of product id in locale: one row by primary key, the
// read of a product that misses the cache when the caller wants the default language. ok is
// false when there is none (an unknown or deleted product, or no such translation).
func (s *Store) View(ctx context.Context, id uuid.UUID, locale string) (body []byte, ok bool, err error) {
	err = s.db.QueryRow(ctx, `select body from catalog.product_views where product_id = $1 and locale = $2`, id, locale).Scan(&body)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("product view: %w", err)
	}
	return body, true, nil
}

// Views returns the shoppers' replies of the listed products among ids, by product and
// locale: ready JSON, one indexed read. A product without views is unknown or deleted.
func (s *Store) Views(ctx context.Context, ids ...uuid.UUID) (map[uuid.UUID]map[string][]byte, error) {
	rows, err := s.db.Query(ctx, `select product_id, locale, body from catalog.product_views where product_id = any($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("product views: %w", err)
	}
	defer rows.Close()
	out := make(map[uuid.UUID]map[string][]byte, len(ids))
	for rows.Next() {
		var id uuid.UUID
		var locale string
		var body []byte
		if err := rows.Scan(&id, &locale, &body); err != nil {
			return nil, fmt.Errorf("product views: %w", err)
		}
		if out[id] == nil {
			out[id] = make(map[string][]byte, 3)
		}
		out[id][locale] = body
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("product views: %w", err)
	}
	return out, nil
}

// writeProductTerms records the words (from its search document), attribute names and
// locales of product p, each set sorted so that concurrent writers take their locks in one
// order and cannot deadlock.
func writeProductTerms(ctx context.Context, tx pgx.Tx, p *product.Product) error {
	b := &pgx.Batch{}
	b.Queue(`select catalog.add_words(search) from catalog.products where id = $1`, p.ID)
	if names := product.SortedKeys(p.Attributes); len(names) > 0 {
		b.Queue(`insert into catalog.attribute_names (name) select unnest($1::text[]) on conflict do nothing`, names)
	}
	if locales := product.SortedKeys(p.Translations); len(locales) > 0 {
		b.Queue(`insert into catalog.locales (locale) select unnest($1::text[]) on conflict do nothing`, locales)
	}
	return tx.SendBatch(ctx, b).Close()
}

// CreateProduct inserts p (its ID set by the caller) with its product_created event. A SKU a
// listed product holds is product.ErrSKUTaken; an unknown category product.ErrCategoryNotFound.
func (s *Store) CreateProduct(ctx context.Context, p *product.Product) error {
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `insert into catalog.products
			(id, sku, name, description, price_amount, currency, category_id, attributes, images, translations, in_stock, search)
			values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,
				coalesce((select available > 0 from catalog.stock where sku = $2), false),
				catalog.product_document($11, $3, $4, $10, $8, $2, catalog.category_text($7)))
			returning seq, in_stock, version, created_at, updated_at`,
			p.ID, p.SKU, p.Name, p.Description, p.Price.Amount, p.Price.Currency, p.CategoryID, p.Attributes, p.Images,
			p.Translations, s.defaultLocale).Scan(&p.Seq, &p.InStock, &p.Version, &p.CreatedAt, &p.UpdatedAt)
		if err != nil {
			return err
		}
		if err := writeProductTerms(ctx, tx, p); err != nil {
			return err
		}
		if err := s.refreshViews(ctx, tx, p.ID); err != nil {
			return err
		}
		return outbox.Add(ctx, tx, Schema, productEvent(subjects.EvtProductCreated, p, nil, nil))
	})
	return productWriteError("create product", err)
}

func productWriteError(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, product.ErrNotFound), errors.Is(err, product.ErrStale), errors.Is(err, product.ErrCategoryNotFound):
		return err
	case pg.Code(err) == pg.UniqueViolation:
		return product.ErrSKUTaken
	case pg.Code(err) == pg.ForeignKeyViolation:
		return product.ErrCategoryNotFound
	}
	var se *subjects.Error
	if errors.As(err, &se) {
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}

// UpdateProduct runs fn on the listed product id under its row lock; fn returns the names of
// the fields it changed. When some changed, the product is written back with a new version,
// its search document, and the product_updated event (and price_changed when the price
// did), all in one transaction. fn's error aborts without writing.
func (s *Store) UpdateProduct(ctx context.Context, id uuid.UUID, fn func(*product.Product) ([]string, error)) (product.Product, error) {
	var out product.Product
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		p, err := scanProduct(tx.QueryRow(ctx, `select `+productColumns+` from catalog.products
			where id = $1 and deleted_at is null for update`, id))
		if err != nil {
			return err
		}
		old := p.Price
		changed, err := fn(&p)
		if err != nil || len(changed) == 0 {
			out = p
			return err
		}
		err = tx.QueryRow(ctx, `update catalog.products set name = $2, description = $3, price_amount = $4, currency = $5,
				category_id = $6, attributes = $7, images = $8, translations = $9, version = version + 1, updated_at = now(),
				search = catalog.product_document($10, $2, $3, $9, $7, sku, catalog.category_text($6))
			where id = $1 returning version, updated_at`,
			p.ID, p.Name, p.Description, p.Price.Amount, p.Price.Currency, p.CategoryID, p.Attributes, p.Images,
			p.Translations, s.defaultLocale).Scan(&p.Version, &p.UpdatedAt)
		if err != nil {
			return err
		}
		if err := writeProductTerms(ctx, tx, &p); err != nil {
			return err
		}
		if err := s.refreshViews(ctx, tx, p.ID); err != nil {
			return err
		}
		events := []outbox.Event{productEvent(subjects.EvtProductUpdated, &p, changed, nil)}
		if slices.Contains(changed, "price") {
			evID := outbox.NewID()
			events = append(events, outbox.Event{ID: evID, Subject: subjects.EvtPriceChanged.Subject(p.ID.String()),
				Payload: subjects.PriceChanged{EventID: evID.String(), OccurredAt: time.Now().UTC(), ProductID: p.ID.String(),
					SKU: p.SKU, Version: p.Version, Old: old, New: p.Price}})
		}
		out = p
		return outbox.Add(ctx, tx, Schema, events...)
	})
	return out, productWriteError("update product", err)
}

// DeleteProduct stops listing a product, with its product_deleted event. Deleting a deleted
// product changes nothing and is no error; an unknown id is product.ErrNotFound.
func (s *Store) DeleteProduct(ctx context.Context, id uuid.UUID) error {
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var p product.Product
		err := tx.QueryRow(ctx, `update catalog.products set deleted_at = now(), version = version + 1, updated_at = now()
			where id = $1 and deleted_at is null returning id, sku, version`, id).Scan(&p.ID, &p.SKU, &p.Version)
		if errors.Is(err, pgx.ErrNoRows) {
			var exists bool
			if err := tx.QueryRow(ctx, `select exists(select 1 from catalog.products where id = $1)`, id).Scan(&exists); err != nil {
				return err
			}
			if !exists {
				return product.ErrNotFound
			}
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.refreshViews(ctx, tx, p.ID); err != nil {
			return err
		}
		return outbox.Add(ctx, tx, Schema, productEvent(subjects.EvtProductDeleted, &p, nil, nil))
	})
	return productWriteError("delete product", err)
}

// AttributeNames returns the names of the attributes in use.
func (s *Store) AttributeNames(ctx context.Context) ([]string, error) {
	rows, err := s.db.Query(ctx, `select name from catalog.attribute_names order by name`)
	if err != nil {
		return nil, fmt.Errorf("attribute names: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("attribute names: %w", err)
	}
	return names, nil
}

// HasAttributeName reports whether a product has (or had) attribute name.
func (s *Store) HasAttributeName(ctx context.Context, name string) (bool, error) {
	var ok bool
	err := s.db.QueryRow(ctx, `select exists (select 1 from catalog.attribute_names where name = $1)`, name).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("attribute name: %w", err)
	}
	return ok, nil
}

// Snapshot returns the database's snapshot now: which transactions have committed.
func (s *Store) Snapshot(ctx context.Context) (pg.Snapshot, error) {
	var text string
	if err := s.db.QueryRow(ctx, pg.SnapshotQuery).Scan(&text); err != nil {
		return pg.Snapshot{}, err
	}
	return pg.ParseSnapshot(text)
}

// EnsureLocale records that the catalog's default text is in locale, so searches stem
// queries in its language.
func (s *Store) EnsureLocale(ctx context.Context, locale string) error {
	_, err := s.db.Exec(ctx, `insert into catalog.locales (locale) values ($1) on conflict do nothing`, locale)
	return err
}
