package gateway

import (
	"math"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/souk/souk/platform/liveconfig"
	"github.com/souk/souk/subjects"
)

// The catalog routes of docs/api.md, and the staff routes that complete them (PATCH of a
// category, hiding a review).
func (g *Gateway) catalogRoutes() []Route {
	return []Route{
		{Method: fiber.MethodGet, Path: "/v1/categories", Tag: "catalog", Summary: "The category tree",
			Call: Forward(subjects.CategoryList, Input[subjects.Empty]{})},
		{Method: fiber.MethodPost, Path: "/v1/categories", Tag: "catalog", Summary: "Create a category",
			Status: fiber.StatusCreated, Errors: []int{409},
			Call: Forward(subjects.CategoryCreate, Input[subjects.CategoryCreateRequest]{Body: true})},
		{Method: fiber.MethodPatch, Path: "/v1/categories/:id", Tag: "catalog", Summary: "Rename, re-slug or move a category",
			Errors: []int{404, 409},
			Call: Forward(subjects.CategoryUpdate, Input[subjects.CategoryUpdateRequest]{Body: true,
				Bind: func(c *fiber.Ctx, r *subjects.CategoryUpdateRequest) error { r.ID = c.Params("id"); return nil }})},
		{Method: fiber.MethodGet, Path: "/v1/products", Tag: "catalog", Summary: "Search and browse products, with facets",
			Call: Forward(subjects.ProductSearch, Input[subjects.SearchRequest]{Query: searchParams, Bind: bindSearch})},
		{Method: fiber.MethodGet, Path: "/v1/products/:id", Tag: "catalog", Summary: "One product, in the caller's language",
			Errors: []int{404},
			Call:   Forward(subjects.ProductGet, Input[subjects.ProductIDRequest]{Bind: bindProductID})},
		{Method: fiber.MethodPost, Path: "/v1/products", Tag: "catalog", Summary: "Create a product",
			Status: fiber.StatusCreated, Errors: []int{409},
			Call: Forward(subjects.ProductCreate, Input[subjects.ProductCreateRequest]{Body: true})},
		{Method: fiber.MethodPatch, Path: "/v1/products/:id", Tag: "catalog", Summary: "Change some fields of a product",
			Errors: []int{404, 409},
			Call: Forward(subjects.ProductUpdate, Input[subjects.ProductUpdateRequest]{Body: true,
				Bind: func(c *fiber.Ctx, r *subjects.ProductUpdateRequest) error { r.ID = c.Params("id"); return nil }})},
		{Method: fiber.MethodDelete, Path: "/v1/products/:id", Tag: "catalog", Summary: "Stop listing a product",
			Errors: []int{404},
			Call:   Forward(subjects.ProductDelete, Input[subjects.ProductIDRequest]{Bind: bindProductID})},
		{Method: fiber.MethodGet, Path: "/v1/products/:id/reviews", Tag: "catalog", Summary: "A product's reviews, newest first",
			Errors: []int{404},
			Call: Forward(subjects.ReviewList, Input[subjects.ReviewListRequest]{Query: pageParams,
				Bind: func(c *fiber.Ctx, r *subjects.ReviewListRequest) error {
					var page subjects.ListRequest
					if err := bindPage(c, &page); err != nil {
						return err
					}
					r.ProductID, r.Limit, r.Cursor = c.Params("id"), page.Limit, page.Cursor
					return nil
				}})},
		{Method: fiber.MethodPost, Path: "/v1/products/:id/reviews", Tag: "catalog", Summary: "Review a product you paid for",
			Status: fiber.StatusCreated, Errors: []int{404, 409}, Feature: liveconfig.Reviews,
			Call: Forward(subjects.ReviewCreate, Input[subjects.ReviewCreateRequest]{Body: true,
				Bind: func(c *fiber.Ctx, r *subjects.ReviewCreateRequest) error { r.ProductID = c.Params("id"); return nil }})},
		{Method: fiber.MethodPatch, Path: "/v1/admin/reviews/:id", Tag: "admin", Summary: "Hide a review, or show it again",
			Errors: []int{404},
			Call: Forward(subjects.ReviewModerate, Input[subjects.ReviewModerateRequest]{Body: true,
				Bind: func(c *fiber.Ctx, r *subjects.ReviewModerateRequest) error { r.ID = c.Params("id"); return nil }})},
	}
}

func bindProductID(c *fiber.Ctx, r *subjects.ProductIDRequest) error {
	r.ID = c.Params("id")
	return nil
}

// searchParams are the query parameters of GET /v1/products.
var searchParams = append([]Param{
	{Name: "q", Type: "string", Description: "full-text query, typo tolerant; the last word also matches as a prefix"},
	{Name: "category", Type: "string", Description: "a category id or path (electronics/audio); subcategories included"},
	{Name: "min_price", Type: "integer", Description: "lowest price in minor units of currency, inclusive"},
	{Name: "max_price", Type: "integer", Description: "highest price in minor units of currency, inclusive"},
	{Name: "currency", Type: "string", Description: "ISO 4217 code; the shop's currency when a price bound is given without it"},
	{Name: "in_stock", Type: "boolean", Description: "only products that are (true) or are not (false) available"},
	{Name: "min_rating", Type: "number", Description: "lowest average rating, 0 to 5", Range: []float64{0, 5}},
	{Name: "attr.<name>", Type: "string", Description: "attribute filter, such as attr.color=black; repeat for any of several values"},
	{Name: "sort", Type: "string", Description: "relevance (default with q), price_asc, price_desc, newest (default without q), rating",
		EnumOf: "SortRelevance"},
}, pageParams...)

// bindSearch reads the query parameters of GET /v1/products; the service checks their
// ranges and meaning, this only their types.
func bindSearch(c *fiber.Ctx, r *subjects.SearchRequest) error {
	var page subjects.ListRequest
	if err := bindPage(c, &page); err != nil {
		return err
	}
	var err error
	r.Limit, r.Cursor = page.Limit, page.Cursor
	r.Q, r.Category, r.Currency, r.Sort = c.Query("q"), c.Query("category"), c.Query("currency"), c.Query("sort")
	if r.MinPrice, err = queryPrice(c, "min_price"); err != nil {
		return err
	}
	if r.MaxPrice, err = queryPrice(c, "max_price"); err != nil {
		return err
	}
	if s := c.Query("in_stock"); s != "" {
		v, perr := strconv.ParseBool(s)
		if perr != nil {
			return subjects.BadRequest("in_stock", "must be true or false")
		}
		r.InStock = &v
	}
	if s := c.Query("min_rating"); s != "" {
		v, perr := strconv.ParseFloat(s, 64)
		if perr != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return subjects.BadRequest("min_rating", "must be a number")
		}
		r.MinRating = &v
	}
	c.Context().QueryArgs().VisitAll(func(k, v []byte) {
		name, ok := strings.CutPrefix(string(k), "attr.")
		if !ok {
			return
		}
		if r.Attributes == nil {
			r.Attributes = map[string][]string{}
		}
		// Bounded: the service refuses more than a few filters and values, and the URL itself
		// is bounded by the read buffer.
		r.Attributes[name] = append(r.Attributes[name], string(v))
	})
	return nil
}

// queryPrice reads an optional price bound in minor units; anything but a whole number is a
// 400 naming it.
func queryPrice(c *fiber.Ctx, name string) (*int64, error) {
	s := c.Query(name)
	if s == "" {
		return nil, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil, subjects.BadRequest(name, "must be a whole number (prices are in minor units: 1999 for 19.99)")
	}
	return &v, nil
}
