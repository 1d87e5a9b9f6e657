// Package site is the shop at an edge site: `souk run --leaf <hub> --site <id>` runs it
// beside the gateway, on the site's embedded NATS server (a leaf node of the hub, JetStream
// domain site-<id>). It keeps selling while the link to the hub is cut:
//
//   - the catalog's reads (product get, search and browse, the category tree) are served on
//     the catalog's own subjects from a view built from the site's mirror of the hub's
//     product documents (bucket products): the gateway at the site works unchanged, a leaf
//     delivers a request to a queue member at the site first, and the hub's catalog answers
//     only when the site's does not;
//   - sales at the till take units from the site's stock quota (bucket quota) by
//     compare-and-set, never below zero, and are recorded in the site's SALES stream on a
//     subject that names the site, which the hub sources when the link is up;
//   - quota grants come down from the hub by a mirror of its QUOTAS stream, filtered to this
//     site, each applied exactly once.
//
// It keeps nothing in PostgreSQL: the site's JetStream is its store.
package site

import (
	"context"

	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/platform/rpc"
	"github.com/souk/souk/subjects"
)

// Config configures the site service.
type Config struct {
	// Site is the site's id; its JetStream domain is site-<id>.
	Site string
	// DefaultLocale is the catalog's default language: the view a product is shown in when
	// the caller's language has none.
	DefaultLocale string
	// DefaultCurrency is the currency of a price filter that names none.
	DefaultCurrency string
}

// Service declares the site service.
func Service(cfg Config, deps kit.Deps) (kit.Service, error) {
	v := newView(cfg.DefaultLocale, cfg.DefaultCurrency)
	q := &quotas{site: cfg.Site, js: deps.JS}
	return kit.Service{
		Name: "site", Version: "0.1.0", Description: "the shop at edge site " + cfg.Site + ": catalog reads from a mirror, sales from a quota",
		Endpoints: []rpc.Binding{
			rpc.BindRaw(subjects.ProductGet, v.productGet),
			rpc.Bind(subjects.ProductSearch, v.productSearch),
			rpc.Bind(subjects.CategoryList, v.categoryList),
			rpc.Bind(subjects.SiteSaleCreate, q.sell),
			rpc.Bind(subjects.SiteQuotaList, q.list),
		},
		Loops: []kit.Loop{
			{Name: "catalog view", Run: func(ctx context.Context) error { return v.run(ctx, deps.JS) }},
			{Name: "quota grants", Run: q.followGrants},
		},
		Start: func(ctx context.Context) error {
			if err := q.open(ctx); err != nil {
				return err
			}
			return q.finishPending(ctx)
		},
	}, nil
}
