package inventory

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/platform/trace"
	"github.com/souk/souk/subjects"
)

// quotaHandlers serve the quota endpoints and keep SITE_SALES sourcing every site granted a
// quota.
type quotaHandlers struct {
	store *Store
	js    jetstream.JetStream
	log   zerolog.Logger
	// replicas is SITE_SALES's replica count (SOUK_NATS_REPLICAS, kit.Deps.Replicas).
	replicas int
}

// ensureSources makes SITE_SALES, and the hub's LOGS when there is one, source every site
// granted a quota: at start, and after a grant to a new site (no restart needed to add a
// site).
func (h *quotaHandlers) ensureSources(ctx context.Context) error {
	sites, err := h.store.Sites(ctx)
	if err != nil {
		return err
	}
	h.store.counts.sites(sites)
	return errors.Join(bus.EnsureSiteSales(ctx, h.js, sites, bus.Replicas(h.replicas)), bus.EnsureLogSources(ctx, h.js, sites))
}

func checkSiteSKU(site, sku string) error {
	var p subjects.Problems
	p.Add("site", subjects.CheckSite(site))
	p.Add("sku", subjects.CheckSKU(sku))
	return p.Err()
}

func (h *quotaHandlers) grant(ctx context.Context, req subjects.QuotaGrantRequest) (subjects.QuotaLine, error) {
	sku := strings.TrimSpace(req.SKU)
	if err := checkSiteSKU(req.Site, sku); err != nil {
		return subjects.QuotaLine{}, err
	}
	if req.Quantity < 1 || req.Quantity > MaxGrant {
		return subjects.QuotaLine{}, subjects.BadRequest("quantity", "must be 1.."+strconv.Itoa(MaxGrant))
	}
	q, err := h.store.Grant(ctx, req.Site, sku, req.Quantity)
	if err != nil {
		return subjects.QuotaLine{}, quotaError(err)
	}
	if q.Seq == 1 {
		// A first grant of this SKU, perhaps of a new site: make sure its sales come back.
		// The grant stands if this fails; the next start (or grant) adds the source.
		if err := h.ensureSources(ctx); err != nil {
			trace.Log(ctx, &h.log).Error().Err(err).Str("site", req.Site).Msg("inventory: add the site's sales to SITE_SALES")
		}
	}
	return q, nil
}

// report reconciles site: the hub's record of each quota, and the site's own remaining
// counts when it can be reached through its domain.
func (h *quotaHandlers) report(ctx context.Context, req subjects.SiteRequest) (subjects.QuotaReportReply, error) {
	if msg := subjects.CheckSite(req.Site); msg != "" {
		return subjects.QuotaReportReply{}, subjects.BadRequest("site", msg)
	}
	lines, recorded, err := h.store.Quotas(ctx, req.Site)
	if err != nil {
		return subjects.QuotaReportReply{}, err
	}
	out := subjects.QuotaReportReply{Site: req.Site, Lines: lines, RecordedSales: recorded}
	if out.Lines == nil {
		out.Lines = []subjects.QuotaLine{}
	}
	v, err := readSite(ctx, h.js, req.Site)
	if err != nil {
		return out, nil // unreachable: the hub's record alone
	}
	out.Reachable, out.SiteSales = true, &v.sales
	for i := range out.Lines {
		l := &out.Lines[i]
		rem := v.remaining[l.SKU]
		un := l.Granted - l.Sold - l.Returned - rem
		l.Remaining, l.Unaccounted = &rem, &un
	}
	return out, nil
}

// giveBack returns the units of a SKU unaccounted for at a site to the hub's stock. The rule:
// only while the site is reachable and every sale it holds is recorded here, with none being
// recorded there; then granted - sold - returned - remaining units were taken from the quota
// without a sale (a store lost at the site) and can never be sold or counted again.
func (h *quotaHandlers) giveBack(ctx context.Context, req subjects.QuotaReturnRequest) (subjects.QuotaLine, error) {
	sku := strings.TrimSpace(req.SKU)
	if err := checkSiteSKU(req.Site, sku); err != nil {
		return subjects.QuotaLine{}, err
	}
	v, err := readSite(ctx, h.js, req.Site)
	if err != nil {
		return subjects.QuotaLine{}, subjects.Errorf(http.StatusConflict, "site_unreachable", "the site cannot be reached: reconcile when its link is up")
	}
	_, recorded, err := h.store.Quotas(ctx, req.Site)
	if err != nil {
		return subjects.QuotaLine{}, err
	}
	if err := inTransit(v, recorded); err != nil {
		return subjects.QuotaLine{}, err
	}
	q, err := h.store.Return(ctx, req.Site, sku, v.remaining[sku])
	if err != nil {
		return subjects.QuotaLine{}, quotaError(err)
	}
	rem := v.remaining[sku]
	un := q.Granted - q.Sold - q.Returned - rem
	q.Remaining, q.Unaccounted = &rem, &un
	return q, nil
}

func quotaError(err error) error {
	if errors.Is(err, ErrQuotaShort) {
		return subjects.Errorf(http.StatusConflict, "out_of_stock", "the hub has fewer units available than the grant")
	}
	return wireError(err)
}
