package search

// The Meilisearch indexer: the kit consumer that queues what the CATALOG stream's events name,
// the loop that writes the queue to the index (see Indexer), and Reindex, which rebuilds the
// index from PostgreSQL.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/meilisearch/meilisearch-go"
	"github.com/rs/zerolog"

	"github.com/souk/souk/platform/background"
	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/services/catalog/product"
	"github.com/souk/souk/subjects"
)

// Source is what the indexer reads of the catalog: PostgreSQL, the record (the service's
// Store).
type Source interface {
	// Products returns the listed products among ids, in no particular order.
	Products(ctx context.Context, ids []uuid.UUID) ([]product.Product, error)
	// Categories returns every category.
	Categories(ctx context.Context) ([]product.Category, error)
}

// Indexer keeps the index in step with PostgreSQL, in two halves joined by a queue table,
// catalog.search_pending (one row per product to write, the catalog's migration 0002):
//
//   - the durable consumer IndexerName (platform/consumer, declared by Consumer) takes every
//     catalog event and queues the product it names, or for a category event the listed
//     products of the category's subtree, in the transaction that records the event as
//     processed. An event that does not decode, or names no entity, is dead-lettered;
//   - the loop (Round, kicked after every consumer batch) takes up to syncChunk queued
//     products under a lease, reads their current state and writes it (listed ones upserted,
//     the others deleted), then removes them from the queue unless an event queued them
//     again meanwhile. Meilisearch being away only delays the loop, which retries with a
//     growing pause: no event is retried or dead-lettered for it.
//
// Events carry ids, not snapshots, so events applied twice or out of order still converge.
// Several instances share the work: the leases split the queue, and a chunk whose products
// changed while it was written is read and written again (see syncChunk), so a slower
// instance never leaves an older state behind.
//
// A fresh index (a new one, or one deleted by an operator to rebuild it) is filled from
// PostgreSQL: the first round that finds it so queues every listed product. Reindex rebuilds
// straight from PostgreSQL without the queue.
type Indexer struct {
	cfg    MeiliConfig
	client meilisearch.ServiceManager
	index  meilisearch.IndexManager
	db     *pgxpool.Pool
	src    Source
	log    zerolog.Logger
	wake   *background.Kicker
	// ensured and failures are the loop's own (one goroutine).
	ensured  bool
	failures int
}

const (
	// IndexerName is the durable consumer of the CATALOG stream that feeds the index.
	IndexerName = "catalog-search-index"
	// indexBatch is the most events the consumer queues in one transaction.
	indexBatch = 256
	// indexEvery is how often the loop looks at the queue when nothing kicks it.
	indexEvery = 10 * time.Second
)

// NewIndexer returns the indexer of cfg over the catalog's pool (its queue) and src (its
// products). It does no I/O: the loop creates the index.
func NewIndexer(cfg MeiliConfig, db *pgxpool.Pool, src Source, log zerolog.Logger) (*Indexer, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	client := cfg.client()
	return &Indexer{cfg: cfg, client: client, index: client.Index(cfg.Index), db: db, src: src, wake: background.NewKicker(),
		log: log.With().Str("indexer", IndexerName).Str("index", cfg.Index).Logger()}, nil
}

// Consumer is the durable consumer that queues the products the catalog's events name. Its
// batches kick the loop.
func (ix *Indexer) Consumer() *consumer.Consumer {
	categories := func(ctx context.Context, tx pgx.Tx, ev subjects.CategoryChanged) error {
		id, err := consumer.ID("category_id", ev.CategoryID)
		if err != nil {
			return err
		}
		return queue(ctx, tx, `with recursive down as (
				select id from catalog.categories where id = $1
				union all
				select c.id from catalog.categories c join down on c.parent_id = down.id)
			select p.id from catalog.products p join down on p.category_id = down.id where p.deleted_at is null`, id)
	}
	return &consumer.Consumer{Name: IndexerName, Batch: indexBatch, AfterCommit: func([]consumer.Msg) { ix.wake.Kick() },
		On: product.Routes(ix.queueProduct, categories)}
}

// queueProduct queues product id; an event without a readable id is a poison message.
func (ix *Indexer) queueProduct(ctx context.Context, tx pgx.Tx, productID string) error {
	id, err := consumer.ID("product_id", productID)
	if err != nil {
		return err
	}
	return queue(ctx, tx, `select $1::uuid`, id)
}

// queue adds the products that query (with args) selects to the queue; one queued already
// gets a new generation and loses its lease, so it is written again after this change.
func queue(ctx context.Context, tx pgx.Tx, query string, args ...any) error {
	_, err := tx.Exec(ctx, `insert into catalog.search_pending (product_id) `+query+`
		on conflict (product_id) do update set gen = excluded.gen, leased_until = '-infinity'`, args...)
	if err != nil {
		return fmt.Errorf("queue for the search index: %w", err)
	}
	return nil
}

// Loop is the loop that writes the queue to the index, kicked by the consumer.
func (ix *Indexer) Loop() kit.Loop {
	return kit.Loop{Name: "search indexer", Round: ix.Round, Every: indexEvery, Wake: ix.wake}
}

// Round makes sure the index exists, then writes one chunk of the queue; it reports more
// when a full chunk was written (or after a failure and its pause: the work is still there).
func (ix *Indexer) Round(ctx context.Context) (more bool) {
	n, err := ix.round(ctx)
	if err == nil {
		ix.failures = 0
		return n == syncChunk
	}
	if ctx.Err() != nil {
		return false
	}
	ix.failures++
	ix.ensured = false // the index may be gone: check it again
	pause := background.Doubling(ix.failures, 250*time.Millisecond, 30*time.Second)
	ix.log.Warn().Err(err).Dur("retry_in", pause).Msg("meilisearch indexer: failed; retrying")
	var never *background.Kicker // a nil Kicker waits the pause, or ctx
	never.Wait(ctx, pause)
	return ctx.Err() == nil
}

// round writes up to syncChunk queued products and returns how many it took.
func (ix *Indexer) round(ctx context.Context) (int, error) {
	if !ix.ensured {
		if err := ix.start(ctx); err != nil {
			return 0, fmt.Errorf("start: %w", err)
		}
		ix.ensured = true
	}
	ids, gens, err := ix.claim(ctx)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	if err := ix.sync(ctx, ids); err != nil {
		return 0, errors.Join(fmt.Errorf("write %d products: %w", len(ids), err), ix.settle(ctx, ids, gens, false))
	}
	return len(ids), ix.settle(ctx, ids, gens, true)
}

// start makes sure the index and its settings exist, and queues every listed product when
// the index is fresh.
func (ix *Indexer) start(ctx context.Context) error {
	fresh, err := ix.ensureIndex(ctx)
	if err != nil || !fresh {
		return err
	}
	ix.log.Info().Msg("meilisearch indexer: a fresh index; queueing every listed product")
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	return pgx.BeginFunc(ctx, ix.db, func(tx pgx.Tx) error {
		return queue(ctx, tx, `select id from catalog.products where deleted_at is null`)
	})
}

// lease is how long a claimed chunk stays the claimer's: longer than the slowest write (every
// round of syncChunk waiting its TaskTimeout). A claimer that died leaves it to the others
// after that.
func (ix *Indexer) lease() time.Duration { return syncRounds * (ix.cfg.TaskTimeout + 2*storeTimeout) }

// claim leases up to syncChunk queued products, the longest queued first, and returns them
// with their generations.
func (ix *Indexer) claim(ctx context.Context) ([]uuid.UUID, []int64, error) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	rows, err := ix.db.Query(ctx, `update catalog.search_pending set leased_until = now() + $2::interval
		where product_id in (select product_id from catalog.search_pending where leased_until < now()
			order by gen limit $1 for update skip locked)
		returning product_id, gen`, syncChunk, ix.lease())
	if err != nil {
		return nil, nil, fmt.Errorf("claim queued products: %w", err)
	}
	defer rows.Close()
	var ids []uuid.UUID
	var gens []int64
	for rows.Next() {
		var id uuid.UUID
		var gen int64
		if err := rows.Scan(&id, &gen); err != nil {
			return nil, nil, fmt.Errorf("claim queued products: %w", err)
		}
		ids, gens = append(ids, id), append(gens, gen)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("claim queued products: %w", err)
	}
	return ids, gens, nil
}

// settle removes written products from the queue (those of the generation claimed: one
// queued again meanwhile stays), or hands unwritten ones back to whoever comes next.
func (ix *Indexer) settle(ctx context.Context, ids []uuid.UUID, gens []int64, written bool) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	q := `update catalog.search_pending p set leased_until = '-infinity'`
	if written {
		q = `delete from catalog.search_pending p`
	}
	_, err := ix.db.Exec(ctx, q+` from unnest($1::uuid[], $2::bigint[]) c(id, gen) where p.product_id = c.id and p.gen = c.gen`, ids, gens)
	if err != nil {
		return fmt.Errorf("settle queued products: %w", err)
	}
	return nil
}

// listedAfter returns the ids of up to limit listed products with a seq above after, in seq
// order, and the last one's seq.
func (ix *Indexer) listedAfter(ctx context.Context, after int64, limit int) ([]uuid.UUID, int64, error) {
	rows, err := ix.db.Query(ctx, `select id, seq from catalog.products where seq > $1 and deleted_at is null order by seq limit $2`, after, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("listed products: %w", err)
	}
	defer rows.Close()
	var ids []uuid.UUID
	last := after
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id, &last); err != nil {
			return nil, 0, fmt.Errorf("listed products: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, last, rows.Err()
}

// currentTree reads the category tree. The indexer reads it for every chunk rather than keep
// one: another instance may have applied a category change that this one has not seen.
func (ix *Indexer) currentTree(ctx context.Context) (*product.Tree, error) {
	cats, err := ix.src.Categories(ctx)
	if err != nil {
		return nil, err
	}
	return product.BuildTree(cats), nil
}

// sync writes the current state of products ids to the index, syncChunk at a time.
func (ix *Indexer) sync(ctx context.Context, ids []uuid.UUID) error {
	ids = slices.Clone(ids)
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	ids = slices.Compact(ids)
	for len(ids) > 0 {
		n := min(len(ids), syncChunk)
		if err := ix.syncChunk(ctx, ids[:n]); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// syncChunk reads ids, writes them, and reads them again: a product that changed meanwhile
// may have been written by another instance before this write, which would then have put an
// older state over it, so it is written again (at most syncRounds times, then the error
// hands the batch back for later). A product that did not change cannot be stale: whoever
// changes it later publishes an event, read after the change.
func (ix *Indexer) syncChunk(ctx context.Context, ids []uuid.UUID) error {
	want, err := ix.read(ctx, ids)
	if err != nil {
		return err
	}
	for round := 1; ; round++ {
		if err := ix.write(ctx, want); err != nil {
			return err
		}
		now, err := ix.read(ctx, slices.Collect(maps.Keys(want)))
		if err != nil {
			return err
		}
		changed := map[uuid.UUID]*meiliDoc{}
		for id, d := range now {
			if !reflect.DeepEqual(d, want[id]) {
				changed[id] = d
			}
		}
		if len(changed) == 0 {
			return nil
		}
		if round == syncRounds {
			return fmt.Errorf("%d products kept changing while being indexed", len(changed))
		}
		want = changed
	}
}

// read returns the documents of ids, nil for those not listed (deleted or unknown).
func (ix *Indexer) read(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*meiliDoc, error) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	t, err := ix.currentTree(ctx)
	if err != nil {
		return nil, err
	}
	products, err := ix.src.Products(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[uuid.UUID]*meiliDoc, len(ids))
	for _, id := range ids {
		out[id] = nil
	}
	for i := range products {
		out[products[i].ID] = newMeiliDoc(&products[i], t)
	}
	return out, nil
}

// write upserts the documents of docs and deletes those whose document is nil, in one
// request each, and waits until Meilisearch has applied both.
func (ix *Indexer) write(ctx context.Context, docs map[uuid.UUID]*meiliDoc) error {
	var upsert []*meiliDoc
	var gone []string
	for id, d := range docs {
		if d == nil {
			gone = append(gone, id.String())
		} else {
			upsert = append(upsert, d)
		}
	}
	slices.SortFunc(upsert, func(a, b *meiliDoc) int { return strings.Compare(a.ID, b.ID) })
	slices.Sort(gone)
	var tasks []int64
	call := func(fn func(ctx context.Context) (*meilisearch.TaskInfo, error)) error {
		ctx, cancel := context.WithTimeout(ctx, ix.cfg.Timeout)
		defer cancel()
		t, err := fn(ctx)
		if err == nil {
			tasks = append(tasks, t.TaskUID)
		}
		return err
	}
	pk := "id"
	if len(upsert) > 0 {
		if err := call(func(ctx context.Context) (*meilisearch.TaskInfo, error) {
			return ix.index.AddDocumentsWithContext(ctx, upsert, &meilisearch.DocumentOptions{PrimaryKey: &pk})
		}); err != nil {
			return fmt.Errorf("meilisearch: add %d documents: %w", len(upsert), err)
		}
	}
	if len(gone) > 0 {
		if err := call(func(ctx context.Context) (*meilisearch.TaskInfo, error) {
			return ix.index.DeleteDocumentsWithContext(ctx, gone, nil)
		}); err != nil {
			return fmt.Errorf("meilisearch: delete %d documents: %w", len(gone), err)
		}
	}
	return ix.wait(ctx, tasks...)
}

// wait waits until Meilisearch has applied tasks, for at most TaskTimeout in all; a task that
// failed is an error.
func (ix *Indexer) wait(ctx context.Context, tasks ...int64) error {
	ctx, cancel := context.WithTimeout(ctx, ix.cfg.TaskTimeout)
	defer cancel()
	for _, uid := range tasks {
		t, err := ix.client.WaitForTaskWithContext(ctx, uid, 50*time.Millisecond)
		if err != nil {
			return fmt.Errorf("meilisearch: wait for task %d: %w", uid, err)
		}
		if t.Status != meilisearch.TaskStatusSucceeded {
			return &meiliTaskError{UID: uid, Type: string(t.Type), Status: string(t.Status), Code: t.Error.Code, Message: t.Error.Message}
		}
	}
	return nil
}

// meiliTaskError is a Meilisearch task that did not succeed.
type meiliTaskError struct {
	UID                         int64
	Type, Status, Code, Message string
}

func (e *meiliTaskError) Error() string {
	return fmt.Sprintf("meilisearch: task %d (%s) %s: %s: %s", e.UID, e.Type, e.Status, e.Code, e.Message)
}

// ensureIndex creates the index (primary key "id") when it is missing and applies the
// settings; both are idempotent, so every start does it. fresh reports an index that did not
// have the settings yet: a new one, or one that Meilisearch created by itself for documents
// written after the index was deleted.
func (ix *Indexer) ensureIndex(ctx context.Context) (fresh bool, err error) {
	cctx, cancel := context.WithTimeout(ctx, ix.cfg.Timeout)
	_, err = ix.client.GetIndexWithContext(cctx, ix.cfg.Index)
	cancel()
	var me *meilisearch.Error
	if errors.As(err, &me) && me.StatusCode == http.StatusNotFound {
		cctx, cancel := context.WithTimeout(ctx, ix.cfg.Timeout)
		t, cerr := ix.client.CreateIndexWithContext(cctx, &meilisearch.IndexConfig{Uid: ix.cfg.Index, PrimaryKey: "id"})
		cancel()
		if cerr != nil {
			return false, fmt.Errorf("meilisearch: create index: %w", cerr)
		}
		var te *meiliTaskError
		if err = ix.wait(ctx, t.TaskUID); errors.As(err, &te) && te.Code == "index_already_exists" {
			err = nil // another instance was first
		}
	}
	if err != nil {
		return false, fmt.Errorf("meilisearch: index %s: %w", ix.cfg.Index, err)
	}
	cctx, cancel = context.WithTimeout(ctx, ix.cfg.Timeout)
	defer cancel()
	filterable, err := ix.index.GetFilterableAttributesWithContext(cctx)
	if err != nil {
		return false, fmt.Errorf("meilisearch: filterable attributes: %w", err)
	}
	fresh = true
	for _, a := range *filterable {
		if a == any("category_ids") {
			fresh = false
		}
	}
	rules, err := ix.index.GetRankingRulesWithContext(cctx)
	if err != nil {
		return false, fmt.Errorf("meilisearch: ranking rules: %w", err)
	}
	t, err := ix.index.UpdateSettingsWithContext(cctx, meiliSettings(sortFirst(*rules)))
	if err != nil {
		return false, fmt.Errorf("meilisearch: settings: %w", err)
	}
	return fresh, ix.wait(ctx, t.TaskUID)
}

// Reindex rebuilds cfg's index straight from PostgreSQL (for `souk reindex`): it applies the
// settings, writes every listed product, syncChunk at a time in creation order, then deletes
// the documents of products that are no longer listed. It is safe beside running indexers.
func Reindex(ctx context.Context, cfg MeiliConfig, db *pgxpool.Pool, src Source, log zerolog.Logger) error {
	ix, err := NewIndexer(cfg, db, src, log)
	if err != nil {
		return err
	}
	if _, err := ix.ensureIndex(ctx); err != nil {
		return err
	}
	listed := map[string]bool{}
	for after := int64(0); ; {
		sctx, cancel := context.WithTimeout(ctx, storeTimeout)
		ids, last, err := ix.listedAfter(sctx, after, syncChunk)
		cancel()
		if err != nil {
			return fmt.Errorf("reindex: %w", err)
		}
		if len(ids) == 0 {
			break
		}
		if err := ix.sync(ctx, ids); err != nil {
			return fmt.Errorf("reindex: %w", err)
		}
		for _, id := range ids {
			listed[id.String()] = true
		}
		after = last
	}
	stale, err := ix.unlisted(ctx, listed)
	if err != nil {
		return fmt.Errorf("reindex: %w", err)
	}
	// sync reads them again: one created meanwhile is written, the others deleted.
	if err := ix.sync(ctx, stale); err != nil {
		return fmt.Errorf("reindex: %w", err)
	}
	ix.log.Info().Int("products", len(listed)).Int("removed", len(stale)).Msg("meilisearch: reindexed")
	return nil
}

// unlisted returns the ids of the index's documents that are not in listed.
func (ix *Indexer) unlisted(ctx context.Context, listed map[string]bool) ([]uuid.UUID, error) {
	var out []uuid.UUID
	for offset := int64(0); ; offset += 1000 {
		var res meilisearch.DocumentsResult
		cctx, cancel := context.WithTimeout(ctx, ix.cfg.Timeout)
		err := ix.index.GetDocumentsWithContext(cctx, &meilisearch.DocumentsQuery{Offset: offset, Limit: 1000, Fields: []string{"id"}}, &res)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("meilisearch: documents: %w", err)
		}
		for _, h := range res.Results {
			var d struct {
				ID string `json:"id"`
			}
			if err := h.DecodeInto(&d); err != nil {
				return nil, err
			}
			if id, err := uuid.Parse(d.ID); err == nil && !listed[d.ID] {
				out = append(out, id)
			}
		}
		if len(res.Results) == 0 || offset+int64(len(res.Results)) >= res.Total {
			return out, nil
		}
	}
}
