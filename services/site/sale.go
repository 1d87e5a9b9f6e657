package site

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/subjects"
)

// Bounds of one sale.
const (
	maxLines    = 50
	maxQuantity = 10_000
)

// sell records a sale at the till: the Idempotency-Key names it, so a retry returns the first
// outcome. The steps, each safe to repeat:
//
//  1. a sale the SALES stream holds already is answered as it was;
//  2. a marker sale.<id> is created in the quota bucket (a concurrent duplicate is refused);
//  3. each line's units are taken from its quota by compare-and-set, never below zero; a
//     line short gives back the lines taken before it and the sale is refused, naming it;
//  4. the sale is published to SALES (Nats-Msg-Id = its id), and the marker deleted.
//
// A process that dies between 2 and 4 leaves the marker: finishPending completes the sale at
// the next start (its units were taken), so no quota is taken without its sale.
func (q *quotas) sell(ctx context.Context, req subjects.SaleRequest) (subjects.Sale, error) {
	if req.Site != q.site {
		return subjects.Sale{}, errNotHere
	}
	key := subjects.MetaFrom(ctx).IdempotencyKey
	if key == "" {
		return subjects.Sale{}, errNoKey
	}
	lines, err := saleLines(req.Lines)
	if err != nil {
		return subjects.Sale{}, err
	}
	sale := subjects.Sale{ID: uuid.NewSHA1(saleNamespace, []byte(q.site+"\x00"+key)).String(), Site: q.site, Lines: lines,
		SoldAt: time.Now().UTC()}
	if done, ok, err := q.recorded(ctx, sale.ID); err != nil || ok {
		return done, err
	}
	marker, _ := json.Marshal(sale)
	if _, err := q.kv.Create(ctx, subjects.SaleKeyPrefix+sale.ID, marker); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return subjects.Sale{}, errInProgress
		}
		return subjects.Sale{}, err
	}
	if err := q.take(ctx, lines); err != nil {
		_ = q.kv.Delete(ctx, subjects.SaleKeyPrefix+sale.ID)
		return subjects.Sale{}, err
	}
	if err := q.finish(ctx, sale); err != nil {
		return subjects.Sale{}, err // the marker stays: finishPending records it
	}
	return sale, nil
}

// take takes every line from its quota, or none.
func (q *quotas) take(ctx context.Context, lines []subjects.SaleLine) error {
	for i, l := range lines {
		err := q.change(ctx, l.SKU, func(cur subjects.SiteQuotaItem) (subjects.SiteQuotaItem, error) {
			if cur.Available < l.Quantity {
				return cur, errShort
			}
			cur.Available -= l.Quantity
			return cur, nil
		})
		if err == nil {
			continue
		}
		for _, back := range lines[:i] {
			if gerr := q.change(ctx, back.SKU, func(cur subjects.SiteQuotaItem) (subjects.SiteQuotaItem, error) {
				cur.Available += back.Quantity
				return cur, nil
			}); gerr != nil {
				return fmt.Errorf("give back %s after %s was short: %w", back.SKU, l.SKU, gerr)
			}
		}
		if errors.Is(err, errShort) {
			e := subjects.Errorf(http.StatusConflict, "quota_exhausted", "the site's quota of "+l.SKU+" is short")
			e.Fields = []subjects.FieldError{{Field: "lines", Message: l.SKU + ": quota exhausted"}}
			return e
		}
		return err
	}
	return nil
}

var errShort = errors.New("quota short")

// finish publishes sale to SALES and deletes its marker.
func (q *quotas) finish(ctx context.Context, sale subjects.Sale) error {
	if err := q.publish(ctx, sale); err != nil {
		return fmt.Errorf("record sale %s: %w", sale.ID, err)
	}
	if err := q.kv.Delete(ctx, subjects.SaleKeyPrefix+sale.ID); err != nil {
		return fmt.Errorf("sale %s recorded, its marker stays: %w", sale.ID, err)
	}
	return nil
}

// finishPending completes the sales a stopped process left between taking their units and
// recording them: each marker's sale is published (the duplicate window drops one that was
// recorded already) and its marker deleted. It runs at start, before the till serves.
func (q *quotas) finishPending(ctx context.Context) error {
	keys, err := q.kv.ListKeysFiltered(ctx, subjects.SaleKeyPrefix+">")
	if err != nil {
		return err
	}
	for key := range keys.Keys() {
		e, err := q.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		var sale subjects.Sale
		if err := json.Unmarshal(e.Value(), &sale); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		if _, ok, err := q.recorded(ctx, sale.ID); err != nil {
			return err
		} else if ok {
			if err := q.kv.Delete(ctx, key); err != nil {
				return err
			}
			continue
		}
		if err := q.finish(ctx, sale); err != nil {
			return err
		}
	}
	return nil
}

// saleLines checks the lines and merges those of one SKU, sorted by SKU (so two sales take
// their quotas in one order).
func saleLines(in []subjects.SaleLine) ([]subjects.SaleLine, error) {
	var p subjects.Problems
	if len(in) == 0 || len(in) > maxLines {
		p.Add("lines", "must hold 1.."+strconv.Itoa(maxLines)+" lines")
	}
	by := map[string]int64{}
	for i, l := range in {
		sku := strings.TrimSpace(l.SKU)
		p.Add("lines["+strconv.Itoa(i)+"].sku", subjects.CheckSKU(sku))
		if l.Quantity < 1 || l.Quantity > maxQuantity {
			p.Add("lines["+strconv.Itoa(i)+"].quantity", "must be 1.."+strconv.Itoa(maxQuantity))
		}
		by[sku] += l.Quantity
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	out := make([]subjects.SaleLine, 0, len(by))
	for sku, n := range by {
		out = append(out, subjects.SaleLine{SKU: sku, Quantity: n})
	}
	slices.SortFunc(out, func(a, b subjects.SaleLine) int { return strings.Compare(a.SKU, b.SKU) })
	return out, nil
}
