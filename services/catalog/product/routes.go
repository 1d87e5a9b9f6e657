package product

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/subjects"
)

// Routes routes every catalog event to what a follower of the catalog does with it: each
// product event (created, updated, price, stock, rating, deleted) to onProduct with the
// product's id as the event carries it, each category event to onCategory. The catalog's
// followers (its product documents, the Meilisearch indexer) take the same events the same
// way; a new kind of catalog event is added here once.
func Routes(onProduct func(ctx context.Context, tx pgx.Tx, productID string) error,
	onCategory func(ctx context.Context, tx pgx.Tx, ev subjects.CategoryChanged) error) []consumer.Route {
	changed := func(ctx context.Context, tx pgx.Tx, ev subjects.ProductChanged) error {
		return onProduct(ctx, tx, ev.ProductID)
	}
	return []consumer.Route{
		consumer.On(subjects.EvtProductCreated, changed),
		consumer.On(subjects.EvtProductUpdated, changed),
		consumer.On(subjects.EvtProductDeleted, changed),
		consumer.On(subjects.EvtStockChanged, changed),
		consumer.On(subjects.EvtRatingChanged, changed),
		consumer.On(subjects.EvtPriceChanged, func(ctx context.Context, tx pgx.Tx, ev subjects.PriceChanged) error {
			return onProduct(ctx, tx, ev.ProductID)
		}),
		consumer.On(subjects.EvtCategoryCreated, onCategory),
		consumer.On(subjects.EvtCategoryUpdated, onCategory),
	}
}
