package payment

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	"github.com/souk/souk/subjects"
)

// DefaultStripeAPIURL is Stripe's API.
const DefaultStripeAPIURL = "https://api.stripe.com"

// stripeProvider collects payments through Stripe PaymentIntents (stripe-go), confirmed at
// creation with the payer's payment method. Outcomes that Stripe decides later arrive as
// webhooks (see webhook.go) or through reconciliation (Retrieve).
type stripeProvider struct {
	api *client.API
	// key is kept only to scrub it from error text: stripe-mock, for one, echoes the
	// Authorization header in its errors.
	key string
}

func newStripe(cfg Config) *stripeProvider {
	backend := func(b stripe.SupportedBackend, url string) stripe.Backend {
		bc := &stripe.BackendConfig{
			HTTPClient: &http.Client{Timeout: cfg.ProviderTimeout},
			// The worker is the retry, with the same idempotency key; stripe-go's own retries
			// would only stretch one call past the breaker's view of it.
			MaxNetworkRetries: stripe.Int64(0),
			// stripe-go would log to stderr on its own; errors are logged once, by us.
			LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull},
		}
		if url != "" {
			bc.URL = stripe.String(url)
		}
		return stripe.GetBackendWithConfig(b, bc)
	}
	return &stripeProvider{key: cfg.StripeSecretKey, api: client.New(cfg.StripeSecretKey, &stripe.Backends{
		API:     backend(stripe.APIBackend, cfg.StripeAPIURL),
		Connect: backend(stripe.ConnectBackend, ""),
		Uploads: backend(stripe.UploadsBackend, ""),
	})}
}

// Name implements Provider.
func (s *stripeProvider) Name() string { return "stripe" }

// CheckMethod implements Provider: any well-formed id may exist at Stripe; Create finds out.
func (s *stripeProvider) CheckMethod(string) error { return nil }

// Create implements Provider: a PaymentIntent confirmed at once, the order and payment ids
// in its metadata, the payment id as the Idempotency-Key.
func (s *stripeProvider) Create(ctx context.Context, req IntentRequest) (Intent, error) {
	params := &stripe.PaymentIntentParams{
		Amount:             stripe.Int64(req.Amount.Amount),
		Currency:           stripe.String(strings.ToLower(req.Amount.Currency)),
		PaymentMethod:      stripe.String(req.Method),
		PaymentMethodTypes: stripe.StringSlice([]string{"card"}),
		Confirm:            stripe.Bool(true),
	}
	params.Context = ctx
	params.AddMetadata("order_id", req.OrderID.String())
	params.AddMetadata("payment_id", req.PaymentID.String())
	params.SetIdempotencyKey(req.Key())
	pi, err := s.api.PaymentIntents.New(params)
	if err != nil {
		return s.declined(err)
	}
	return stripeIntent(pi), nil
}

// Retrieve implements Provider.
func (s *stripeProvider) Retrieve(ctx context.Context, ref string) (Intent, error) {
	params := &stripe.PaymentIntentParams{}
	params.Context = ctx
	pi, err := s.api.PaymentIntents.Get(ref, params)
	if err != nil {
		return Intent{}, s.wrap(err)
	}
	return stripeIntent(pi), nil
}

// Find implements Provider: a search on the payment id Create puts in the metadata. Stripe's
// search index lags writes by up to a minute; the worker waits that long (searchLag) after
// the lost answer before it trusts an empty result. An intent whose metadata does not name
// the payment is not taken, whatever the search answered.
func (s *stripeProvider) Find(ctx context.Context, paymentID uuid.UUID) (Intent, bool, error) {
	params := &stripe.PaymentIntentSearchParams{SearchParams: stripe.SearchParams{
		Query: "metadata['payment_id']:'" + paymentID.String() + "'", Limit: stripe.Int64(10)}}
	params.Context = ctx
	it := s.api.PaymentIntents.Search(params)
	var best *stripe.PaymentIntent
	for n := 0; n < 10 && it.Next(); n++ {
		pi := it.PaymentIntent()
		if pi.Metadata["payment_id"] != paymentID.String() {
			continue
		}
		if best == nil || best.Status == stripe.PaymentIntentStatusCanceled {
			best = pi // one that is not cancelled counts over one that is
		}
	}
	if err := it.Err(); err != nil {
		return Intent{}, false, s.wrap(err)
	}
	if best == nil {
		return Intent{}, false, nil
	}
	return stripeIntent(best), true, nil
}

// Cancel implements Provider: PaymentIntents.Cancel, reason abandoned. Stripe refuses to
// cancel a succeeded or cancelled intent with a 400, which wrap makes a *rejectedError.
func (s *stripeProvider) Cancel(ctx context.Context, ref string) (Intent, error) {
	params := &stripe.PaymentIntentCancelParams{CancellationReason: stripe.String(string(stripe.PaymentIntentCancellationReasonAbandoned))}
	params.Context = ctx
	pi, err := s.api.PaymentIntents.Cancel(ref, params)
	if err != nil {
		return Intent{}, s.wrap(err)
	}
	return stripeIntent(pi), nil
}

// Refund implements Provider: the refund id is the Idempotency-Key.
func (s *stripeProvider) Refund(ctx context.Context, req RefundRequest) (RefundResult, error) {
	params := &stripe.RefundParams{PaymentIntent: stripe.String(req.PaymentRef), Amount: stripe.Int64(req.Amount.Amount)}
	params.Context = ctx
	params.AddMetadata("refund_id", req.RefundID.String())
	params.AddMetadata("payment_id", req.PaymentID.String())
	params.SetIdempotencyKey(req.RefundID.String())
	r, err := s.api.Refunds.New(params)
	if err != nil {
		return RefundResult{}, s.wrap(err)
	}
	return stripeRefund(r), nil
}

// declined turns a card error of a confirmation into the failed intent it describes; any
// other error is wrapped.
func (s *stripeProvider) declined(err error) (Intent, error) {
	var se *stripe.Error
	if errors.As(err, &se) && se.Type == stripe.ErrorTypeCard {
		in := Intent{Status: subjects.PaymentStatusFailed, DeclineCode: declineCode(se)}
		if se.PaymentIntent != nil {
			in.Ref = se.PaymentIntent.ID
		}
		return in, nil
	}
	return Intent{}, s.wrap(err)
}

// wrap classifies a stripe-go error: a payment method Stripe does not know, a request it
// refuses for good (4xx but for authentication, conflicts and rate limits), or a failure
// worth another try. Only the error's type, code and message survive, without the key.
func (s *stripeProvider) wrap(err error) error {
	var se *stripe.Error
	if !errors.As(err, &se) {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" { // no connection: the request never left
			return fmt.Errorf("stripe: %s: %w", s.scrub(err.Error()), errNotReached)
		}
		return fmt.Errorf("stripe: %s", s.scrub(err.Error()))
	}
	msg := fmt.Sprintf("stripe %d %s %s: %s", se.HTTPStatusCode, se.Type, se.Code, s.scrub(se.Msg))
	switch {
	case se.Param == "payment_method" || (se.Code == stripe.ErrorCodeResourceMissing && strings.Contains(se.Msg, "payment_method")):
		return fmt.Errorf("%s: %w", msg, errUnknownMethod)
	case se.HTTPStatusCode >= 400 && se.HTTPStatusCode < 500 && se.HTTPStatusCode != http.StatusUnauthorized &&
		se.HTTPStatusCode != http.StatusForbidden && se.HTTPStatusCode != http.StatusConflict && se.HTTPStatusCode != http.StatusTooManyRequests:
		return &rejectedError{msg: msg}
	}
	return errors.New(msg)
}

func (s *stripeProvider) scrub(text string) string {
	if s.key == "" {
		return text
	}
	return strings.ReplaceAll(text, s.key, "[redacted]")
}

// declineCode is why Stripe declined: the card's decline code, else the error code.
func declineCode(e *stripe.Error) string {
	switch {
	case e.DeclineCode != "":
		return string(e.DeclineCode)
	case e.Code != "":
		return string(e.Code)
	}
	return "payment_failed"
}

// stripeIntent maps a PaymentIntent to the service's statuses. requires_payment_method after
// a confirmation is a decline when Stripe says why (a card error); without one (stripe-mock
// answers so from its fixtures) the payer has to act on the client with the client secret.
func stripeIntent(pi *stripe.PaymentIntent) Intent {
	in := Intent{Ref: pi.ID, ClientSecret: pi.ClientSecret}
	switch pi.Status {
	case stripe.PaymentIntentStatusSucceeded:
		in.Status = subjects.PaymentStatusSucceeded
	case stripe.PaymentIntentStatusCanceled:
		in.Status, in.DeclineCode = subjects.PaymentStatusCanceled, "canceled"
		if pi.CancellationReason != "" {
			in.DeclineCode = string(pi.CancellationReason)
		}
	case stripe.PaymentIntentStatusRequiresPaymentMethod:
		in.Status = subjects.PaymentStatusRequiresAction
		if e := pi.LastPaymentError; e != nil && e.Type == stripe.ErrorTypeCard {
			in.Status, in.DeclineCode = subjects.PaymentStatusFailed, declineCode(e)
		}
	case stripe.PaymentIntentStatusRequiresAction, stripe.PaymentIntentStatusRequiresConfirmation:
		in.Status = subjects.PaymentStatusRequiresAction
	default: // processing, requires_capture (automatic capture follows)
		in.Status = subjects.PaymentStatusProcessing
	}
	return in
}

// stripeRefund maps a Refund to the service's refund statuses.
func stripeRefund(r *stripe.Refund) RefundResult {
	res := RefundResult{Ref: r.ID, Status: refundPending}
	switch r.Status {
	case stripe.RefundStatusSucceeded:
		res.Status = refundSucceeded
	case stripe.RefundStatusFailed, stripe.RefundStatusCanceled:
		res.Status, res.FailureReason = refundFailed, string(r.FailureReason)
		if res.FailureReason == "" {
			res.FailureReason = string(r.Status)
		}
	}
	return res
}
