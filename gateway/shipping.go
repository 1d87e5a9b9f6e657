package gateway

import (
	"github.com/gofiber/fiber/v2"

	"github.com/souk/souk/subjects"
)

// The shipping routes of API.md: a customer reads their order's shipment, staff move
// shipments forward.
func (g *Gateway) shippingRoutes() []Route {
	return []Route{
		{Method: fiber.MethodGet, Path: "/v1/orders/:id/shipment", Tag: "orders", Summary: "The order's shipment: carrier, tracking number, history",
			Errors: []int{404},
			Call: Forward(subjects.ShipmentGet, Input[subjects.ShipmentOrderRequest]{
				Bind: func(c *fiber.Ctx, r *subjects.ShipmentOrderRequest) error { r.OrderID = c.Params("id"); return nil }})},
		{Method: fiber.MethodPost, Path: "/v1/admin/shipments/:id/status", Tag: "admin",
			Summary: "Move a shipment forward: pending → packed → shipped → in_transit → delivered (a tracking number to ship)",
			Errors:  []int{404, 409},
			Call: Forward(subjects.ShipmentSetStatus, Input[subjects.ShipmentStatusRequest]{Body: true,
				Bind: func(c *fiber.Ctx, r *subjects.ShipmentStatusRequest) error { r.ID = c.Params("id"); return nil }})},
	}
}
