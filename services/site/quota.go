package site

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/platform/background"
	"github.com/souk/souk/subjects"
)

// Quotas at a site. The site's quota bucket holds, per SKU, the units the site may still sell
// and the sequence of the last grant applied; every change is a compare-and-set (KV Update
// with the revision read), so two tills selling the last unit at once cannot both take it,
// and no count goes below zero. The hub can never oversell through a site: the units were
// taken from its stock when it granted them.

// casTries bounds the compare-and-set retries of one change under contention.
const casTries = 100

// saleNamespace derives a sale's id from its site and Idempotency-Key.
var saleNamespace = uuid.MustParse("6b1f2b0e-5d0c-4c57-9a53-3f5de0e4a8a1")

var (
	errNoKey      = subjects.BadRequest("Idempotency-Key", "is required: it names the sale, so that a retry sells once")
	errNotHere    = subjects.Errorf(http.StatusNotFound, "site_not_here", "this is not that site's till")
	errInProgress = subjects.Errorf(http.StatusConflict, "sale_in_progress", "a sale with this Idempotency-Key is being recorded")
)

// quotas is the site's side of quotas and sales.
type quotas struct {
	site string
	js   jetstream.JetStream
	kv   jetstream.KeyValue
}

// open binds the quota bucket (created with the site's streams by bus.EnsureSite).
func (q *quotas) open(ctx context.Context) error {
	kv, err := q.js.KeyValue(ctx, bus.BucketQuota)
	if err != nil {
		return fmt.Errorf("quota bucket: %w", err)
	}
	q.kv = kv
	return nil
}

// change applies fn to the SKU's quota by compare-and-set, retrying on a concurrent change;
// fn returns the new value or an error that stops the change (nothing written).
func (q *quotas) change(ctx context.Context, sku string, fn func(cur subjects.SiteQuotaItem) (subjects.SiteQuotaItem, error)) error {
	key := subjects.QuotaKeyPrefix + sku
	for range casTries {
		cur := subjects.SiteQuotaItem{SKU: sku}
		var rev uint64
		e, err := q.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return err
		default:
			if err := json.Unmarshal(e.Value(), &cur); err != nil {
				return fmt.Errorf("quota %s: %w", sku, err)
			}
			rev = e.Revision()
		}
		next, err := fn(cur)
		if err != nil {
			return err
		}
		body, _ := json.Marshal(next)
		if rev == 0 {
			_, err = q.kv.Create(ctx, key, body)
		} else {
			_, err = q.kv.Update(ctx, key, body, rev)
		}
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue // someone changed it first: read again
		}
		return err
	}
	return fmt.Errorf("quota %s: %d concurrent changes in a row", sku, casTries)
}

// applyGrant adds a grant to its SKU's quota unless it was applied already (its Seq is not
// past the last applied): a grant seen twice (a mirror replayed, a restart) adds once.
func (q *quotas) applyGrant(ctx context.Context, g subjects.QuotaGranted) error {
	return q.change(ctx, g.SKU, func(cur subjects.SiteQuotaItem) (subjects.SiteQuotaItem, error) {
		if g.Seq <= cur.Seq {
			return cur, errApplied
		}
		cur.Available += g.Quantity
		cur.Seq = g.Seq
		return cur, nil
	})
}

var errApplied = errors.New("grant applied already")

// followGrants applies every grant of the site's mirror of QUOTAS, from the first: the
// quota values say which were applied. It runs until ctx ends.
func (q *quotas) followGrants(ctx context.Context) error {
	cons, err := q.js.OrderedConsumer(ctx, subjects.StreamQuotas, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return fmt.Errorf("follow the quota grants: %w", err)
	}
	msgs, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("follow the quota grants: %w", err)
	}
	defer msgs.Stop()
	background.ReportUp(ctx)
	go func() { <-ctx.Done(); msgs.Stop() }()
	for {
		m, err := msgs.Next()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("follow the quota grants: %w", err)
		}
		g, err := subjects.EvtQuotaGranted.Decode(m.Data())
		if err != nil || g.Site != q.site {
			continue // not a grant of this site: nothing to apply
		}
		for {
			err := q.applyGrant(ctx, g)
			if err == nil || errors.Is(err, errApplied) {
				break
			}
			if ctx.Err() != nil {
				return nil
			}
			background.ReportDown(ctx, err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
		}
		background.ReportUp(ctx)
	}
}

// list is the site's remaining quota per SKU.
func (q *quotas) list(ctx context.Context, req subjects.SiteRequest) (subjects.SiteQuotas, error) {
	if req.Site != q.site {
		return subjects.SiteQuotas{}, errNotHere
	}
	out := subjects.SiteQuotas{Site: q.site, Items: []subjects.SiteQuotaItem{}}
	keys, err := q.kv.ListKeysFiltered(ctx, subjects.QuotaKeyPrefix+">")
	if err != nil {
		return out, err
	}
	for key := range keys.Keys() {
		if e, err := q.kv.Get(ctx, key); err == nil {
			var it subjects.SiteQuotaItem
			if json.Unmarshal(e.Value(), &it) == nil {
				out.Items = append(out.Items, it)
			}
		}
	}
	slices.SortFunc(out.Items, func(a, b subjects.SiteQuotaItem) int { return strings.Compare(a.SKU, b.SKU) })
	return out, nil
}

// publish records sale in the site's SALES stream, its id as Nats-Msg-Id.
func (q *quotas) publish(ctx context.Context, sale subjects.Sale) error {
	body, err := json.Marshal(subjects.SiteSale{EventID: sale.ID, OccurredAt: sale.SoldAt, Site: sale.Site, Lines: sale.Lines})
	if err != nil {
		return err
	}
	msg := &nats.Msg{Subject: subjects.SaleSubject(sale.Site, sale.ID), Data: body, Header: nats.Header{}}
	_, err = q.js.PublishMsg(ctx, msg, jetstream.WithMsgID(sale.ID))
	return err
}

// recorded returns the sale id as the SALES stream holds it; false when it holds none.
func (q *quotas) recorded(ctx context.Context, id string) (subjects.Sale, bool, error) {
	s, err := q.js.Stream(ctx, subjects.StreamSales)
	if err != nil {
		return subjects.Sale{}, false, err
	}
	m, err := s.GetLastMsgForSubject(ctx, subjects.SaleSubject(q.site, id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return subjects.Sale{}, false, nil
	}
	if err != nil {
		return subjects.Sale{}, false, err
	}
	var ev subjects.SiteSale
	if err := json.Unmarshal(m.Data, &ev); err != nil {
		return subjects.Sale{}, false, err
	}
	return subjects.Sale{ID: ev.EventID, Site: ev.Site, Lines: ev.Lines, SoldAt: ev.OccurredAt}, true, nil
}
