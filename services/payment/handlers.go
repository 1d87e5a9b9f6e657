package payment

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/trace"
	"github.com/souk/souk/subjects"
)

const (
	// maxKeyBytes bounds an Idempotency-Key and the provider ids the service looks up.
	maxKeyBytes = 255
	// maxMethodBytes bounds a payment method id (Stripe's are about 30 bytes).
	maxMethodBytes = 100
	// orderLookupTimeout bounds asking the order service about an order the events have not
	// brought yet.
	orderLookupTimeout = 3 * time.Second
)

// errOrderService: the order service could not say whether an order exists.
var errOrderService = errors.New("order service unavailable")

// paymentCreate serves PaymentCreate: the caller pays their order's total (never an amount
// of theirs) with a payment method. The payment is written before the provider is called;
// when the provider cannot be reached the payer gets it as processing and the worker sends
// it again with the same idempotency key.
func (s *service) paymentCreate(ctx context.Context, req subjects.PaymentRequest) (subjects.PaymentReply, error) {
	claims, err := authn.MustClaims(ctx)
	if err != nil {
		return subjects.PaymentReply{}, err
	}
	orderID, err := uuid.Parse(req.OrderID)
	var bad subjects.Problems
	if err != nil {
		bad.Add("order_id", "must be an order id (a UUID)")
	}
	bad.Add("payment_method", s.checkMethod(req.PaymentMethod))
	if err := bad.Err(); err != nil {
		return subjects.PaymentReply{}, err
	}
	order, err := s.orderOf(ctx, orderID, claims.Subject)
	if err != nil {
		return subjects.PaymentReply{}, s.wireError(err)
	}
	// The payer's request is a step of the order's checkout: a span of its trace, linked to
	// this request, and the payment keeps that trace for its outcome.
	ctx, span := trace.Resume(ctx, order.TraceParent, "payment.create")
	defer span.End()
	var p Payment
	var fresh bool
	err = retryConflict(ctx, func() (err error) {
		p, fresh, err = s.store.BeginPayment(ctx, orderID, claims.Subject, req.PaymentMethod, s.provider.closed)
		return err
	})
	if err != nil {
		return subjects.PaymentReply{}, s.wireError(err)
	}
	if !fresh {
		return p.wire(s.clientSecret(ctx, p)), nil
	}
	rec, secret, err := s.charge(ctx, p)
	switch {
	case errors.Is(err, errNotSent):
		zerolog.Ctx(ctx).Warn().Err(err).Str("payment_id", p.ID.String()).Msg("payment: provider not reached; the worker will send it again")
		return p.wire(""), nil
	case err != nil:
		// The provider answered; its word is not recorded (reconciliation will ask again).
		zerolog.Ctx(ctx).Warn().Err(err).Str("payment_id", p.ID.String()).Msg("payment: the provider's answer not recorded; the worker will reconcile it")
		return p.wire(""), nil
	}
	if rec.Status == subjects.PaymentStatusFailed && rec.DeclineCode == declineInvalidMethod {
		return subjects.PaymentReply{}, subjects.BadRequest("payment_method", "the provider does not know this payment method")
	}
	return rec.wire(secret), nil
}

// checkMethod returns what is wrong with a payment method id, or "".
func (s *service) checkMethod(m string) string {
	switch {
	case m == "":
		return "is required"
	case len(m) > maxMethodBytes:
		return "must be at most " + strconv.Itoa(maxMethodBytes) + " bytes"
	case len(m) < 4 || m[:3] != "pm_":
		return "must be a payment method id (pm_…)"
	}
	for _, c := range []byte(m) {
		if !(c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return "must be a payment method id (pm_…)"
		}
	}
	if s.provider.CheckMethod(m) != nil {
		return "is not a test payment method of the sandbox (pm_card_visa, pm_card_chargeDeclined, …)"
	}
	return ""
}

// orderOf returns the caller's order id: the service's copy, or, when the events have not
// brought it yet, the order service's answer to the caller's own token. Another user's
// order is ErrOrderNotFound, as an unknown one is.
func (s *service) orderOf(ctx context.Context, id uuid.UUID, userID string) (Order, error) {
	o, err := s.store.Order(ctx, id)
	if errors.Is(err, ErrOrderNotFound) {
		o, err = s.askOrder(ctx, id)
	}
	if err != nil {
		return o, err
	}
	if o.UserID != userID {
		return o, ErrOrderNotFound
	}
	return o, nil
}

// askOrder asks the order service for order id with the caller's token (it answers 404 for
// an order that is not the caller's) and remembers the answer.
func (s *service) askOrder(ctx context.Context, id uuid.UUID) (Order, error) {
	callCtx, cancel := context.WithTimeout(ctx, orderLookupTimeout)
	defer cancel()
	ord, err := subjects.OrderGet.Call(callCtx, s.nc, subjects.OrderIDRequest{ID: id.String()})
	if errors.Is(err, subjects.ErrNotFound) {
		return Order{}, ErrOrderNotFound
	}
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Str("order_id", id.String()).Msg("payment: order lookup failed")
		return Order{}, errOrderService
	}
	status, ok := orderStatus(ord.Status)
	if !ok || ord.ID != id.String() || !validMoney(ord.Total) {
		zerolog.Ctx(ctx).Warn().Str("order_id", id.String()).Msg("payment: the order service answered an order it should not")
		return Order{}, errOrderService
	}
	return s.store.RememberOrder(ctx, Order{ID: id, UserID: ord.UserID, Total: ord.Total, Status: status, PaymentMethod: ord.PaymentMethod})
}

// clientSecret fetches the client secret of a payment that requires action, so a payer who
// asks again can finish it; it is never stored. Best effort: without it the reply still
// says requires_action.
func (s *service) clientSecret(ctx context.Context, p Payment) string {
	if p.Status != subjects.PaymentStatusRequiresAction || p.ProviderRef == "" {
		return ""
	}
	in, err := s.provider.Retrieve(ctx, p.ProviderRef)
	if err != nil {
		return ""
	}
	return in.ClientSecret
}

// refundCreate serves PaymentRefund: an admin refunds an order's captured payment, all that
// remains or amount of it. The Idempotency-Key makes a retry return the first refund.
func (s *service) refundCreate(ctx context.Context, req subjects.RefundRequest) (subjects.Refund, error) {
	claims, err := authn.MustClaims(ctx)
	if err != nil {
		return subjects.Refund{}, err
	}
	var bad subjects.Problems
	orderID, err := uuid.Parse(req.OrderID)
	if err != nil {
		bad.Add("order_id", "must be an order id (a UUID)")
	}
	if req.Amount != nil && *req.Amount <= 0 {
		bad.Add("amount", "must be a positive amount in minor units")
	}
	// A refund without a key cannot tell a retry from a second refund: it is refused, as
	// docs/api.md says (Idempotency-Key required), rather than made twice.
	key := subjects.MetaFrom(ctx).IdempotencyKey
	if key == "" {
		bad.Add(subjects.HeaderIdempotencyKey, "is required: the same key makes the same refund, once")
	} else {
		bad.Add(subjects.HeaderIdempotencyKey, checkText(key, maxKeyBytes))
	}
	if err := bad.Err(); err != nil {
		return subjects.Refund{}, err
	}
	r, paymentRef, fresh, err := s.store.BeginRefund(ctx, orderID, req.Amount, key, claims.Subject, s.provider.closed)
	if err != nil {
		return subjects.Refund{}, s.wireError(err)
	}
	if !fresh {
		return r.wire(), nil
	}
	rec, err := s.sendRefund(ctx, r, paymentRef)
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Str("refund_id", r.ID.String()).Msg("payment: provider not reached; the worker will send the refund again")
		return r.wire(), nil
	}
	return rec.wire(), nil
}

// stripeWebhook serves PaymentStripeWebhook: anyone may call, the signature is the lock. A
// bad signature is a 400 that changes nothing; an event applied before is a 200 no-op.
func (s *service) stripeWebhook(ctx context.Context, req subjects.StripeWebhook) (subjects.Empty, error) {
	n, err := parseStripeEvent(req.Payload, req.Signature, s.cfg.StripeWebhookSecret)
	switch {
	case errors.Is(err, errBadSignature):
		return subjects.Empty{}, subjects.BadRequest("Stripe-Signature", "missing or invalid signature")
	case err != nil:
		return subjects.Empty{}, subjects.BadRequest("payload", err.Error())
	}
	return subjects.Empty{}, s.applyNotices(ctx, []notice{n})
}

// wireError is the only domain → wire mapping.
func (s *service) wireError(err error) error {
	switch {
	case errors.Is(err, ErrOrderNotFound):
		return subjects.Errorf(http.StatusNotFound, "order_not_found", "order not found")
	case errors.Is(err, ErrOrderCancelled):
		return subjects.Errorf(http.StatusConflict, "order_cancelled", "the order is cancelled")
	case errors.Is(err, ErrAlreadyPaid):
		return subjects.Errorf(http.StatusConflict, "already_paid", "the order is paid")
	case errors.Is(err, ErrNothingToPay):
		return subjects.Errorf(http.StatusConflict, "nothing_to_pay", "the order has nothing to pay")
	case errors.Is(err, ErrNothingCaptured):
		return subjects.Errorf(http.StatusConflict, "nothing_captured", "nothing of this order has been captured")
	case errors.Is(err, ErrFullyRefunded):
		return subjects.Errorf(http.StatusConflict, "fully_refunded", "everything captured of this order is refunded")
	case errors.Is(err, ErrExceedsCaptured):
		return &subjects.Error{Code: http.StatusUnprocessableEntity, Slug: "refund_exceeds_captured",
			Message: "the refund exceeds what remains captured",
			Fields:  []subjects.FieldError{{Field: "amount", Message: "exceeds what remains captured"}}}
	case errors.Is(err, errUnavailable):
		return &subjects.Error{Code: http.StatusServiceUnavailable, Slug: "provider_unavailable",
			Message: "the payment provider is unavailable; try again later", RetryAfter: s.provider.retryAfter()}
	case errors.Is(err, errOrderService):
		return &subjects.Error{Code: http.StatusServiceUnavailable, Slug: "unavailable",
			Message: "the order cannot be looked up now; try again later", RetryAfter: 1}
	}
	return err
}

// checkText returns what is wrong with a short text from outside (a key, a provider id), or
// "": PostgreSQL refuses NUL bytes and invalid UTF-8, and keys are printable.
func checkText(s string, maxBytes int) string {
	switch {
	case len(s) > maxBytes:
		return "must be at most " + strconv.Itoa(maxBytes) + " bytes"
	case !utf8.ValidString(s):
		return "must be valid UTF-8"
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "must not contain control characters"
		}
	}
	return ""
}

// validMoney reports whether m is a sane amount: not negative, with an ISO 4217 code.
func validMoney(m subjects.Money) bool {
	if m.Amount < 0 || len(m.Currency) != 3 {
		return false
	}
	for _, c := range []byte(m.Currency) {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}
