package subjects

import (
	"encoding/json"
	"time"
)

// The catalog service: categories, products, translations, reviews and ratings, search.
var (
	// CategoryList returns the whole category tree, names in the caller's language (anyone).
	CategoryList = Endpoint[Empty, CategoryTree]{Subject: "souk.catalog.v1.category.list", Access: Public}
	// CategoryCreate adds a category under an optional parent (staff).
	CategoryCreate = Endpoint[CategoryCreateRequest, Category]{Subject: "souk.catalog.v1.category.create", Access: Require(PermCatalogWrite)}
	// CategoryUpdate renames, re-slugs or moves a category (staff).
	CategoryUpdate = Endpoint[CategoryUpdateRequest, Category]{Subject: "souk.catalog.v1.category.update", Access: Require(PermCatalogWrite)}
	// ProductGet returns one listed product in the caller's language (anyone).
	ProductGet = Endpoint[ProductIDRequest, Product]{Subject: "souk.catalog.v1.product.get", Access: Public}
	// ProductSearch searches and browses the listed products, with facets (anyone).
	ProductSearch = Endpoint[SearchRequest, ProductPage]{Subject: "souk.catalog.v1.product.search", Access: Public}
	// ProductCreate adds a product (staff).
	ProductCreate = Endpoint[ProductCreateRequest, Product]{Subject: "souk.catalog.v1.product.create", Access: Require(PermCatalogWrite)}
	// ProductUpdate changes some fields of a product (staff).
	ProductUpdate = Endpoint[ProductUpdateRequest, Product]{Subject: "souk.catalog.v1.product.update", Access: Require(PermCatalogWrite)}
	// ProductDelete stops listing a product; its row and reviews are kept (staff).
	ProductDelete = Endpoint[ProductIDRequest, Empty]{Subject: "souk.catalog.v1.product.delete", Access: Require(PermCatalogWrite)}
	// ReviewList returns one page of a product's visible reviews, newest first (anyone).
	ReviewList = Endpoint[ReviewListRequest, ReviewPage]{Subject: "souk.catalog.v1.review.list", Access: Public}
	// ReviewCreate adds the caller's review of a product they paid for (customer).
	ReviewCreate = Endpoint[ReviewCreateRequest, Review]{Subject: "souk.catalog.v1.review.create", Access: profileAccess}
	// ReviewModerate hides or shows a review again (staff).
	ReviewModerate = Endpoint[ReviewModerateRequest, Review]{Subject: "souk.catalog.v1.review.moderate", Access: Require(PermCatalogWrite)}
)

// Money is an amount in minor units (cents) of an ISO 4217 currency. Never a float.
type Money struct {
	// Amount is in the currency's minor units: 1999 EUR is 19.99 €.
	Amount int64 `json:"amount" required:"true"`
	// Currency is the ISO 4217 code in upper case, such as "EUR".
	Currency string `json:"currency" required:"true"`
}

// Category is one node of the category tree.
type Category struct {
	ID string `json:"id" required:"true"`
	// ParentID is empty for a top-level category.
	ParentID string `json:"parent_id,omitempty"`
	// Name is in the caller's language where a translation exists.
	Name string `json:"name" required:"true"`
	// Slug is unique among its siblings: lower-case letters, digits and dashes.
	Slug string `json:"slug" required:"true"`
	// Path is the slugs from the root down to this category, joined by "/"; it names the
	// category uniquely and is accepted wherever a category id is.
	Path string `json:"path" required:"true"`
	// Translations of the name by locale; in staff replies only.
	Translations map[string]CategoryText `json:"translations,omitempty"`
	// Children are the subcategories, in the tree reply only.
	Children []Category `json:"children,omitempty"`
}

// CategoryText is a category's name in one language.
type CategoryText struct {
	Name string `json:"name" required:"true"`
}

// CategoryTree is the reply of GET /v1/categories: the top-level categories with their
// descendants.
type CategoryTree struct {
	Items []Category `json:"items" required:"true"`
}

// CategoryCreateRequest is the body of POST /v1/categories.
type CategoryCreateRequest struct {
	Name string `json:"name" required:"true"`
	Slug string `json:"slug" required:"true"`
	// ParentID, an id or a path, puts the category under another; top level when empty.
	ParentID     string                  `json:"parent_id,omitempty"`
	Translations map[string]CategoryText `json:"translations,omitempty"`
}

// CategoryUpdateRequest is the body of PATCH /v1/categories/{id}; absent fields stay. A
// ParentID of "" moves the category to the top level; a move under its own subtree is refused.
type CategoryUpdateRequest struct {
	ID       string  `json:"id"`
	Name     *string `json:"name,omitempty"`
	Slug     *string `json:"slug,omitempty"`
	ParentID *string `json:"parent_id,omitempty"`
	// Translations are merged by locale; a null value removes that locale.
	Translations map[string]*CategoryText `json:"translations,omitempty"`
}

// ProductIDRequest names one product.
type ProductIDRequest struct {
	ID string `json:"id"`
}

// ProductText is a product's name and description in one language.
type ProductText struct {
	Name        string `json:"name" required:"true"`
	Description string `json:"description,omitempty"`
}

// Rating sums up a product's visible reviews.
type Rating struct {
	// Average is the mean of the ratings, rounded to two decimals; 0 without reviews.
	Average float64 `json:"average" required:"true"`
	// Count is the number of visible reviews.
	Count int `json:"count" required:"true"`
}

// Product is a product as shoppers see it; staff replies also carry the translations.
type Product struct {
	ID  string `json:"id" required:"true"`
	SKU string `json:"sku" required:"true"`
	// Name and Description are in Locale: the best match of the caller's Accept-Language
	// among the product's translations, or the catalog's default language.
	Name        string `json:"name" required:"true"`
	Description string `json:"description" required:"true"`
	Locale      string `json:"locale" required:"true"`
	Price       Money  `json:"price" required:"true"`
	CategoryID  string `json:"category_id" required:"true"`
	// Attributes are name → value pairs that filters and facets use ("color": "black").
	Attributes map[string]string `json:"attributes" required:"true"`
	Images     []string          `json:"images" required:"true"`
	Rating     Rating            `json:"rating" required:"true"`
	// InStock is the catalog's copy of the inventory service's availability.
	InStock bool `json:"in_stock" required:"true"`
	// Version counts the product's changes; PATCH may send it to refuse a stale edit (409).
	Version int64 `json:"version" required:"true"`
	// Translations by locale; in staff replies (create, update) only.
	Translations map[string]ProductText `json:"translations,omitempty"`
	CreatedAt    time.Time              `json:"created_at" required:"true"`
	UpdatedAt    time.Time              `json:"updated_at" required:"true"`
}

// ProductCreateRequest is the body of POST /v1/products.
type ProductCreateRequest struct {
	// SKU is unique among listed products: 1..64 of A-Z a-z 0-9 _ -, starting with a letter
	// or digit (it names the stock in NATS subjects, so no dots).
	SKU         string `json:"sku" required:"true"`
	Name        string `json:"name" required:"true"`
	Description string `json:"description,omitempty"`
	Price       Money  `json:"price" required:"true"`
	// CategoryID is a category id or path.
	CategoryID   string                 `json:"category_id" required:"true"`
	Attributes   map[string]string      `json:"attributes,omitempty"`
	Images       []string               `json:"images,omitempty"`
	Translations map[string]ProductText `json:"translations,omitempty"`
}

// ProductUpdateRequest is the body of PATCH /v1/products/{id}; absent fields stay as they
// are. Attributes and Translations are merged key by key (JSON merge patch): a null value
// removes the key. Images, when present, replace the list.
type ProductUpdateRequest struct {
	ID string `json:"id"`
	// Version, when sent, must be the product's current version, or the edit is refused with
	// 409 (someone else changed it first).
	Version      *int64                  `json:"version,omitempty"`
	Name         *string                 `json:"name,omitempty"`
	Description  *string                 `json:"description,omitempty"`
	Price        *Money                  `json:"price,omitempty"`
	CategoryID   *string                 `json:"category_id,omitempty"`
	Attributes   map[string]*string      `json:"attributes,omitempty"`
	Images       *[]string               `json:"images,omitempty"`
	Translations map[string]*ProductText `json:"translations,omitempty"`
}

// Sort orders of a product search.
const (
	SortRelevance = "relevance"
	SortPriceAsc  = "price_asc"
	SortPriceDesc = "price_desc"
	SortNewest    = "newest"
	SortRating    = "rating"
)

// SearchRequest is GET /v1/products: a full-text query and filters, all optional.
type SearchRequest struct {
	// Q is the full-text query: typo tolerant, the last word also matched as a prefix.
	Q string `json:"q,omitempty"`
	// Category is a category id or path; its subcategories are included.
	Category string `json:"category,omitempty"`
	// MinPrice and MaxPrice bound the price in minor units of Currency, both inclusive.
	MinPrice *int64 `json:"min_price,omitempty"`
	MaxPrice *int64 `json:"max_price,omitempty"`
	// Currency filters by price currency; with a price bound and no currency the catalog's
	// default currency is meant.
	Currency string `json:"currency,omitempty"`
	// InStock, when set, keeps only products that are (or are not) available.
	InStock *bool `json:"in_stock,omitempty"`
	// MinRating keeps products whose average rating is at least this (0..5).
	MinRating *float64 `json:"min_rating,omitempty"`
	// Attributes filter by attribute name → accepted values (a product matches one of the
	// values of every named attribute). The HTTP form is attr.<name>=<value>, repeatable.
	Attributes map[string][]string `json:"attributes,omitempty"`
	// Sort is relevance (the default with Q), price_asc, price_desc, newest (the default
	// without Q) or rating.
	Sort string `json:"sort,omitempty"`
	// Limit is the page size, 1..100; 20 when zero.
	Limit int `json:"limit,omitempty"`
	// Cursor is the next_cursor of the previous page of the same search.
	Cursor string `json:"cursor,omitempty"`
}

// ProductPage is one page of a product search.
type ProductPage struct {
	Items      []Product `json:"items" required:"true"`
	NextCursor string    `json:"next_cursor,omitempty"`
	// Facets describe every product the search matches, not only this page (the first
	// matches read, when Facets.Estimated).
	Facets Facets `json:"facets" required:"true"`
}

// Facets count the products a search matches, by category, attribute value and price.
type Facets struct {
	// Total is the number of products the search matches (at least, when Estimated).
	Total int `json:"total" required:"true"`
	// Categories count matches per category, each including its subcategories; top-level
	// counts add up to Total.
	Categories []CategoryCount `json:"categories" required:"true"`
	// Attributes count matches per attribute value (the most frequent values of each).
	Attributes map[string][]ValueCount `json:"attributes" required:"true"`
	// Prices count matches per price range and currency; they add up to Total.
	Prices []PriceBucket `json:"prices" required:"true"`
	// Estimated is true when the search matches more products than the catalog reads for
	// one search (SOUK_SEARCH_MAX_MATCHES, 1000 by default): Total and every count are then
	// over the first Total matches read, so Total is a lower bound and the counts are
	// estimates of the proportions; relevance pages rank the same matches. Absent, every
	// count is exact.
	Estimated bool `json:"estimated,omitempty"`
}

// CategoryCount is the number of matching products in a category and its subcategories.
type CategoryCount struct {
	ID       string `json:"id" required:"true"`
	ParentID string `json:"parent_id,omitempty"`
	Name     string `json:"name" required:"true"`
	Path     string `json:"path" required:"true"`
	Count    int    `json:"count" required:"true"`
}

// ValueCount is the number of matching products with one attribute value.
type ValueCount struct {
	Value string `json:"value" required:"true"`
	Count int    `json:"count" required:"true"`
}

// PriceBucket is the number of matching products priced in [Min, Max) of Currency; Max
// is absent for the open-ended top bucket.
type PriceBucket struct {
	Currency string `json:"currency" required:"true"`
	Min      int64  `json:"min" required:"true"`
	Max      *int64 `json:"max,omitempty"`
	Count    int    `json:"count" required:"true"`
}

// Review is one customer's review of a product.
type Review struct {
	ID        string `json:"id" required:"true"`
	ProductID string `json:"product_id" required:"true"`
	// Rating is 1..5 stars.
	Rating int    `json:"rating" required:"true"`
	Title  string `json:"title" required:"true"`
	Body   string `json:"body" required:"true"`
	// AuthorName is the name the reviewer chose to show ("Customer" when none).
	AuthorName string `json:"author_name" required:"true"`
	// VerifiedPurchase is always true: only buyers can review.
	VerifiedPurchase bool `json:"verified_purchase" required:"true"`
	// Hidden reviews are kept but neither listed nor counted in the rating.
	Hidden    bool      `json:"hidden" required:"true"`
	CreatedAt time.Time `json:"created_at" required:"true"`
}

// ReviewCreateRequest is the body of POST /v1/products/{id}/reviews.
type ReviewCreateRequest struct {
	ProductID  string `json:"product_id" path:"id"`
	Rating     int    `json:"rating" required:"true"`
	Title      string `json:"title" required:"true"`
	Body       string `json:"body"`
	AuthorName string `json:"author_name,omitempty"`
}

// ReviewListRequest asks for one page of a product's reviews.
type ReviewListRequest struct {
	ProductID string `json:"product_id"`
	Limit     int    `json:"limit,omitempty"`
	Cursor    string `json:"cursor,omitempty"`
}

// ReviewPage is one page of reviews.
type ReviewPage struct {
	Items      []Review `json:"items" required:"true"`
	NextCursor string   `json:"next_cursor,omitempty"`
}

// ReviewModerateRequest is the body of PATCH /v1/admin/reviews/{id}.
type ReviewModerateRequest struct {
	ID     string `json:"id"`
	Hidden bool   `json:"hidden" required:"true"`
}

// Catalog events, on the CATALOG stream: souk.evt.catalog.<event>.<entity id>. Each carries
// what changed, not the whole product: consumers that need the product read it from the
// catalog, so events applied out of order or twice still converge on the current state.
var (
	EvtProductCreated  = event[ProductChanged](StreamCatalog, "souk.evt.catalog.product_created")
	EvtProductUpdated  = event[ProductChanged](StreamCatalog, "souk.evt.catalog.product_updated")
	EvtPriceChanged    = event[PriceChanged](StreamCatalog, "souk.evt.catalog.price_changed")
	EvtProductDeleted  = event[ProductChanged](StreamCatalog, "souk.evt.catalog.product_deleted")
	EvtStockChanged    = event[ProductChanged](StreamCatalog, "souk.evt.catalog.stock_changed")
	EvtRatingChanged   = event[ProductChanged](StreamCatalog, "souk.evt.catalog.rating_changed")
	EvtCategoryCreated = event[CategoryChanged](StreamCatalog, "souk.evt.catalog.category_created")
	EvtCategoryUpdated = event[CategoryChanged](StreamCatalog, "souk.evt.catalog.category_updated")
	// EvtCatalog stands for every catalog event, each kind with its own payload: a follower
	// of the whole catalog (the search indexer) decodes by kind.
	EvtCatalog = Event[json.RawMessage]{EventKind{Stream: StreamCatalog, Kind: "souk.evt.catalog", Family: true}}
)

// ProductChanged is the payload of product_created, product_updated, product_deleted,
// stock_changed and rating_changed.
type ProductChanged struct {
	EventID    string    `json:"event_id"`
	OccurredAt time.Time `json:"occurred_at"`
	ProductID  string    `json:"product_id"`
	SKU        string    `json:"sku"`
	// Version is the product's version after the change.
	Version int64 `json:"version"`
	// Changed names the fields that changed (product_updated only).
	Changed []string `json:"changed,omitempty"`
	// InStock is the new availability (stock_changed only).
	InStock *bool `json:"in_stock,omitempty"`
}

// PriceChanged is the payload of price_changed, published beside product_updated.
type PriceChanged struct {
	EventID    string    `json:"event_id"`
	OccurredAt time.Time `json:"occurred_at"`
	ProductID  string    `json:"product_id"`
	SKU        string    `json:"sku"`
	Version    int64     `json:"version"`
	Old        Money     `json:"old"`
	New        Money     `json:"new"`
}

// CategoryChanged is the payload of category_created and category_updated.
type CategoryChanged struct {
	EventID    string    `json:"event_id"`
	OccurredAt time.Time `json:"occurred_at"`
	CategoryID string    `json:"category_id"`
	Path       string    `json:"path"`
}
