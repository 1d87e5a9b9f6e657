package gateway

import (
	"strconv"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func TestKeyedStaysBounded(t *testing.T) {
	k := newKeyed(Limit{Rate: rate.Every(time.Hour), Burst: 1}, 64)
	for i := range 10_000 {
		if err := k.allow("10.0." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256)); err != nil {
			t.Fatalf("first request of a new key refused: %v", err)
		}
	}
	if n := k.len(); n > 64 {
		t.Fatalf("%d buckets kept, bound is 64", n)
	}
}

func TestKeyedEvictsIdleBuckets(t *testing.T) {
	// Refills within a nanosecond: every bucket is idle by the next insert, so sweeps keep
	// the map small rather than the arbitrary eviction of a full shard.
	k := newKeyed(Limit{Rate: 1e9, Burst: 1}, 16*1000)
	for i := range 20_000 {
		if i%1000 == 0 {
			for j := range k.shards {
				k.sweep(&k.shards[j], time.Now())
			}
		}
		_ = k.allow(strconv.Itoa(i))
	}
	if n := k.len(); n > 1000+16 {
		t.Fatalf("%d buckets kept, idle ones were not evicted", n)
	}
	// A busy key keeps its state while the shard is swept.
	busy := newKeyed(Limit{Rate: rate.Every(time.Hour), Burst: 1}, 16*1000)
	if err := busy.allow("k"); err != nil {
		t.Fatal(err)
	}
	for i := range busy.shards {
		busy.sweep(&busy.shards[i], time.Now())
	}
	if err := busy.allow("k"); err == nil {
		t.Fatal("sweeping forgot a bucket that was not idle")
	}
}
