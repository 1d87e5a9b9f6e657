package notification

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/uuid"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/subjects"
)

// Paging limits of the lists.
const (
	defaultLimit = 20
	maxLimit     = 100
	// recentDeliveries is how many deliveries each endpoint shows in the list.
	recentDeliveries = 10
)

// handlers serves the endpoints. Every method is safe to run twice, except that creating
// an endpoint twice makes two.
type handlers struct {
	store *Store
}

// page reads a list request: the limit and the id the cursor stands for.
func page(req subjects.ListRequest) (int, uuid.UUID, error) {
	limit := req.Limit
	if limit == 0 {
		limit = defaultLimit
	}
	if limit < 1 || limit > maxLimit {
		return 0, uuid.Nil, subjects.BadRequest("limit", fmt.Sprintf("must be between 1 and %d", maxLimit))
	}
	if req.Cursor == "" {
		return limit, uuid.Nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(req.Cursor)
	if err != nil {
		return 0, uuid.Nil, subjects.BadRequest("cursor", "is not a cursor of this list")
	}
	id, err := uuid.FromBytes(b)
	if err != nil {
		return 0, uuid.Nil, subjects.BadRequest("cursor", "is not a cursor of this list")
	}
	return limit, id, nil
}

func cursor(id string) string {
	u := uuid.MustParse(id)
	return base64.RawURLEncoding.EncodeToString(u[:])
}

// list is the caller's notifications, newest first.
func (h *handlers) list(ctx context.Context, req subjects.ListRequest) (subjects.NotificationPage, error) {
	c, err := authn.MustClaims(ctx)
	if err != nil {
		return subjects.NotificationPage{}, err
	}
	limit, before, err := page(req)
	if err != nil {
		return subjects.NotificationPage{}, err
	}
	out := subjects.NotificationPage{Items: []subjects.Notification{}}
	user, err := uuid.Parse(c.Subject)
	if err != nil {
		return out, nil // a service's token: nothing was sent to it
	}
	items, err := h.store.notifications(ctx, user, before, limit+1)
	if err != nil {
		return out, err
	}
	if len(items) > limit {
		items = items[:limit]
		out.NextCursor = cursor(items[limit-1].ID)
	}
	out.Items = append(out.Items, items...)
	return out, nil
}

func (h *handlers) createWebhook(ctx context.Context, req subjects.WebhookCreateRequest) (subjects.Webhook, error) {
	url, events, err := checkWebhook(req)
	if err != nil {
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
	limit, after, err := page(req)
	if err != nil {
		return subjects.WebhookPage{}, err
	}
	items, err := h.store.endpoints(ctx, after, limit+1, recentDeliveries)
	if err != nil {
		return subjects.WebhookPage{}, err
	}
	out := subjects.WebhookPage{Items: []subjects.Webhook{}}
	if len(items) > limit {
		items = items[:limit]
		out.NextCursor = cursor(items[limit-1].ID)
	}
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
