package gateway

import (
	"github.com/gofiber/fiber/v2"

	"github.com/souk/souk/subjects"
)

// The notification and outgoing webhook routes of docs/api.md.
func (g *Gateway) notificationRoutes() []Route {
	return []Route{
		{Method: fiber.MethodGet, Path: "/v1/users/me/notifications", Tag: "users", Summary: "What was sent to the caller, newest first",
			Call: Forward(subjects.NotificationList, Input[subjects.ListRequest]{Query: pageParams, Bind: bindPage})},
		{Method: fiber.MethodPost, Path: "/v1/admin/webhooks", Tag: "admin",
			Summary: "Register a URL for event types; the reply's secret (shown only here) signs every delivery (Souk-Signature)",
			Status:  fiber.StatusCreated,
			Call:    Forward(subjects.WebhookCreate, Input[subjects.WebhookCreateRequest]{Body: true})},
		{Method: fiber.MethodGet, Path: "/v1/admin/webhooks", Tag: "admin", Summary: "Webhook endpoints with their recent deliveries and status",
			Call: Forward(subjects.WebhookList, Input[subjects.ListRequest]{Query: pageParams, Bind: bindPage})},
		{Method: fiber.MethodDelete, Path: "/v1/admin/webhooks/:id", Tag: "admin", Summary: "Remove a webhook endpoint and its deliveries",
			Errors: []int{404},
			Call: Forward(subjects.WebhookDelete, Input[subjects.WebhookIDRequest]{Bind: func(c *fiber.Ctx, r *subjects.WebhookIDRequest) error {
				r.ID = c.Params("id")
				return nil
			}})},
	}
}
