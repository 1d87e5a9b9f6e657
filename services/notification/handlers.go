package notification

import (
	"context"
	"errors"
	"net/http"

	"github.com/google/uuid"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/page"
	"github.com/souk/souk/subjects"
)

// recentDeliveries is how many deliveries each endpoint shows in the list.
const recentDeliveries = 10

// handlers serves the endpoints. Every method is safe to run twice, except that creating
// an endpoint twice makes two.
type handlers struct {
	store  *Store
	egress *egress
}

// idKey is the page key of a list ordered by UUIDv7 id.
func idKey(id string) page.Key { return page.Key{ID: uuid.MustParse(id)} }

// list is the caller's notifications, newest first.
func (h *handlers) list(ctx context.Context, req subjects.ListRequest) (subjects.NotificationPage, error) {
	c, err := authn.MustClaims(ctx)
	if err != nil {
		return subjects.NotificationPage{}, err
	}
	list := "notifications/" + c.Subject
	r, err := page.Read(req, list)
	if err != nil {
		return subjects.NotificationPage{}, err
	}
	out := subjects.NotificationPage{Items: []subjects.Notification{}}
	user, err := uuid.Parse(c.Subject)
	if err != nil {
		return out, nil // a service's token: nothing was sent to it
	}
	items, err := h.store.notifications(ctx, user, r)
	if err != nil {
		return out, err
	}
	items, out.NextCursor = page.Next(items, r, list, func(n subjects.Notification) page.Key { return idKey(n.ID) })
	out.Items = append(out.Items, items...)
	return out, nil
}

// createWebhook registers an endpoint whose URL passes checkWebhook and then the egress
// rule (which may look its host up in DNS: only once the rest of the request is valid).
func (h *handlers) createWebhook(ctx context.Context, req subjects.WebhookCreateRequest) (subjects.Webhook, error) {
	url, events, err := checkWebhook(req)
	if err != nil {
		return subjects.Webhook{}, err
	}
	if err := h.egress.checkURL(ctx, url); err != nil {
		return subjects.Webhook{}, err
	}
	secret, err := newSecret()
	if err != nil {
		return subjects.Webhook{}, err
	}
	e, err := h.store.createEndpoint(ctx, url, events, secret)
	if err != nil {
		return subjects.Webhook{}, err
	}
	return subjects.Webhook{ID: e.ID.String(), URL: e.URL, Events: e.Events, Secret: e.Secret, CreatedAt: e.CreatedAt.UTC()}, nil
}

func (h *handlers) listWebhooks(ctx context.Context, req subjects.ListRequest) (subjects.WebhookPage, error) {
	r, err := page.Read(req, "webhooks")
	if err != nil {
		return subjects.WebhookPage{}, err
	}
	items, err := h.store.endpoints(ctx, r, recentDeliveries)
	if err != nil {
		return subjects.WebhookPage{}, err
	}
	out := subjects.WebhookPage{Items: []subjects.Webhook{}}
	items, out.NextCursor = page.Next(items, r, "webhooks", func(w subjects.Webhook) page.Key { return idKey(w.ID) })
	out.Items = append(out.Items, items...)
	return out, nil
}

func (h *handlers) deleteWebhook(ctx context.Context, req subjects.WebhookIDRequest) (subjects.Empty, error) {
	id, err := uuid.Parse(req.ID)
	if err != nil {
		return subjects.Empty{}, wireError(ErrNotFound)
	}
	return subjects.Empty{}, wireError(h.store.deleteEndpoint(ctx, id))
}

// wireError is the one mapping of domain errors to the wire. Anything it does not know is
// returned as is, and the transport masks it as a 500.
func wireError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotFound):
		return subjects.Errorf(http.StatusNotFound, "webhook_not_found", "webhook endpoint not found")
	}
	return err
}
