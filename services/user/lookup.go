package user

import (
	"context"

	"github.com/souk/souk/subjects"
)

// byEmail finds the account of an email for staff (subjects.UserByEmail): the order
// service's list of a customer's orders by email asks it. The email is read as registering
// reads it (trimmed, lower-cased), so any spelling of an address finds its account.
func (h *handlers) byEmail(ctx context.Context, req subjects.UserEmailRequest) (subjects.UserRef, error) {
	email, err := NormalizeEmail(req.Email)
	if err != nil {
		return subjects.UserRef{}, subjects.BadRequest("email", err.Error())
	}
	a, err := h.store.ByEmail(ctx, email)
	if err != nil {
		return subjects.UserRef{}, wireError(err)
	}
	return subjects.UserRef{ID: a.ID.String()}, nil
}
