package cache_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/platform/cache"
)

func newCache(t *testing.T, maxBytes int64) (*cache.Bytes, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	c, err := cache.New(cache.Config{Name: "test", MaxBytes: maxBytes}, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, reg
}

// loader returns a load function that answers val and counts its calls.
func loader(val string, calls *atomic.Int32) func(context.Context) ([]byte, error) {
	return func(context.Context) ([]byte, error) {
		calls.Add(1)
		return []byte(val), nil
	}
}

func TestLoadKeepsTheValueUntilItsGroupIsInvalidated(t *testing.T) {
	c, reg := newCache(t, 1<<20)
	ctx := context.Background()
	var calls atomic.Int32
	for range 3 {
		v, err := c.Load(ctx, "p1", "p1:en", loader("one", &calls))
		if err != nil || string(v) != "one" {
			t.Fatalf("Load = %q, %v", v, err)
		}
		c.Wait()
	}
	if calls.Load() != 1 {
		t.Fatalf("source read %d times for three loads, want 1", calls.Load())
	}
	if _, err := c.Load(ctx, "p1", "p1:de", loader("eins", &calls)); err != nil {
		t.Fatal(err)
	}
	c.Wait()

	c.Invalidate("p1")
	for _, key := range []string{"p1:en", "p1:de"} {
		if v, ok := c.Get("p1", key); ok {
			t.Fatalf("%s served %q after its group was invalidated", key, v)
		}
	}
	v, err := c.Load(ctx, "p1", "p1:en", loader("two", &calls))
	if err != nil || string(v) != "two" {
		t.Fatalf("Load after invalidation = %q, %v", v, err)
	}
	// 3 loads, then 1 more, then 2 misses and 1 load after the invalidation: 2 hits.
	if got := value(t, reg, "souk_cache_hits_total"); got != 2 {
		t.Fatalf("hits = %v, want 2", got)
	}
	if got := value(t, reg, "souk_cache_misses_total"); got != 5 {
		t.Fatalf("misses = %v, want 5", got)
	}
}

func TestInvalidateAllOutdatesEveryGroup(t *testing.T) {
	c, _ := newCache(t, 1<<20)
	var calls atomic.Int32
	for i := range 10 {
		g := "g" + strconv.Itoa(i)
		if _, err := c.Load(context.Background(), g, g, loader("v", &calls)); err != nil {
			t.Fatal(err)
		}
	}
	c.Wait()
	c.InvalidateAll()
	for i := range 10 {
		g := "g" + strconv.Itoa(i)
		if _, ok := c.Get(g, g); ok {
			t.Fatalf("%s served after InvalidateAll", g)
		}
	}
}

// A fill whose source was read before an invalidation must not be served after it: the
// classic lost invalidation of read-through caches.
func TestAFillRacingAnInvalidationIsNeverServed(t *testing.T) {
	c, _ := newCache(t, 1<<20)
	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan []byte)
	go func() {
		v, _ := c.Load(context.Background(), "p1", "p1:en", func(context.Context) ([]byte, error) {
			close(started)
			<-release // the source has been read: the old price
			return []byte("old"), nil
		})
		done <- v
	}()
	<-started
	c.Invalidate("p1") // the price changes and the event arrives while the fill is in flight
	close(release)
	if v := <-done; string(v) != "old" {
		t.Fatalf("the racing caller got %q", v)
	}
	c.Wait()
	if v, ok := c.Get("p1", "p1:en"); ok {
		t.Fatalf("stale fill served after the invalidation: %q", v)
	}
}

// Put with a ticket taken before the read keeps nothing an invalidation has outdated since.
func TestAPutAfterAnInvalidationIsNeverServed(t *testing.T) {
	c, _ := newCache(t, 1<<20)
	stale := c.Ticket("p1")
	fresh := c.Ticket("p2")
	c.Invalidate("p1")
	c.Put(stale, "p1:en", []byte("old"))
	c.Put(fresh, "p2:en", []byte("new"))
	c.Wait()
	if v, ok := c.Get("p1", "p1:en"); ok {
		t.Fatalf("served %q, read before the invalidation", v)
	}
	if v, ok := c.Get("p2", "p2:en"); !ok || string(v) != "new" {
		t.Fatalf("p2 = %q %v: an invalidation of p1 outdated p2", v, ok)
	}
}

func TestConcurrentMissesReadTheSourceOnce(t *testing.T) {
	// In a synctest bubble, synctest.Wait returns once all 32 callers are blocked: on the one
	// load in flight, or inside it.
	synctest.Test(t, func(t *testing.T) {
		c, _ := newCache(t, 1<<20)
		var calls atomic.Int32
		gate := make(chan struct{})
		load := func(context.Context) ([]byte, error) {
			calls.Add(1)
			<-gate
			return []byte("v"), nil
		}
		var wg sync.WaitGroup
		for range 32 {
			wg.Go(func() {
				if v, err := c.Load(context.Background(), "k", "k", load); err != nil || string(v) != "v" {
					t.Errorf("Load = %q, %v", v, err)
				}
			})
		}
		synctest.Wait()
		close(gate)
		wg.Wait()
		if n := calls.Load(); n != 1 {
			t.Fatalf("32 concurrent misses read the source %d times", n)
		}
	})
}

func TestErrorsAreNotCached(t *testing.T) {
	c, _ := newCache(t, 1<<20)
	boom := errors.New("db down")
	if _, err := c.Load(context.Background(), "k", "k", func(context.Context) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	var calls atomic.Int32
	if v, err := c.Load(context.Background(), "k", "k", loader("v", &calls)); err != nil || string(v) != "v" || calls.Load() != 1 {
		t.Fatalf("after an error: %q %v (calls %d)", v, err, calls.Load())
	}
}

func TestTheBoundIsInBytes(t *testing.T) {
	c, reg := newCache(t, 64<<10)
	val := make([]byte, 1024)
	for i := range 1000 {
		k := strconv.Itoa(i)
		_, _ = c.Load(context.Background(), k, k, func(context.Context) ([]byte, error) { return val, nil })
	}
	c.Wait()
	held := value(t, reg, "souk_cache_cost_bytes")
	if held <= 0 || held > 64<<10 {
		t.Fatalf("holds %v bytes with a bound of %d", held, 64<<10)
	}
}

func TestTwoCachesOfOneNameOnOneRegistryIsAnError(t *testing.T) {
	reg := prometheus.NewRegistry()
	c, err := cache.New(cache.Config{Name: "x", MaxBytes: 1 << 20}, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := cache.New(cache.Config{Name: "x", MaxBytes: 1 << 20}, reg); err == nil {
		t.Fatal("a second cache named x registered its metrics over the first's")
	}
}

// value reads the one sample of the gauge or counter name from reg.
func value(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("metric %s not exported", name)
	return 0
}

// staleCache returns a cache holding "old" under key page of group l, marked stale, and the
// counter of the loads it has made.
func staleCache(t *testing.T) (*cache.Bytes, *atomic.Int32) {
	t.Helper()
	c, _ := newCache(t, 1<<20)
	calls := new(atomic.Int32)
	if _, err := c.Load(context.Background(), "l", "page", loader("old", calls)); err != nil {
		t.Fatal(err)
	}
	c.Wait()
	c.MarkStale()
	return c, calls
}

// A stale entry is answered at once while one load replaces it in the background; Get
// misses it; and an outer load never builds from a stale inner entry.
func TestLoadAnswersAStaleEntryWhileItIsReloaded(t *testing.T) {
	c, calls := staleCache(t)
	ctx := context.Background()
	if v, ok := c.Get("l", "page"); ok {
		t.Fatalf("Get served %q after MarkStale", v)
	}
	release := make(chan struct{})
	slow := func(context.Context) ([]byte, error) { <-release; calls.Add(1); return []byte("new"), nil }
	for range 3 { // every caller gets the stale answer without waiting; one reload starts
		if v, err := c.Load(ctx, "l", "page", slow); err != nil || string(v) != "old" {
			t.Fatalf("Load of a stale entry = %q, %v; want the stale value at once", v, err)
		}
	}
	close(release)
	expect.Within(t, 30*time.Second, func() error {
		c.Wait()
		if v, ok := c.Get("l", "page"); !ok || string(v) != "new" {
			return fmt.Errorf("Get = %q, %v; want the reloaded value", v, ok)
		}
		return nil
	})
	if n := calls.Load(); n != 2 {
		t.Fatalf("source read %d times, want 2 (the fill, one reload)", n)
	}

	// Inside a load, a stale inner entry is reloaded, not answered.
	c.MarkStale()
	outer, err := c.Load(ctx, "l", "outer", func(ctx context.Context) ([]byte, error) {
		inner, err := c.Load(ctx, "l", "page", loader("newer", calls))
		return append([]byte("outer:"), inner...), err
	})
	if err != nil || string(outer) != "outer:newer" {
		t.Fatalf("outer = %q, %v; want it built from the reloaded inner entry", outer, err)
	}

	// A hard invalidation is never answered stale.
	c.Wait()
	c.InvalidateAll()
	if v, err := c.Load(ctx, "l", "page", loader("fresh", calls)); err != nil || string(v) != "fresh" {
		t.Fatalf("Load after InvalidateAll = %q, %v; want a fresh load", v, err)
	}
}

// A load that panics in the background leaves the stale entry in place and the process up.
func TestABackgroundReloadThatPanicsLeavesTheStaleEntry(t *testing.T) {
	c, calls := staleCache(t)
	ctx := context.Background()
	var panicked atomic.Bool
	boom := func(context.Context) ([]byte, error) { panicked.Store(true); panic("boom") }
	if v, err := c.Load(ctx, "l", "page", boom); err != nil || string(v) != "old" {
		t.Fatalf("Load = %q, %v; want the stale value", v, err)
	}
	expect.Within(t, 30*time.Second, func() error {
		if !panicked.Load() {
			return errors.New("the reload has not run yet")
		}
		if v, err := c.Load(ctx, "l", "page", loader("new", calls)); err != nil || string(v) == "" {
			return fmt.Errorf("Load after the panic = %q, %v", v, err)
		}
		return nil
	})
}

// A stale mark has the entries reloaded one at a time (Config.Refreshes), not all at once:
// each is answered stale until a reload slot is free, and a later Load reloads it. Sixteen
// broad searches reloaded together at every mark took the cores from the cached answers.
func TestAStaleMarkReloadsTheEntriesOneAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := newCache(t, 1<<20)
		ctx := context.Background()
		const keys = 8
		var calls atomic.Int32
		for i := range keys {
			if _, err := c.Load(ctx, "l", strconv.Itoa(i), loader("old", &calls)); err != nil {
				t.Fatal(err)
			}
		}
		c.Wait()
		c.MarkStale()
		var running, most atomic.Int32
		gate := make(chan struct{})
		slow := func(context.Context) ([]byte, error) {
			n := running.Add(1)
			defer running.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			<-gate
			return []byte("new"), nil
		}
		for i := range keys {
			if v, err := c.Load(ctx, "l", strconv.Itoa(i), slow); err != nil || string(v) != "old" {
				t.Fatalf("Load of stale key %d = %q, %v; want the stale value at once", i, v, err)
			}
		}
		synctest.Wait() // every reload started is blocked on the gate
		n := running.Load()
		close(gate)
		if n != 1 {
			t.Fatalf("%d reloads ran at once after a stale mark, want 1", n)
		}
		fresh := 0
		for round := 0; round <= keys && fresh < keys; round++ {
			synctest.Wait()
			c.Wait()
			fresh = 0
			for i := range keys {
				v, err := c.Load(ctx, "l", strconv.Itoa(i), slow)
				if err != nil {
					t.Fatal(err)
				}
				if string(v) == "new" {
					fresh++
				}
			}
		}
		if fresh != keys {
			t.Fatalf("%d of %d entries reloaded after %d rounds of Loads", fresh, keys, keys+1)
		}
		if m := most.Load(); m != 1 {
			t.Fatalf("at most %d reloads ran at once, want 1", m)
		}
	})
}
