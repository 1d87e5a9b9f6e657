package catalog_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/services/catalog"
	"github.com/souk/souk/services/catalog/search"
	"github.com/souk/souk/subjects"
)

// createCatalog creates, through the API, electronics (with a German name) > audio,
// headphones (black, in audio) and a lamp (in electronics).
func createCatalog(e *env) (el, audio subjects.Category, hp, lamp subjects.Product) {
	e.t.Helper()
	el = e.category("Electronics", "electronics", "", map[string]subjects.CategoryText{"de": {Name: "Elektronik"}})
	audio = e.category("Audio", "audio", el.ID, nil)
	hp = e.product(subjects.ProductCreateRequest{SKU: "HP-1", Name: "Headphones", Price: eur(9999), CategoryID: audio.ID,
		Attributes: map[string]string{"color": "black"}})
	lamp = e.product(subjects.ProductCreateRequest{SKU: "LAMP-1", Name: "Lamp", Price: eur(1500), CategoryID: el.ID})
	return el, audio, hp, lamp
}

// TestMeiliIndexerFollowsTheCatalogStream runs catalog instances with their indexer on a real
// PostgreSQL and NATS server against fakeMeili: what reaches the index, and when.
func TestMeiliIndexerFollowsTheCatalogStream(t *testing.T) {
	fake := newFakeMeili(t)
	fake.setDown(true)
	e := newEnv(t)
	cfg := catalog.Config{Meili: search.MeiliConfig{URL: fake.URL, APIKey: "fake-key", TaskTimeout: 5 * time.Second}}
	e.start(cfg)
	el, audio, hp, lamp := createCatalog(e)
	docIs := func(id string, check func(d map[string]any) bool) func() error {
		return func() error {
			if d := fake.doc(id); !check(d) {
				return fmt.Errorf("document %s: %v", id, d)
			}
			return nil
		}
	}

	// Meilisearch is down: the indexer keeps trying, and catches up once it is back.
	expect.Within(t, 10*time.Second, func() error {
		fake.mu.Lock()
		defer fake.mu.Unlock()
		if fake.calls < 2 {
			return errors.New("no retry yet")
		}
		return nil
	})
	fake.setDown(false)
	expect.Within(t, 30*time.Second, docIs(hp.ID, func(d map[string]any) bool {
		return d != nil && d["price"] == 9999.0 && reflect.DeepEqual(d["category_ids"], []any{audio.ID, el.ID}) &&
			reflect.DeepEqual(d["categories"], []any{"Audio", "Electronics", "Elektronik"})
	}))
	expect.Within(t, 10*time.Second, docIs(lamp.ID, func(d map[string]any) bool { return d != nil }))
	fake.mu.Lock()
	rules, _ := fake.settings["rankingRules"].([]any)
	fake.mu.Unlock()
	if len(rules) != 7 || rules[0] != "sort" {
		t.Fatalf("ranking rules: %v", rules)
	}

	// Changes, a deletion, and a renamed category reach the index.
	if _, err := subjects.ProductUpdate.Call(e.staff, e.nc, subjects.ProductUpdateRequest{ID: hp.ID, Price: ptr(eur(7999))}); err != nil {
		t.Fatal(err)
	}
	if _, err := subjects.ProductDelete.Call(e.staff, e.nc, subjects.ProductIDRequest{ID: lamp.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := subjects.CategoryUpdate.Call(e.staff, e.nc, subjects.CategoryUpdateRequest{ID: audio.ID, Name: ptr("Sound")}); err != nil {
		t.Fatal(err)
	}
	expect.Within(t, 10*time.Second, docIs(hp.ID, func(d map[string]any) bool {
		return d != nil && d["price"] == 7999.0 && reflect.DeepEqual(d["categories"], []any{"Sound", "Electronics", "Elektronik"})
	}))
	expect.Within(t, 10*time.Second, docIs(lamp.ID, func(d map[string]any) bool { return d == nil }))

	// Events it cannot read, or that name no entity, are dead-lettered; the events behind
	// them still flow, and nothing is left unacknowledged.
	poison := map[string]string{
		subjects.EvtProductUpdated.Subject(uuid.NewString()):  "not json",
		subjects.EvtProductDeleted.Subject(uuid.NewString()):  `{"product_id": "nope"}`,
		subjects.EvtProductCreated.Subject(uuid.NewString()):  `{}`,
		subjects.EvtCategoryCreated.Subject(uuid.NewString()): `{"category_id": ""}`,
		subjects.EvtCategoryUpdated.Subject(uuid.NewString()): `[]`,
	}
	for subject, data := range poison {
		if _, err := e.js.Publish(e.ctx, subject, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := subjects.ProductUpdate.Call(e.staff, e.nc, subjects.ProductUpdateRequest{ID: hp.ID, Name: ptr("Studio Headphones")}); err != nil {
		t.Fatal(err)
	}
	expect.Within(t, 10*time.Second, docIs(hp.ID, func(d map[string]any) bool { return d != nil && d["name"] == "Studio Headphones" }))
	dlq := subjects.DLQSubject(subjects.StreamCatalog, search.IndexerName)
	expect.Within(t, 10*time.Second, func() error {
		s, err := e.js.Stream(e.ctx, subjects.StreamDLQ)
		if err != nil {
			return err
		}
		info, err := s.Info(e.ctx, jetstream.WithSubjectFilter(dlq))
		if err != nil {
			return err
		}
		if n := info.State.Subjects[dlq]; n != uint64(len(poison)) {
			return fmt.Errorf("%d dead letters on %s, want %d", n, dlq, len(poison))
		}
		cons, err := e.js.Consumer(e.ctx, subjects.StreamCatalog, search.IndexerName)
		if err != nil {
			return err
		}
		ci, err := cons.Info(e.ctx)
		if err != nil {
			return err
		}
		if ci.NumAckPending != 0 || ci.NumPending != 0 {
			return fmt.Errorf("consumer: %d unacknowledged, %d pending", ci.NumAckPending, ci.NumPending)
		}
		return nil
	})

	// An index that is deleted and comes back fresh is filled again from PostgreSQL, here
	// when a second instance starts.
	fake.mu.Lock()
	fake.created, fake.settings, fake.docs = false, nil, map[string]map[string]any{}
	fake.mu.Unlock()
	e.start(cfg)
	expect.Within(t, 30*time.Second, docIs(hp.ID, func(d map[string]any) bool { return d != nil && d["name"] == "Studio Headphones" }))
	if fake.doc(lamp.ID) != nil {
		t.Fatal("a deleted product came back")
	}

	// Reindex writes every listed product and removes what is no longer listed.
	stale := uuid.NewString()
	fake.mu.Lock()
	fake.docs[stale] = map[string]any{"id": stale}
	delete(fake.docs, hp.ID)
	fake.mu.Unlock()
	if err := search.Reindex(e.ctx, cfg.Meili, e.db, catalog.NewStore(e.db, catalog.DefaultLocale), zerolog.Nop()); err != nil {
		t.Fatal(err)
	}
	if fake.doc(stale) != nil || fake.doc(lamp.ID) != nil || fake.doc(hp.ID) == nil {
		t.Fatalf("after reindex: %v", fake.docs)
	}
}

// fakeMeili stands in for Meilisearch, which cannot run on this machine, at the process
// boundary: it keeps the documents written to the index "products" and answers every task
// as succeeded, or is down (503). It lets the indexer's test check our side (the JetStream
// consumer and its queue, the reads from PostgreSQL, what is written and when);
// it knows nothing of searching, which the integration test checks on a real Meilisearch.
type fakeMeili struct {
	*httptest.Server
	mu       sync.Mutex
	down     bool
	calls    int
	created  bool
	settings map[string]any
	docs     map[string]map[string]any
	tasks    int64
}

func newFakeMeili(t *testing.T) *fakeMeili {
	f := &fakeMeili{docs: map[string]map[string]any{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeMeili) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	reply := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	task := func() {
		f.tasks++
		reply(http.StatusAccepted, map[string]any{"taskUid": f.tasks, "indexUid": "products", "status": "enqueued",
			"type": "x", "enqueuedAt": "2025-01-01T00:00:00Z"})
	}
	switch {
	case f.down:
		reply(http.StatusServiceUnavailable, map[string]any{"message": "down", "code": "unavailable"})
		return
	case r.Header.Get("Authorization") != "Bearer fake-key":
		reply(http.StatusUnauthorized, map[string]any{"message": "key", "code": "invalid_api_key"})
		return
	}
	var body any
	_ = json.NewDecoder(r.Body).Decode(&body)
	route := r.Method + " " + r.URL.Path
	switch {
	case route == "GET /indexes/products" && !f.created:
		reply(http.StatusNotFound, map[string]any{"message": "Index `products` not found.", "code": "index_not_found"})
	case route == "GET /indexes/products":
		reply(http.StatusOK, map[string]any{"uid": "products", "primaryKey": "id", "createdAt": "2025-01-01T00:00:00Z", "updatedAt": "2025-01-01T00:00:00Z"})
	case route == "POST /indexes":
		f.created = true
		task()
	case route == "GET /indexes/products/settings/ranking-rules":
		reply(http.StatusOK, []string{"words", "typo", "proximity", "attributeRank", "sort", "wordPosition", "exactness"})
	case route == "GET /indexes/products/settings/filterable-attributes":
		filterable, ok := f.settings["filterableAttributes"]
		if !ok {
			filterable = []any{}
		}
		reply(http.StatusOK, filterable)
	case route == "PATCH /indexes/products/settings":
		f.settings, _ = body.(map[string]any)
		task()
	case route == "POST /indexes/products/documents" && r.URL.Query().Get("primaryKey") == "id":
		docs, _ := body.([]any)
		for _, d := range docs {
			doc, _ := d.(map[string]any)
			id, _ := doc["id"].(string)
			f.docs[id] = doc
		}
		task()
	case route == "POST /indexes/products/documents/delete-batch":
		ids, _ := body.([]any)
		for _, id := range ids {
			s, _ := id.(string)
			delete(f.docs, s)
		}
		task()
	case route == "POST /indexes/products/documents/fetch":
		q, _ := body.(map[string]any)
		offset, _ := q["offset"].(float64)
		limit, _ := q["limit"].(float64)
		ids := slices.Sorted(maps.Keys(f.docs))
		page := ids[min(int(offset), len(ids)):min(int(offset+limit), len(ids))]
		results := make([]map[string]any, len(page))
		for i, id := range page {
			results[i] = map[string]any{"id": id}
		}
		reply(http.StatusOK, map[string]any{"results": results, "offset": offset, "limit": limit, "total": len(ids)})
	case strings.HasPrefix(route, "GET /tasks/"):
		uid, _ := strconv.ParseInt(strings.TrimPrefix(r.URL.Path, "/tasks/"), 10, 64)
		reply(http.StatusOK, map[string]any{"uid": uid, "status": "succeeded", "type": "x",
			"indexUid": "products", "enqueuedAt": "2025-01-01T00:00:00Z"})
	default:
		reply(http.StatusNotFound, map[string]any{"message": "no route " + route, "code": "not_found"})
	}
}

func (f *fakeMeili) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

// doc returns the indexed document of id, or nil.
func (f *fakeMeili) doc(id string) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.docs[id]
}
