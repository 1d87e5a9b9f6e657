package catalog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/page"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/services/catalog/product"
	"github.com/souk/souk/subjects"
)

// ratingChanged rebuilds product id's views and adds its rating_changed event, in tx,
// after a review change.
func (s *Store) ratingChanged(ctx context.Context, tx pgx.Tx, id uuid.UUID) error {
	var p product.Product
	if err := tx.QueryRow(ctx, `select id, sku, version from catalog.products where id = $1`, id).Scan(&p.ID, &p.SKU, &p.Version); err != nil {
		return err
	}
	if err := s.refreshViews(ctx, tx, id); err != nil {
		return err
	}
	return outbox.Add(ctx, tx, Schema, productEvent(subjects.EvtRatingChanged, &p, nil, nil))
}

// CreateReview stores r and adds its rating to the product's, in one transaction. Only a
// customer with a paid order of the product may review it (product.ErrNotPurchased), once
// (product.ErrReviewed); a deleted or unknown product is product.ErrNotFound.
func (s *Store) CreateReview(ctx context.Context, r *product.Review) error {
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var bought bool
		err := tx.QueryRow(ctx, `select exists(select 1 from catalog.purchases where user_id = $2 and product_id = $1)
			from catalog.products where id = $1 and deleted_at is null for share`, r.ProductID, r.UserID).Scan(&bought)
		if errors.Is(err, pgx.ErrNoRows) {
			return product.ErrNotFound
		}
		if err != nil {
			return err
		}
		if !bought {
			return product.ErrNotPurchased
		}
		err = tx.QueryRow(ctx, `insert into catalog.reviews (id, product_id, user_id, rating, title, body, author_name)
			values ($1, $2, $3, $4, $5, $6, $7) returning created_at`,
			r.ID, r.ProductID, r.UserID, r.Rating, r.Title, r.Body, r.AuthorName).Scan(&r.CreatedAt)
		if pg.Code(err) == pg.UniqueViolation {
			return product.ErrReviewed
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `update catalog.products set rating_sum = rating_sum + $2, rating_count = rating_count + 1
			where id = $1`, r.ProductID, r.Rating); err != nil {
			return err
		}
		return s.ratingChanged(ctx, tx, r.ProductID)
	})
	return reviewError("create review", err)
}

func reviewError(op string, err error) error {
	if err == nil || errors.Is(err, product.ErrNotFound) || errors.Is(err, product.ErrNotPurchased) || errors.Is(err, product.ErrReviewed) ||
		errors.Is(err, product.ErrReviewNotFound) {
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}

const reviewColumns = `id, product_id, user_id, rating, title, body, author_name, hidden, created_at`

func scanReview(row pgx.Row) (product.Review, error) {
	var r product.Review
	err := row.Scan(&r.ID, &r.ProductID, &r.UserID, &r.Rating, &r.Title, &r.Body, &r.AuthorName, &r.Hidden, &r.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, product.ErrReviewNotFound
	}
	return r, err
}

// ModerateReview hides or shows review id again, taking its rating out of the product's or
// putting it back, in one transaction. Setting the state it has changes nothing.
func (s *Store) ModerateReview(ctx context.Context, id uuid.UUID, hidden bool) (product.Review, error) {
	var out product.Review
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		r, err := scanReview(tx.QueryRow(ctx, `select `+reviewColumns+` from catalog.reviews where id = $1 for update`, id))
		if err != nil {
			return err
		}
		out = r
		if r.Hidden == hidden {
			return nil
		}
		sign := 1
		if hidden {
			sign = -1
		}
		if _, err := tx.Exec(ctx, `update catalog.reviews set hidden = $2, updated_at = now() where id = $1`, id, hidden); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `update catalog.products set rating_sum = rating_sum + $2, rating_count = rating_count + $3
			where id = $1`, r.ProductID, sign*r.Rating, sign); err != nil {
			return err
		}
		out.Hidden = hidden
		return s.ratingChanged(ctx, tx, r.ProductID)
	})
	return out, reviewError("moderate review", err)
}

// Reviews returns up to r.Limit+1 visible reviews of a listed product, newest first, after
// r.After: the caller cuts the page with page.Next. An unknown or deleted product is
// product.ErrNotFound.
func (s *Store) Reviews(ctx context.Context, productID uuid.UUID, r page.Request) ([]product.Review, error) {
	var listed bool
	if err := s.db.QueryRow(ctx, `select exists(select 1 from catalog.products where id = $1 and deleted_at is null)`, productID).Scan(&listed); err != nil {
		return nil, fmt.Errorf("reviews: %w", err)
	}
	if !listed {
		return nil, product.ErrNotFound
	}
	q := `select ` + reviewColumns + ` from catalog.reviews where product_id = $1 and not hidden`
	args := []any{productID, r.Limit + 1}
	if r.After != nil {
		q += ` and (created_at, id) < ($3, $4)`
		args = append(args, r.After.At, r.After.ID)
	}
	rows, err := s.db.Query(ctx, q+` order by created_at desc, id desc limit $2`, args...)
	if err != nil {
		return nil, fmt.Errorf("reviews: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (product.Review, error) { return scanReview(r) })
	if err != nil {
		return nil, fmt.Errorf("reviews: %w", err)
	}
	return out, nil
}

// RecordPurchase records, in tx, that user paid for products in order, unless the order was
// cancelled already (its events may arrive out of order).
func RecordPurchase(ctx context.Context, tx pgx.Tx, user, order uuid.UUID, products []uuid.UUID, paidAt time.Time) error {
	_, err := tx.Exec(ctx, `insert into catalog.purchases (user_id, product_id, order_id, paid_at)
		select $1, p, $2, $3 from unnest($4::uuid[]) p
		where not exists (select 1 from catalog.cancelled_orders where order_id = $2)
		on conflict do nothing`, user, order, paidAt, products)
	return err
}

// ForgetPurchase removes, in tx, the purchases of a cancelled order (a refunded customer has
// not bought the product) and remembers the cancellation. Reviews already written stay.
func ForgetPurchase(ctx context.Context, tx pgx.Tx, order uuid.UUID) error {
	b := &pgx.Batch{}
	b.Queue(`insert into catalog.cancelled_orders (order_id) values ($1) on conflict do nothing`, order)
	b.Queue(`delete from catalog.purchases where order_id = $1`, order)
	return tx.SendBatch(ctx, b).Close()
}

// productsChanged rebuilds the views of products and adds an event of kind about each, in
// tx, after their rows changed.
func (s *Store) productsChanged(ctx context.Context, tx pgx.Tx, kind subjects.Event[subjects.ProductChanged], products []product.Product, inStock *bool) error {
	ids := make([]uuid.UUID, len(products))
	events := make([]outbox.Event, len(products))
	for i := range products {
		ids[i] = products[i].ID
		events[i] = productEvent(kind, &products[i], nil, inStock)
	}
	if err := s.refreshViews(ctx, tx, ids...); err != nil {
		return err
	}
	return outbox.Add(ctx, tx, Schema, events...)
}

// ApplyStock records, in tx, a SKU's stock level from the inventory service unless a newer
// one is known, and flips in_stock of the listed products of that SKU when availability
// crossed zero, with a stock_changed event each (caches and the search index follow).
func (s *Store) ApplyStock(ctx context.Context, tx pgx.Tx, lvl subjects.StockLevel) error {
	// One statement, one round trip per event: an older level or a duplicate upserts no
	// row, and then flips no product.
	inStock := lvl.Available > 0
	rows, err := tx.Query(ctx, `with level as (
			insert into catalog.stock (sku, available, version) values ($1, $3, $4)
			on conflict (sku) do update set available = excluded.available, version = excluded.version, updated_at = now()
			where catalog.stock.version < excluded.version
			returning sku)
		update catalog.products p set in_stock = $2 from level
		where p.sku = level.sku and p.deleted_at is null and p.in_stock <> $2 returning p.id, p.sku, p.version`,
		lvl.SKU, inStock, lvl.Available, lvl.Version)
	if err != nil {
		return err
	}
	flipped, err := pgx.CollectRows(rows, scanProductRef)
	if err != nil || len(flipped) == 0 {
		return err
	}
	return s.productsChanged(ctx, tx, subjects.EvtStockChanged, flipped, &inStock)
}
