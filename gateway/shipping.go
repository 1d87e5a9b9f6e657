package gateway

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/souk/souk/subjects"
)

// The shipping routes of docs/api.md: a customer reads their order's shipment, staff move
// shipments forward.
func (g *Gateway) shippingRoutes() []Route {
	return []Route{
		{Method: fiber.MethodGet, Path: "/v1/orders/:id/shipment", Tag: "orders", Summary: "The order's shipment: carrier, tracking number, history",
			Errors: []int{404},
			Call: Forward(subjects.ShipmentGet, Input[subjects.ShipmentOrderRequest]{
				Bind: func(c *fiber.Ctx, r *subjects.ShipmentOrderRequest) error { r.OrderID = c.Params("id"); return nil }})},
		{Method: fiber.MethodGet, Path: "/v1/admin/shipments", Tag: "admin", Summary: "Shipments to work on, oldest first: pending unless other statuses are asked for",
			Call: Forward(subjects.ShipmentList, Input[subjects.ShipmentListRequest]{Query: shipmentListParams, Bind: bindShipmentList})},
		{Method: fiber.MethodPost, Path: "/v1/admin/shipments/:id/status", Tag: "admin",
			Summary: "Move a shipment forward: pending → packed → shipped → in_transit → delivered (a tracking number to ship)",
			Errors:  []int{404, 409},
			Call: Forward(subjects.ShipmentSetStatus, Input[subjects.ShipmentStatusRequest]{Body: true,
				Bind: func(c *fiber.Ctx, r *subjects.ShipmentStatusRequest) error { r.ID = c.Params("id"); return nil }})},
	}
}

// shipmentListParams are the query parameters of GET /v1/admin/shipments.
var shipmentListParams = append([]Param{
	{Name: "status", Type: "string", Description: "keep shipments in these statuses (" + strings.Join(subjects.ShipmentStatuses, ", ") +
		"), comma-separated or the parameter repeated; pending when absent"},
}, pageParams...)

// bindShipmentList reads the statuses and page of GET /v1/admin/shipments; the shipping
// service checks their values.
func bindShipmentList(c *fiber.Ctx, r *subjects.ShipmentListRequest) error {
	var page subjects.ListRequest
	if err := bindPage(c, &page); err != nil {
		return err
	}
	r.Limit, r.Cursor, r.Status = page.Limit, page.Cursor, queryList(c, "status")
	return nil
}
