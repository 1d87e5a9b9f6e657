package subjects

import (
	"encoding/json"
	"time"
)

// Edge sites: a site runs its own JetStream domain on a leaf node of the hub. Down to the
// site go the catalog's documents (the bucket products, mirrored) and the quota grants (the
// QUOTAS stream, mirrored, filtered to the site); up to the hub go the site's sales (its
// SALES stream, sourced into the hub's SITE_SALES).

// Stream names of the edge. QUOTAS is the hub's (souk.evt.quota.>); SALES is each site's
// own, in its domain, on souk.evt.sale.<site>.> only; SITE_SALES is the hub's, with no
// subjects of its own: its sources are the sites' SALES streams.
const (
	StreamQuotas    = "QUOTAS"
	StreamSales     = "SALES"
	StreamSiteSales = "SITE_SALES"
)

// Keys of the hub's products bucket (the catalog writes it, each site mirrors it).
const (
	// DocCategories is the key of the category tree (CategoryDocument).
	DocCategories = "categories"
	// DocProductPrefix starts the key of each listed product's document: p.<product id>.
	DocProductPrefix = "p."
)

// CatalogDocument is what a site needs of one listed product to show and search it while cut
// off: the shoppers' replies (Product) by locale, as the catalog serves them.
type CatalogDocument struct {
	ID    string                     `json:"id"`
	Views map[string]json.RawMessage `json:"views"`
}

// CategoryDocument is the whole category tree, flat, with translations (staff form).
type CategoryDocument struct {
	Items []Category `json:"items"`
}

// The quota endpoints of the inventory service (the hub) and the site service (each site).
var (
	// QuotaGrant moves units of a SKU from the hub's stock to an edge site's quota (staff):
	// 409 out_of_stock when the hub has fewer available.
	QuotaGrant = Endpoint[QuotaGrantRequest, QuotaLine]{Subject: "souk.inventory.v1.quota.grant", Access: Require(PermInventoryWrite)}
	// QuotaReport reconciles a site's quotas (staff): granted, sold (as the hub recorded),
	// returned, and the site's remaining as the site holds it (when the site is reachable).
	QuotaReport = Endpoint[SiteRequest, QuotaReportReply]{Subject: "souk.inventory.v1.quota.report", Access: Require(PermInventoryWrite)}
	// QuotaReturn returns a SKU's units unaccounted for at a site to the hub's stock (staff):
	// 409 while the site is unreachable or has sales the hub has not recorded yet.
	QuotaReturn = Endpoint[QuotaReturnRequest, QuotaLine]{Subject: "souk.inventory.v1.quota.return", Access: Require(PermInventoryWrite)}
	// SiteSaleCreate sells at an edge site's till from the site's quota (staff; an
	// Idempotency-Key names the sale): 409 quota_exhausted naming the SKU short.
	SiteSaleCreate = Endpoint[SaleRequest, Sale]{Subject: "souk.site.v1.sale.create", Access: Require(PermInventoryWrite)}
	// SiteQuotaList is the site's remaining quota per SKU, as the site holds it (staff).
	SiteQuotaList = Endpoint[SiteRequest, SiteQuotas]{Subject: "souk.site.v1.quota.list", Access: Require(PermInventoryWrite)}
)

// SiteRequest names an edge site.
type SiteRequest struct {
	Site string `json:"site" path:"site"`
}

// QuotaGrantRequest is the body of POST /v1/admin/sites/{site}/quotas.
type QuotaGrantRequest struct {
	Site     string `json:"site" path:"site"`
	SKU      string `json:"sku" required:"true"`
	Quantity int64  `json:"quantity" required:"true"`
}

// QuotaReturnRequest is the body of POST /v1/admin/sites/{site}/quotas/{sku}/return.
type QuotaReturnRequest struct {
	Site string `json:"site" path:"site"`
	SKU  string `json:"sku" path:"sku"`
}

// QuotaLine is one SKU's quota at one site, as the hub records it.
type QuotaLine struct {
	Site string `json:"site" required:"true"`
	SKU  string `json:"sku" required:"true"`
	// Granted is every unit granted; Sold every unit of the site's sales the hub recorded;
	// Returned every unit given back to the hub's stock by reconciliation.
	Granted  int64 `json:"granted" required:"true"`
	Sold     int64 `json:"sold" required:"true"`
	Returned int64 `json:"returned" required:"true"`
	// Seq is the sequence of the last grant (each grant of a site and SKU numbers 1, 2, …).
	Seq int64 `json:"seq" required:"true"`
	// Remaining is the site's own count of units left, when the site was reachable.
	Remaining *int64 `json:"remaining,omitempty"`
	// Unaccounted = Granted - Sold - Returned - Remaining: units taken at the site whose sale
	// the hub has not recorded (in transit, or lost at the site); when the site was reachable.
	Unaccounted *int64 `json:"unaccounted,omitempty"`
}

// QuotaReportReply is a site's quotas with the state of its sales' journey to the hub.
type QuotaReportReply struct {
	Site  string      `json:"site" required:"true"`
	Lines []QuotaLine `json:"lines" required:"true"`
	// Reachable says the site answered through its JetStream domain.
	Reachable bool `json:"reachable" required:"true"`
	// SiteSales is the number of sales the site's SALES stream holds (when reachable);
	// RecordedSales the number the hub recorded. While they differ sales are in transit.
	SiteSales     *int64 `json:"site_sales,omitempty"`
	RecordedSales int64  `json:"recorded_sales" required:"true"`
}

// SaleLine is one SKU of a sale at a site.
type SaleLine struct {
	SKU      string `json:"sku" required:"true"`
	Quantity int64  `json:"quantity" required:"true"`
}

// SaleRequest is the body of POST /v1/sites/{site}/sales: the lines rung up at the till.
type SaleRequest struct {
	Site  string     `json:"site" path:"site"`
	Lines []SaleLine `json:"lines" required:"true"`
}

// Sale is a sale recorded at a site.
type Sale struct {
	ID    string     `json:"id" required:"true"`
	Site  string     `json:"site" required:"true"`
	Lines []SaleLine `json:"lines" required:"true"`
	// SoldAt is when the site recorded it.
	SoldAt time.Time `json:"sold_at" required:"true"`
}

// SiteQuotas is a site's remaining quota per SKU.
type SiteQuotas struct {
	Site  string          `json:"site" required:"true"`
	Items []SiteQuotaItem `json:"items" required:"true"`
}

// Keys of a site's quota bucket: quota.<sku> holds a SiteQuotaItem, sale.<id> a Sale being
// recorded (from before its units are taken until it is in the site's SALES stream).
const (
	QuotaKeyPrefix = "quota."
	SaleKeyPrefix  = "sale."
)

// SiteQuotaItem is one SKU's remaining units at a site and the last grant applied there.
type SiteQuotaItem struct {
	SKU       string `json:"sku" required:"true"`
	Available int64  `json:"available" required:"true"`
	Seq       int64  `json:"seq" required:"true"`
}

// Edge events. A grant is published by the hub's inventory on souk.evt.quota.granted.<site>
// (the site's mirror filters its own); a sale by the site on souk.evt.sale.<site>.<sale id>,
// a subject no other site's stream holds, so the hub records each sale once.
var (
	EvtQuotaGranted = event[QuotaGranted](StreamQuotas, "souk.evt.quota.granted")
	// EvtSale stands for the sales of every site (souk.evt.sale.>), as SITE_SALES holds them.
	EvtSale = Event[SiteSale]{EventKind{Stream: StreamSiteSales, Kind: "souk.evt.sale", Family: true}}
)

// SaleSubject is the subject of sale id at site: souk.evt.sale.<site>.<id>.
func SaleSubject(site, id string) string { return EvtSale.Kind + "." + site + "." + id }

// SiteSalesFilter is the subject space of site's SALES stream: souk.evt.sale.<site>.>.
func SiteSalesFilter(site string) string { return EvtSale.Kind + "." + site + ".>" }

// QuotaGranted is the payload of quota.granted: Quantity units of SKU added to Site's quota.
// Seq numbers the grants of one site and SKU from 1, so a site applies each exactly once.
type QuotaGranted struct {
	EventID    string    `json:"event_id"`
	OccurredAt time.Time `json:"occurred_at"`
	Site       string    `json:"site"`
	SKU        string    `json:"sku"`
	Seq        int64     `json:"seq"`
	Quantity   int64     `json:"quantity"`
}

// SiteSale is the payload of a sale, as the site records it; EventID is the sale's id.
type SiteSale struct {
	EventID    string     `json:"event_id"`
	OccurredAt time.Time  `json:"occurred_at"`
	Site       string     `json:"site"`
	Lines      []SaleLine `json:"lines"`
}

// CheckSite says what is wrong with an edge site's id (1 to 32 of a-z 0-9 -, not starting
// with -: it names a JetStream domain and subjects); "" when nothing is.
func CheckSite(id string) string {
	if len(id) < 1 || len(id) > 32 || id[0] == '-' {
		return "must be 1 to 32 of a-z 0-9 - (not starting with -)"
	}
	for _, r := range id {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return "must be 1 to 32 of a-z 0-9 - (not starting with -)"
		}
	}
	return ""
}
