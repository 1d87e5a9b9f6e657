package site

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/subjects"
)

func siteQuotas(t *testing.T) *quotas {
	t.Helper()
	_, nc := natstest.Server(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bus.BucketQuota}); err != nil {
		t.Fatal(err)
	}
	q := &quotas{site: "north", js: js}
	if err := q.open(ctx); err != nil {
		t.Fatal(err)
	}
	return q
}

// The compare-and-set the quotas rely on: an update with a stale revision fails with the
// wrong-last-sequence error, which nats.go maps to ErrKeyRevisionMismatch (and a create of an
// existing key to ErrKeyExists); change retries on exactly these.
func TestStaleRevisionIsRefused(t *testing.T) {
	q := siteQuotas(t)
	ctx := context.Background()
	rev, err := q.kv.Create(ctx, "quota.X", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.kv.Update(ctx, "quota.X", []byte(`{"available":1}`), rev); err != nil {
		t.Fatal(err)
	}
	_, err = q.kv.Update(ctx, "quota.X", []byte(`{"available":2}`), rev)
	var apiErr *jetstream.APIError
	if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) || !errors.As(err, &apiErr) || apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence {
		t.Fatalf("stale update: %v", err)
	}
	if _, err := q.kv.Create(ctx, "quota.X", []byte(`{}`)); !errors.Is(err, jetstream.ErrKeyExists) {
		t.Fatalf("create over a key: %v", err)
	}
}

// Twenty tills at once on a quota of 10 sell exactly 10; a grant seen twice adds once.
func TestQuotaNeverOversold(t *testing.T) {
	q := siteQuotas(t)
	ctx := context.Background()
	g := subjects.QuotaGranted{Site: "north", SKU: "LAMP-1", Seq: 1, Quantity: 10}
	if err := q.applyGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	if err := q.applyGrant(ctx, g); !errors.Is(err, errApplied) {
		t.Fatalf("a grant applied twice: %v", err)
	}
	var sold atomic.Int64
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			err := q.take(ctx, []subjects.SaleLine{{SKU: "LAMP-1", Quantity: 1}})
			var e *subjects.Error
			switch {
			case err == nil:
				sold.Add(1)
			case errors.As(err, &e) && e.Slug == "quota_exhausted":
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if sold.Load() != 10 {
		t.Fatalf("sold %d of a quota of 10", sold.Load())
	}
	// A sale of two lines, the second short, gives the first back.
	if err := q.applyGrant(ctx, subjects.QuotaGranted{Site: "north", SKU: "BULB-1", Seq: 1, Quantity: 1}); err != nil {
		t.Fatal(err)
	}
	if err := q.take(ctx, []subjects.SaleLine{{SKU: "BULB-1", Quantity: 1}, {SKU: "LAMP-1", Quantity: 1}}); err == nil {
		t.Fatal("sold beyond the quota")
	}
	list, err := q.list(ctx, subjects.SiteRequest{Site: "north"})
	if err != nil || len(list.Items) != 2 || list.Items[0].SKU != "BULB-1" || list.Items[0].Available != 1 {
		t.Fatalf("after a refused sale: %+v %v", list, err)
	}
}
