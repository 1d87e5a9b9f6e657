package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/services/catalog/product"
	"github.com/souk/souk/subjects"
)

// DocumentsName is the durable consumer that keeps the products bucket: the documents edge
// sites mirror to serve browsing and search while cut off from the hub.
const DocumentsName = "catalog-documents"

// documents writes the products bucket from the catalog's own events: each product event
// puts the product's current views (or deletes its key once it is no longer listed), each
// category event puts the whole tree. An event names what changed, the row is the truth: the
// document is read from PostgreSQL while the product's row is locked, so when two instances
// handle two events of one product, the later put is of the later state.
type documents struct {
	js     jetstream.JetStream
	store  *Store
	locale string
	mu     sync.Mutex
	kv     jetstream.KeyValue
}

func (d *documents) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.kv == nil {
		kv, err := d.js.KeyValue(ctx, bus.BucketProducts)
		if err != nil {
			return nil, fmt.Errorf("products bucket: %w", err)
		}
		d.kv = kv
	}
	return d.kv, nil
}

// consumer is the durable consumer of every catalog event that changes a document.
func (d *documents) consumer() *consumer.Consumer {
	categories := func(ctx context.Context, _ pgx.Tx, _ subjects.CategoryChanged) error { return d.putTree(ctx) }
	return &consumer.Consumer{Name: DocumentsName, On: product.Routes(d.putProduct, categories)}
}

// putProduct writes product id's document, or deletes it when the product has no views (it
// was deleted). The row lock is held until the batch commits, after the put.
func (d *documents) putProduct(ctx context.Context, tx pgx.Tx, rawID string) error {
	id, err := consumer.ID("product_id", rawID)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `select 1 from catalog.products where id = $1 for update`, id); err != nil {
		return err
	}
	rows, err := tx.Query(ctx, `select locale, body from catalog.product_views where product_id = $1`, id)
	if err != nil {
		return err
	}
	doc := subjects.CatalogDocument{ID: id.String(), Views: map[string]json.RawMessage{}}
	for rows.Next() {
		var locale, body string
		if err := rows.Scan(&locale, &body); err != nil {
			rows.Close()
			return err
		}
		doc.Views[locale] = json.RawMessage(body)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	kv, err := d.bucket(ctx)
	if err != nil {
		return err
	}
	key := subjects.DocProductPrefix + doc.ID
	if len(doc.Views) == 0 {
		if err := kv.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("products bucket: delete %s: %w", key, err)
		}
		return nil
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return consumer.Permanent(err)
	}
	if _, err := kv.Put(ctx, key, body); err != nil {
		return fmt.Errorf("products bucket: put %s: %w", key, err)
	}
	return nil
}

// putTree writes the whole category tree, flat, in the staff form (with translations).
func (d *documents) putTree(ctx context.Context) error {
	cats, err := d.store.Categories(ctx)
	if err != nil {
		return err
	}
	tree := product.BuildTree(cats)
	doc := subjects.CategoryDocument{Items: make([]subjects.Category, 0, len(tree.ByPath))}
	for _, n := range tree.ByPath {
		doc.Items = append(doc.Items, n.Wire(nil, d.locale, true))
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return consumer.Permanent(err)
	}
	kv, err := d.bucket(ctx)
	if err != nil {
		return err
	}
	if _, err := kv.Put(ctx, subjects.DocCategories, body); err != nil {
		return fmt.Errorf("products bucket: put the tree: %w", err)
	}
	return nil
}
