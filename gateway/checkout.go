package gateway

import (
	"bytes"
	"reflect"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/souk/souk/platform/liveconfig"
	"github.com/souk/souk/subjects"
)

// The inventory, cart, order, payment and coupon routes of docs/api.md.
func (g *Gateway) checkoutRoutes() []Route {
	productID := func(c *fiber.Ctx, r *subjects.CartItemRequest) error {
		r.ProductID = c.Params("product_id")
		return nil
	}
	orderID := func(c *fiber.Ctx, r *subjects.OrderIDRequest) error { r.ID = c.Params("id"); return nil }
	return []Route{
		{Method: fiber.MethodGet, Path: "/v1/inventory/:sku", Tag: "inventory", Summary: "A SKU's stock: on hand, reserved, available",
			Errors: []int{404},
			Call:   Forward(subjects.InventoryGet, Input[subjects.SKURequest]{Bind: func(c *fiber.Ctx, r *subjects.SKURequest) error { r.SKU = c.Params("sku"); return nil }})},
		{Method: fiber.MethodPut, Path: "/v1/inventory/:sku", Tag: "inventory", Summary: "Set a SKU's physical count",
			Errors: []int{409},
			Call:   Forward(subjects.InventorySet, Input[subjects.StockSetRequest]{Body: true, Bind: func(c *fiber.Ctx, r *subjects.StockSetRequest) error { r.SKU = c.Params("sku"); return nil }})},

		{Method: fiber.MethodGet, Path: "/v1/cart", Tag: "cart", Summary: "The caller's cart, priced from the catalog now",
			Call: Forward(subjects.CartGet, Input[subjects.Empty]{})},
		{Method: fiber.MethodPost, Path: "/v1/cart/items", Tag: "cart", Summary: "Add a product to the cart",
			Errors: []int{404, 422},
			Call:   Forward(subjects.CartAddItem, Input[subjects.CartItemRequest]{Body: true})},
		{Method: fiber.MethodPatch, Path: "/v1/cart/items/:product_id", Tag: "cart", Summary: "Change a line's quantity; 0 removes it",
			Errors: []int{404, 422},
			Call:   Forward(subjects.CartSetItem, Input[subjects.CartItemRequest]{Body: true, Bind: productID})},
		{Method: fiber.MethodDelete, Path: "/v1/cart/items/:product_id", Tag: "cart", Summary: "Remove a line",
			Call: Forward(subjects.CartRemoveItem, Input[subjects.CartItemRequest]{Bind: productID})},
		{Method: fiber.MethodDelete, Path: "/v1/cart", Tag: "cart", Summary: "Empty the cart",
			Call: Forward(subjects.CartClear, Input[subjects.Empty]{})},
		{Method: fiber.MethodPut, Path: "/v1/cart/coupon", Tag: "cart", Summary: "Apply a coupon code",
			Errors: []int{422},
			Call:   Forward(subjects.CartApplyCoupon, Input[subjects.CouponCodeRequest]{Body: true})},
		{Method: fiber.MethodDelete, Path: "/v1/cart/coupon", Tag: "cart", Summary: "Remove the coupon",
			Call: Forward(subjects.CartRemoveCoupon, Input[subjects.Empty]{})},

		{Method: fiber.MethodPost, Path: "/v1/orders", Tag: "orders", Summary: "Check out the cart (send an Idempotency-Key)",
			Status: fiber.StatusCreated, Errors: []int{422}, Headers: []Param{idempotencyKey}, Feature: liveconfig.Checkout,
			Call: Forward(subjects.OrderPlace, Input[subjects.OrderPlaceRequest]{Body: true})},
		{Method: fiber.MethodGet, Path: "/v1/orders", Tag: "orders", Summary: "The caller's orders, newest first",
			Call: Forward(subjects.OrderList, Input[subjects.ListRequest]{Query: pageParams, Bind: bindPage})},
		{Method: fiber.MethodGet, Path: "/v1/orders/:id", Tag: "orders", Summary: "One order with its history",
			Errors: []int{404},
			Call:   Forward(subjects.OrderGet, Input[subjects.OrderIDRequest]{Bind: orderID})},
		{Method: fiber.MethodGet, Path: "/v1/orders/:id/events", Tag: "orders",
			Summary: "Server-Sent Events: the order's status changes, from the first, then live (Last-Event-ID resumes)",
			Access:  subjects.Require(subjects.PermProfile), Errors: []int{404}, Headers: []Param{lastEventID},
			Call: Handle(g.orderEvents, reflect.TypeFor[subjects.OrderStatus](), "text/event-stream")},
		{Method: fiber.MethodPost, Path: "/v1/orders/:id/cancel", Tag: "orders", Summary: "Cancel an order that has not shipped",
			Errors: []int{404, 409},
			Call:   Forward(subjects.OrderCancel, Input[subjects.OrderIDRequest]{Bind: orderID})},
		{Method: fiber.MethodPost, Path: "/v1/orders/:id/payment", Tag: "orders", Summary: "Pay an order with a payment method (pm_card_visa…)",
			Errors: []int{404, 409}, Headers: []Param{idempotencyKey},
			Call: Forward(subjects.PaymentCreate, Input[subjects.PaymentRequest]{Body: true,
				Bind: func(c *fiber.Ctx, r *subjects.PaymentRequest) error { r.OrderID = c.Params("id"); return nil }})},
		{Method: fiber.MethodPost, Path: "/v1/webhooks/stripe", Tag: "payments", Summary: "Stripe's webhook: the raw event with Stripe-Signature",
			Headers: []Param{stripeSignature},
			Call:    Forward(subjects.PaymentStripeWebhook, Input[subjects.StripeWebhook]{Raw: &stripeEvent, Bind: bindStripeWebhook})},
		{Method: fiber.MethodPost, Path: "/v1/admin/orders/:id/refund", Tag: "admin", Summary: "Refund an order in full or in part (Idempotency-Key header required: 400 without one)",
			Errors: []int{404, 409, 422}, Headers: []Param{idempotencyKeyRequired},
			Call: Forward(subjects.PaymentRefund, Input[subjects.RefundRequest]{OptionalBody: true,
				Bind: func(c *fiber.Ctx, r *subjects.RefundRequest) error { r.OrderID = c.Params("id"); return nil }})},
		{Method: fiber.MethodGet, Path: "/v1/admin/orders", Tag: "admin", Summary: "Every customer's orders, newest first: by status, customer and placement time",
			Call: Forward(subjects.OrderAdminList, Input[subjects.OrderAdminListRequest]{Query: adminOrderParams, Bind: bindAdminOrders})},
		{Method: fiber.MethodPost, Path: "/v1/admin/coupons", Tag: "admin", Summary: "Create a coupon",
			Status: fiber.StatusCreated, Errors: []int{409},
			Call: Forward(subjects.CouponCreate, Input[subjects.CouponCreateRequest]{Body: true})},
		{Method: fiber.MethodGet, Path: "/v1/admin/coupons", Tag: "admin", Summary: "Coupons with their redemption counts",
			Call: Forward(subjects.CouponList, Input[subjects.ListRequest]{Query: pageParams, Bind: bindPage})},
	}
}

// adminOrderParams are the query parameters of GET /v1/admin/orders.
var adminOrderParams = append([]Param{
	{Name: "status", Type: "string", Description: "keep orders in these statuses (" + strings.Join(subjects.OrderStatuses, ", ") +
		"), comma-separated or the parameter repeated; every status when absent"},
	{Name: "customer", Type: "string", Description: "keep one customer's orders: their user id, or the email of their account"},
	{Name: "from", Type: "string", Description: "keep orders placed at or after this RFC 3339 time (2026-12-01T00:00:00Z)"},
	{Name: "to", Type: "string", Description: "keep orders placed before this RFC 3339 time"},
}, pageParams...)

// bindAdminOrders reads the filters and page of GET /v1/admin/orders; the order service
// checks their values.
func bindAdminOrders(c *fiber.Ctx, r *subjects.OrderAdminListRequest) error {
	var page subjects.ListRequest
	if err := bindPage(c, &page); err != nil {
		return err
	}
	r.Limit, r.Cursor = page.Limit, page.Cursor
	r.Status = queryList(c, "status")
	r.Customer, r.From, r.To = c.Query("customer"), c.Query("from"), c.Query("to")
	return nil
}

// queryList reads a list parameter given as a comma-separated list, repeated, or both
// (status=paid,cancelled or status=paid&status=cancelled); empty items are dropped. The
// values are copied: they outlive the request.
func queryList(c *fiber.Ctx, name string) []string {
	var out []string
	for _, v := range c.Context().QueryArgs().PeekMulti(name) {
		for item := range strings.SplitSeq(string(v), ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
	}
	return out
}

// bindStripeWebhook passes Stripe's raw bytes and signature through: the payment service
// verifies them over the exact body, so the gateway must not decode it.
func bindStripeWebhook(c *fiber.Ctx, r *subjects.StripeWebhook) error {
	r.Payload = bytes.Clone(c.Body())
	r.Signature = c.Get("Stripe-Signature")
	if r.Signature == "" {
		return subjects.BadRequest("Stripe-Signature", "header required")
	}
	return nil
}
