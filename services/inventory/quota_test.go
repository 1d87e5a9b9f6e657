package inventory_test

import (
	"testing"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/services/inventory"
	"github.com/souk/souk/subjects"
)

// A grant takes its units out of the hub's stock, never below what is reserved, numbers the
// grants of a site and SKU, and makes SITE_SALES source the site; a site that cannot be
// reached is reported so and gets nothing returned.
func TestQuotaGrant(t *testing.T) {
	e := newEnv(t, inventory.Config{})
	e.set("LAMP-1", 10)
	if _, err := e.reserve(newOrder(), "LAMP-1", 3); err != nil {
		t.Fatal(err)
	}
	grant := func(site string, qty int64) (subjects.QuotaLine, error) {
		return subjects.QuotaGrant.Call(e.staff, e.nc, subjects.QuotaGrantRequest{Site: site, SKU: "LAMP-1", Quantity: qty})
	}
	q, err := grant("north", 4)
	if err != nil || q.Granted != 4 || q.Seq != 1 || q.Sold != 0 {
		t.Fatalf("grant: %+v %v", q, err)
	}
	e.wantStock("LAMP-1", 6, 3)
	_, err = grant("north", 4) // 3 available: 6 on hand, 3 reserved
	expect.Error(t, err, 409, "out_of_stock", "")
	e.wantStock("LAMP-1", 6, 3)
	if q, err = grant("north", 3); err != nil || q.Granted != 7 || q.Seq != 2 {
		t.Fatalf("a second grant: %+v %v", q, err)
	}
	_, err = grant("No.Site", 1)
	expect.Error(t, err, 400, "", "site")
	_, err = subjects.QuotaGrant.Call(e.customer, e.nc, subjects.QuotaGrantRequest{Site: "north", SKU: "LAMP-1", Quantity: 1})
	expect.Error(t, err, 403, "", "")

	s, err := e.js.Stream(e.ctx, subjects.StreamSiteSales)
	if err != nil {
		t.Fatal(err)
	}
	if src := s.CachedInfo().Config.Sources; len(src) != 1 || src[0].Name != subjects.StreamSales || src[0].External == nil ||
		src[0].External.APIPrefix != "$JS.site-north.API" {
		t.Fatalf("SITE_SALES sources: %+v", src)
	}

	r, err := subjects.QuotaReport.Call(e.staff, e.nc, subjects.SiteRequest{Site: "north"})
	if err != nil || r.Reachable || len(r.Lines) != 1 || r.Lines[0].Granted != 7 || r.Lines[0].Remaining != nil {
		t.Fatalf("report of an unreachable site: %+v %v", r, err)
	}
	_, err = subjects.QuotaReturn.Call(e.staff, e.nc, subjects.QuotaReturnRequest{Site: "north", SKU: "LAMP-1"})
	expect.Error(t, err, 409, "site_unreachable", "")
	e.wantStock("LAMP-1", 3, 3)
}
