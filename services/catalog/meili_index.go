package catalog

// The Meilisearch indexer: it feeds the index from the CATALOG stream (see indexer), and
// Reindex rebuilds it from PostgreSQL.

import (
	"bytes"
	"context"
	"encoding/json"
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
	"github.com/meilisearch/meilisearch-go"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/souk/souk/subjects"
)

// indexer keeps the index in step with PostgreSQL. It follows the CATALOG stream with the
// durable consumer "catalog-search-index" (explicit ack, from the first message, unlimited
// redelivery: Meilisearch being away is transient and the index must catch up). Events carry
// ids, not snapshots: for each batch the indexer reads the products' current state and writes
// it (listed ones upserted, the others deleted), so events applied twice or out of order
// still converge. A category event reindexes the listed products of the category's subtree.
// A batch is acknowledged once Meilisearch has applied it; after a failure it is handed back
// with a growing delay. Several instances share the work: a chunk whose products changed
// while it was written is read and written again (see syncChunk), so a slower instance never
// leaves an older state behind.
//
// A fresh index is a replay: the CATALOG stream keeps the latest event of every subject with
// no age limit (MaxMsgsPerSubject 1, configured in nats/), so a consumer created from the
// start sees every product. To rebuild, an operator deletes the index and the consumer
// (`nats consumer rm CATALOG catalog-search-index`) and restarts the catalog: it recreates
// the index with its settings and replays everything. (A start that finds the index fresh
// deletes the consumer itself, so deleting the index is enough.) Reindex rebuilds straight
// from PostgreSQL instead.
type indexer struct {
	cfg    MeiliConfig
	client meilisearch.ServiceManager
	index  meilisearch.IndexManager
	store  *Store
	js     jetstream.JetStream
	log    zerolog.Logger
}

// newIndexer returns the indexer of cfg; run starts it.
func newIndexer(cfg MeiliConfig, store *Store, deps Deps, log zerolog.Logger) (*indexer, error) {
	if deps.JS == nil {
		return nil, errors.New("meilisearch indexer: JetStream is required")
	}
	ix, err := newMeiliIndexer(cfg, store, log)
	if err != nil {
		return nil, err
	}
	ix.js = deps.JS
	return ix, nil
}

func newMeiliIndexer(cfg MeiliConfig, store *Store, log zerolog.Logger) (*indexer, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	client := cfg.client()
	return &indexer{cfg: cfg, client: client, index: client.Index(cfg.Index), store: store,
		log: log.With().Str("indexer", indexerName).Str("index", cfg.Index).Logger()}, nil
}

// run feeds the index until ctx ends. Failures are logged and retried after a pause that
// grows up to 30 s.
func (ix *indexer) run(ctx context.Context) {
	var cons jetstream.Consumer
	ensured, failures := false, 0
	for ctx.Err() == nil {
		err := func() error {
			if !ensured {
				if err := ix.start(ctx); err != nil {
					return fmt.Errorf("start: %w", err)
				}
				ensured, cons = true, nil
			}
			if cons == nil {
				c, err := ix.consumer(ctx)
				if err != nil {
					return fmt.Errorf("consumer: %w", err)
				}
				cons = c
			}
			msgs, err := ix.fetch(ctx, cons)
			if err != nil {
				cons = nil // the consumer may be gone: recreate it
				return fmt.Errorf("fetch: %w", err)
			}
			if len(msgs) == 0 {
				return nil
			}
			kept, err := ix.apply(ctx, msgs)
			if err != nil {
				for _, m := range kept {
					_ = m.NakWithDelay(retryPause(failures + 1))
				}
				ensured = false // the index may be gone: check it again
				return fmt.Errorf("apply %d events: %w", len(kept), err)
			}
			for _, m := range kept {
				_ = m.Ack()
			}
			return nil
		}()
		if err == nil {
			failures = 0
			continue
		}
		if ctx.Err() != nil {
			return
		}
		failures++
		pause := retryPause(failures)
		ix.log.Warn().Err(err).Dur("retry_in", pause).Msg("meilisearch indexer: failed; retrying")
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
	}
}

// retryPause doubles from 250 ms on the first failure up to 30 s.
func retryPause(failures int) time.Duration {
	return min(250*time.Millisecond<<min(failures-1, 8), 30*time.Second)
}

// start makes sure the index and its settings exist. A fresh index is filled by a replay:
// start deletes the durable consumer, so that the next one starts from the first event.
func (ix *indexer) start(ctx context.Context) error {
	fresh, err := ix.ensureIndex(ctx)
	if err != nil || !fresh {
		return err
	}
	ix.log.Info().Msg("meilisearch indexer: a fresh index; replaying the CATALOG stream")
	ctx, cancel := context.WithTimeout(ctx, ix.cfg.Timeout)
	defer cancel()
	if err := ix.js.DeleteConsumer(ctx, "CATALOG", indexerName); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("reset consumer %s: %w", indexerName, err)
	}
	return nil
}

// consumer creates or updates the durable consumer.
func (ix *indexer) consumer(ctx context.Context) (jetstream.Consumer, error) {
	ctx, cancel := context.WithTimeout(ctx, ix.cfg.Timeout)
	defer cancel()
	return ix.js.CreateOrUpdateConsumer(ctx, "CATALOG", jetstream.ConsumerConfig{
		Durable:       indexerName,
		Description:   "feeds the Meilisearch index " + ix.cfg.Index,
		FilterSubject: subjects.EvtCatalog.Filter(),
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		// Long enough for one write round; apply reports progress before every further one.
		AckWait:       2*ix.cfg.TaskTimeout + 2*storeTimeout,
		MaxDeliver:    -1,
		MaxAckPending: 4 * indexBatch,
	})
}

// fetch waits up to 30 s for an event, then takes what else is there, up to indexBatch.
func (ix *indexer) fetch(ctx context.Context, cons jetstream.Consumer) ([]jetstream.Msg, error) {
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	first, err := cons.Next(jetstream.FetchContext(wait))
	cancel()
	if err != nil {
		if ctx.Err() == nil && (errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded)) {
			return nil, nil
		}
		return nil, err
	}
	msgs := []jetstream.Msg{first}
	if more, err := cons.FetchNoWait(indexBatch - 1); err == nil {
		for m := range more.Messages() {
			msgs = append(msgs, m)
		}
	}
	return msgs, nil
}

// apply indexes the products a batch of events names and returns the events it kept: it
// terminates those it cannot read (no retry will make them readable).
func (ix *indexer) apply(ctx context.Context, msgs []jetstream.Msg) ([]jetstream.Msg, error) {
	kept := msgs[:0:0]
	var ids, cats []uuid.UUID
	for _, m := range msgs {
		product, category, err := parseCatalogEvent(m.Subject(), m.Data())
		if err != nil {
			ix.log.Error().Err(err).Str("subject", m.Subject()).Msg("meilisearch indexer: unreadable event; terminated")
			_ = m.TermWithReason("unreadable: " + err.Error())
			continue
		}
		kept = append(kept, m)
		if product != uuid.Nil {
			ids = append(ids, product)
		} else {
			cats = append(cats, category)
		}
	}
	if len(cats) > 0 {
		more, err := ix.subtreeProducts(ctx, cats)
		if err != nil {
			return kept, err
		}
		ids = append(ids, more...)
	}
	rounds := 0
	return kept, ix.sync(ctx, ids, func() {
		// Every write round after the first restarts the events' AckWait.
		if rounds++; rounds > 1 {
			for _, m := range kept {
				_ = m.InProgress()
			}
		}
	})
}

// parseCatalogEvent returns the product (or else the category) an event is about.
func parseCatalogEvent(subject string, data []byte) (product, category uuid.UUID, err error) {
	rest, _ := strings.CutPrefix(subject, "souk.evt.catalog.")
	if strings.HasPrefix(rest, "category_") {
		var ev subjects.CategoryChanged
		if err := json.Unmarshal(data, &ev); err != nil {
			return uuid.Nil, uuid.Nil, err
		}
		category, err = uuid.Parse(ev.CategoryID)
		if err == nil && category == uuid.Nil {
			err = errors.New("no category_id")
		}
		return uuid.Nil, category, err
	}
	var ev struct {
		ProductID string `json:"product_id"`
	}
	if err := json.Unmarshal(data, &ev); err != nil {
		return uuid.Nil, uuid.Nil, err
	}
	product, err = uuid.Parse(ev.ProductID)
	if err == nil && product == uuid.Nil {
		err = errors.New("no product_id")
	}
	return product, uuid.Nil, err
}

// subtreeProducts returns the listed products in cats and their subcategories.
func (ix *indexer) subtreeProducts(ctx context.Context, cats []uuid.UUID) ([]uuid.UUID, error) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	t, err := ix.currentTree(ctx)
	if err != nil {
		return nil, err
	}
	var sub []uuid.UUID
	for _, c := range cats {
		if n, ok := t.byID[c]; ok {
			sub = append(sub, t.subtree(n)...)
		}
	}
	if len(sub) == 0 {
		return nil, nil
	}
	return ix.store.listedProductIDsIn(ctx, sub)
}

// currentTree reads the category tree. The indexer reads it for every batch rather than keep
// one: another instance may have applied a category change that this one has not seen.
func (ix *indexer) currentTree(ctx context.Context) (*tree, error) {
	cats, err := ix.store.Categories(ctx)
	if err != nil {
		return nil, err
	}
	return buildTree(cats), nil
}

// sync writes the current state of products ids to the index, syncChunk at a time, calling
// progress (when not nil) before every write.
func (ix *indexer) sync(ctx context.Context, ids []uuid.UUID, progress func()) error {
	ids = slices.Clone(ids)
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	ids = slices.Compact(ids)
	if progress == nil {
		progress = func() {}
	}
	for len(ids) > 0 {
		n := min(len(ids), syncChunk)
		if err := ix.syncChunk(ctx, ids[:n], progress); err != nil {
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
func (ix *indexer) syncChunk(ctx context.Context, ids []uuid.UUID, progress func()) error {
	want, err := ix.read(ctx, ids)
	if err != nil {
		return err
	}
	for round := 1; ; round++ {
		progress()
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
func (ix *indexer) read(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*meiliDoc, error) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	t, err := ix.currentTree(ctx)
	if err != nil {
		return nil, err
	}
	products, err := ix.store.Products(ctx, ids)
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
func (ix *indexer) write(ctx context.Context, docs map[uuid.UUID]*meiliDoc) error {
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
func (ix *indexer) wait(ctx context.Context, tasks ...int64) error {
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
func (ix *indexer) ensureIndex(ctx context.Context) (fresh bool, err error) {
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
func Reindex(ctx context.Context, cfg MeiliConfig, store *Store, log zerolog.Logger) error {
	ix, err := newMeiliIndexer(cfg, store, log)
	if err != nil {
		return err
	}
	if _, err := ix.ensureIndex(ctx); err != nil {
		return err
	}
	listed := map[string]bool{}
	for after := int64(0); ; {
		sctx, cancel := context.WithTimeout(ctx, storeTimeout)
		ids, last, err := store.listedProductIDsAfter(sctx, after, syncChunk)
		cancel()
		if err != nil {
			return fmt.Errorf("reindex: %w", err)
		}
		if len(ids) == 0 {
			break
		}
		if err := ix.sync(ctx, ids, nil); err != nil {
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
	if err := ix.sync(ctx, stale, nil); err != nil {
		return fmt.Errorf("reindex: %w", err)
	}
	ix.log.Info().Int("products", len(listed)).Int("removed", len(stale)).Msg("meilisearch: reindexed")
	return nil
}

// unlisted returns the ids of the index's documents that are not in listed.
func (ix *indexer) unlisted(ctx context.Context, listed map[string]bool) ([]uuid.UUID, error) {
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

// listedProductIDsIn returns the ids of the listed products in categories cats.
func (s *Store) listedProductIDsIn(ctx context.Context, cats []uuid.UUID) ([]uuid.UUID, error) {
	rows, err := s.db.Query(ctx, `select id from catalog.products where category_id = any($1) and deleted_at is null`, cats)
	if err != nil {
		return nil, fmt.Errorf("products in categories: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("products in categories: %w", err)
	}
	return ids, nil
}

// listedProductIDsAfter returns the ids of up to limit listed products with a seq above
// after, in seq order, and the last one's seq.
func (s *Store) listedProductIDsAfter(ctx context.Context, after int64, limit int) ([]uuid.UUID, int64, error) {
	rows, err := s.db.Query(ctx, `select id, seq from catalog.products where seq > $1 and deleted_at is null order by seq limit $2`, after, limit)
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
