package catalog_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/meilisearch/meilisearch-go"
	"github.com/rs/zerolog"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/services/catalog"
	"github.com/souk/souk/services/catalog/search"
	"github.com/souk/souk/subjects"
)

// meiliIntegration returns the configuration of a uniquely named index on the Meilisearch
// of MEILI_URL (and MEILI_API_KEY), deleted when the test ends, or skips the test.
func meiliIntegration(t *testing.T) search.MeiliConfig {
	t.Helper()
	u := os.Getenv("MEILI_URL")
	if u == "" {
		t.Skip("MEILI_URL not set: the Meilisearch integration test needs a running Meilisearch (see README)")
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	cfg := search.MeiliConfig{URL: u, APIKey: os.Getenv("MEILI_API_KEY"), Index: "souk_test_" + hex.EncodeToString(b[:]), TaskTimeout: 30 * time.Second}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		client := meilisearch.New(cfg.URL, meilisearch.WithAPIKey(cfg.APIKey))
		if task, err := client.DeleteIndexWithContext(ctx, cfg.Index); err != nil {
			t.Logf("delete index %s: %v", cfg.Index, err)
		} else if _, err := client.WaitForTaskWithContext(ctx, task.TaskUID, 50*time.Millisecond); err != nil {
			t.Logf("delete index %s: %v", cfg.Index, err)
		}
	})
	return cfg
}

// TestMeiliIntegrationIndexer runs the catalog with its indexer on a real PostgreSQL, NATS and
// Meilisearch: products appear, change and leave the search as the catalog changes.
func TestMeiliIntegrationIndexer(t *testing.T) {
	cfg := meiliIntegration(t)
	e := newEnv(t)
	// No list cache: the index follows a change after the caches were invalidated for it.
	e.start(catalog.Config{ListCacheBytes: 1, Meili: cfg})
	_, audio, hp, lamp := createCatalog(e)
	finds := func(req subjects.SearchRequest, want ...string) func() error {
		return func() error {
			req.Limit = 10
			page, err := subjects.ProductSearch.Call(e.ctx, e.nc, req)
			if err != nil {
				return err
			}
			var ids []string
			for _, p := range page.Items {
				ids = append(ids, p.ID)
			}
			slices.Sort(ids)
			slices.Sort(want)
			if !slices.Equal(ids, want) {
				return fmt.Errorf("found %v, want %v", ids, want)
			}
			return nil
		}
	}
	cheap := subjects.SearchRequest{Currency: "EUR", MaxPrice: ptr[int64](80_00)}
	expect.Within(t, 30*time.Second, finds(subjects.SearchRequest{}, hp.ID, lamp.ID))
	expect.Within(t, 10*time.Second, finds(cheap, lamp.ID))
	if _, err := subjects.ProductUpdate.Call(e.staff, e.nc, subjects.ProductUpdateRequest{ID: hp.ID, Price: ptr(eur(79_99))}); err != nil {
		t.Fatal(err)
	}
	expect.Within(t, 10*time.Second, finds(cheap, hp.ID, lamp.ID))
	if _, err := subjects.ProductDelete.Call(e.staff, e.nc, subjects.ProductIDRequest{ID: lamp.ID}); err != nil {
		t.Fatal(err)
	}
	expect.Within(t, 10*time.Second, finds(cheap, hp.ID))
	if _, err := subjects.CategoryUpdate.Call(e.staff, e.nc, subjects.CategoryUpdateRequest{ID: audio.ID, Name: ptr("Soundsystems")}); err != nil {
		t.Fatal(err)
	}
	expect.Within(t, 10*time.Second, finds(subjects.SearchRequest{Q: "soundsystems"}, hp.ID))
	if err := search.Reindex(e.ctx, cfg, e.db, catalog.NewStore(e.db, catalog.DefaultLocale), zerolog.Nop()); err != nil {
		t.Fatal(err)
	}
	expect.Within(t, 10*time.Second, finds(subjects.SearchRequest{}, hp.ID))
}
