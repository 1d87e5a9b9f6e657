package gateway

import (
	"github.com/gofiber/fiber/v2"

	"github.com/souk/souk/subjects"
)

// edgeRoutes are the routes of edge sites' stock quotas: granting and reconciling them at the
// hub (the inventory service), selling from them at a site's till (the site service, which
// the gateway at the site reaches first).
func (g *Gateway) edgeRoutes() []Route {
	site := func(c *fiber.Ctx, r *subjects.SiteRequest) error { r.Site = c.Params("site"); return nil }
	return []Route{
		{Method: fiber.MethodPost, Path: "/v1/admin/sites/:site/quotas", Tag: "admin", Summary: "Grant an edge site a quota of a SKU from the hub's stock",
			Errors: []int{404, 409},
			Call: Forward(subjects.QuotaGrant, Input[subjects.QuotaGrantRequest]{Body: true,
				Bind: func(c *fiber.Ctx, r *subjects.QuotaGrantRequest) error { r.Site = c.Params("site"); return nil }})},
		{Method: fiber.MethodGet, Path: "/v1/admin/sites/:site/quotas", Tag: "admin", Summary: "Reconcile an edge site's quotas: granted, sold, returned, remaining at the site",
			Call: Forward(subjects.QuotaReport, Input[subjects.SiteRequest]{Bind: site})},
		{Method: fiber.MethodPost, Path: "/v1/admin/sites/:site/quotas/:sku/return", Tag: "admin",
			Summary: "Return a SKU's units unaccounted for at an edge site to the hub's stock",
			Errors:  []int{404, 409},
			Call: Forward(subjects.QuotaReturn, Input[subjects.QuotaReturnRequest]{Bind: func(c *fiber.Ctx, r *subjects.QuotaReturnRequest) error {
				r.Site, r.SKU = c.Params("site"), c.Params("sku")
				return nil
			}})},
		{Method: fiber.MethodPost, Path: "/v1/sites/:site/sales", Tag: "sites", Summary: "Sell at an edge site's till from its quota (Idempotency-Key names the sale)",
			Status: fiber.StatusCreated, Errors: []int{404, 409}, Headers: []Param{idempotencyKeyRequired},
			Call: Forward(subjects.SiteSaleCreate, Input[subjects.SaleRequest]{Body: true,
				Bind: func(c *fiber.Ctx, r *subjects.SaleRequest) error { r.Site = c.Params("site"); return nil }})},
		{Method: fiber.MethodGet, Path: "/v1/sites/:site/quotas", Tag: "sites", Summary: "An edge site's remaining quota per SKU, as the site holds it",
			Errors: []int{404},
			Call:   Forward(subjects.SiteQuotaList, Input[subjects.SiteRequest]{Bind: site})},
	}
}
