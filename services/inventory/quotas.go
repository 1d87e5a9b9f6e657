package inventory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/subjects"
)

// Edge sites' quotas at the hub. A grant takes units out of the hub's stock (never below what
// is reserved: Levels.Take) and adds them to a site's quota in one transaction, with the grant
// numbered per site and SKU and published to QUOTAS by the outbox; the site mirrors its
// grants and applies each once. The site's sales come back through SITE_SALES, and each is
// recorded once (site_sales, keyed by the sale id, in the transaction that counts it).

// MaxGrant bounds one grant.
const MaxGrant = 1_000_000

// ErrQuotaShort is a grant larger than the hub's available stock.
var ErrQuotaShort = errors.New("not enough stock to grant")

func scanQuota(row pgx.Row, q *subjects.QuotaLine) error {
	return row.Scan(&q.Site, &q.SKU, &q.Granted, &q.Sold, &q.Returned, &q.Seq)
}

const quotaColumns = `site, sku, granted, sold, returned, seq`

// Grant moves qty units of sku from the hub's stock to site's quota.
func (s *Store) Grant(ctx context.Context, site, sku string, qty int64) (subjects.QuotaLine, error) {
	var out subjects.QuotaLine
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		ls, err := lockLevels(ctx, tx, []string{sku})
		if err != nil {
			return err
		}
		if ls[sku] == nil {
			return ErrNotFound
		}
		if short := ls.Take([]Line{{SKU: sku, Quantity: qty}}); len(short) > 0 {
			return ErrQuotaShort
		}
		err = scanQuota(tx.QueryRow(ctx, `insert into inventory.site_quotas (site, sku, granted, seq) values ($1, $2, $3, 1)
			on conflict (site, sku) do update set granted = site_quotas.granted + excluded.granted, seq = site_quotas.seq + 1
			returning `+quotaColumns, site, sku, qty), &out)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `insert into inventory.quota_grants (site, sku, seq, quantity) values ($1, $2, $3, $4)`,
			site, sku, out.Seq, qty); err != nil {
			return err
		}
		id := outbox.NewID()
		ev := outbox.Event{ID: id, Subject: subjects.EvtQuotaGranted.Subject(site), Payload: subjects.QuotaGranted{
			EventID: id.String(), OccurredAt: time.Now().UTC(), Site: site, SKU: sku, Seq: out.Seq, Quantity: qty}}
		if err := outbox.Add(ctx, tx, Schema, ev); err != nil {
			return err
		}
		return record(ctx, tx, ls, nil, nil)
	})
	if err == nil {
		s.counts.grant(site, qty)
	}
	return out, err
}

// Sites are the sites ever granted a quota: the sources of SITE_SALES.
func (s *Store) Sites(ctx context.Context) ([]string, error) {
	rows, err := s.db.Query(ctx, `select distinct site from inventory.site_quotas order by site`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// Quotas are site's quota lines and the number of its sales recorded.
func (s *Store) Quotas(ctx context.Context, site string) ([]subjects.QuotaLine, int64, error) {
	rows, err := s.db.Query(ctx, `select `+quotaColumns+` from inventory.site_quotas where site = $1 order by sku`, site)
	if err != nil {
		return nil, 0, err
	}
	lines, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (subjects.QuotaLine, error) {
		var q subjects.QuotaLine
		return q, scanQuota(r, &q)
	})
	if err != nil {
		return nil, 0, err
	}
	var n int64
	err = s.db.QueryRow(ctx, `select count(*) from inventory.site_sales where site = $1`, site).Scan(&n)
	return lines, n, err
}

// recordSale records a site's sale once and counts its lines against the site's quotas; a
// sale recorded already changes nothing.
func (s *Store) recordSale(ctx context.Context, tx pgx.Tx, ev subjects.SiteSale) error {
	if ev.EventID == "" || subjects.CheckSite(ev.Site) != "" || len(ev.Lines) == 0 {
		return consumer.Permanent(fmt.Errorf("sale %q of site %q: unreadable", ev.EventID, ev.Site))
	}
	lines, _ := json.Marshal(ev.Lines)
	tag, err := tx.Exec(ctx, `insert into inventory.site_sales (sale_id, site, lines, sold_at) values ($1, $2, $3, $4)
		on conflict do nothing`, ev.EventID, ev.Site, lines, ev.OccurredAt)
	if err != nil || tag.RowsAffected() == 0 {
		return err // recorded before: counted then
	}
	pg.AfterCommit(ctx, func() { s.counts.sale(ev.Site) })
	for _, l := range ev.Lines {
		if _, err := tx.Exec(ctx, `insert into inventory.site_quotas (site, sku, sold) values ($1, $2, $3)
			on conflict (site, sku) do update set sold = site_quotas.sold + excluded.sold`, ev.Site, l.SKU, l.Quantity); err != nil {
			return err
		}
	}
	return nil
}

// Return gives back to the hub's stock the units of sku unaccounted for at site, as the caller
// measured them (reconcile checks when that may be done): in one transaction the quota's
// returned count and the stock's on_hand rise by the same units.
func (s *Store) Return(ctx context.Context, site, sku string, remaining int64) (subjects.QuotaLine, error) {
	var out subjects.QuotaLine
	var gaveBack int64
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		ls, err := lockLevels(ctx, tx, []string{sku})
		if err != nil {
			return err
		}
		if err := scanQuota(tx.QueryRow(ctx, `select `+quotaColumns+` from inventory.site_quotas where site = $1 and sku = $2 for update`,
			site, sku), &out); errors.Is(err, pgx.ErrNoRows) || ls[sku] == nil {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		lost := out.Granted - out.Sold - out.Returned - remaining
		if lost <= 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, `update inventory.site_quotas set returned = returned + $3 where site = $1 and sku = $2`,
			site, sku, lost); err != nil {
			return err
		}
		out.Returned += lost
		gaveBack = lost
		ls.Restore([]Line{{SKU: sku, Quantity: lost}})
		return record(ctx, tx, ls, nil, nil)
	})
	if err == nil {
		s.counts.giveBack(site, gaveBack)
	}
	return out, err
}

// siteView is what the hub reads of a site through its JetStream domain: its remaining quota
// per SKU, the sales its SALES stream holds and the sales it is still recording.
type siteView struct {
	remaining map[string]int64
	sales     int64
	pending   int
}

// readSite reads site's view through its domain within a few seconds; an error when the site
// cannot be reached. The order matters: the remaining counts first, then the sales being
// recorded (markers), then the count of sales recorded at the site. A sale whose units the
// first read saw taken had its marker before; by the second read the marker is either still
// there (pending) or gone because the sale is in SALES, and then the third read counts it: so
// units taken by a sale in flight are never mistaken for units lost.
func readSite(ctx context.Context, js jetstream.JetStream, site string) (siteView, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out := siteView{remaining: map[string]int64{}}
	sjs, err := jetstream.NewWithDomain(js.Conn(), bus.SiteDomain(site))
	if err != nil {
		return out, err
	}
	kv, err := sjs.KeyValue(ctx, bus.BucketQuota)
	if err != nil {
		return out, fmt.Errorf("site %s: %w", site, err)
	}
	quotaKeys, err := listKeys(ctx, kv, subjects.QuotaKeyPrefix)
	if err != nil {
		return out, fmt.Errorf("site %s: %w", site, err)
	}
	for _, key := range quotaKeys {
		e, err := kv.Get(ctx, key)
		if err != nil {
			return out, fmt.Errorf("site %s: %s: %w", site, key, err)
		}
		var it subjects.SiteQuotaItem
		if err := json.Unmarshal(e.Value(), &it); err != nil {
			return out, fmt.Errorf("site %s: %s: %w", site, key, err)
		}
		out.remaining[it.SKU] = it.Available
	}
	markers, err := listKeys(ctx, kv, subjects.SaleKeyPrefix)
	if err != nil {
		return out, fmt.Errorf("site %s: %w", site, err)
	}
	out.pending = len(markers)
	st, err := sjs.Stream(ctx, subjects.StreamSales)
	if err != nil {
		return out, fmt.Errorf("site %s: %w", site, err)
	}
	out.sales = int64(st.CachedInfo().State.Msgs)
	return out, nil
}

// listKeys lists the keys of kv under prefix; none is not an error.
func listKeys(ctx context.Context, kv jetstream.KeyValue, prefix string) ([]string, error) {
	keys, err := kv.ListKeysFiltered(ctx, prefix+">")
	if err != nil {
		return nil, err
	}
	var out []string
	for k := range keys.Keys() {
		out = append(out, k)
	}
	return out, nil
}

var errInTransit = subjects.Errorf(http.StatusConflict, "sales_in_transit",
	"the site has sales the hub has not recorded yet, or is recording one: reconcile once they arrived")

// inTransit says why the units unaccounted for at a site may not be returned yet; nil when
// they may: every sale the site holds is recorded here and none is being recorded there.
func inTransit(v siteView, recorded int64) error {
	if v.sales != recorded || v.pending > 0 {
		e := *errInTransit
		e.Message += " (site " + strconv.FormatInt(v.sales, 10) + " sales, hub " + strconv.FormatInt(recorded, 10) +
			", " + strconv.Itoa(v.pending) + " being recorded)"
		return &e
	}
	return nil
}
