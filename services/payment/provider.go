package payment

import (
	"context"
	"errors"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/sony/gobreaker/v2"

	"github.com/souk/souk/platform/liveconfig"
	"github.com/souk/souk/platform/metrics"
	"github.com/souk/souk/subjects"
)

// Provider is a payment network: the sandbox or Stripe. Create and Refund take an
// idempotency key (the row id), so calling again after a crash or a timeout never charges
// or refunds twice. Implementations return errUnknownMethod, a *rejectedError for a request
// the provider refuses for good, and any other error for what may pass (the network, the
// provider down).
type Provider interface {
	// Name is the provider's name as payments record it ("sandbox", "stripe").
	Name() string
	// CheckMethod refuses a payment method the provider cannot charge with errUnknownMethod,
	// before anything is written.
	CheckMethod(method string) error
	// Create starts collecting req.Amount with req.Method; req.Key() is the idempotency key.
	Create(ctx context.Context, req IntentRequest) (Intent, error)
	// Retrieve returns the intent ref as the provider knows it now.
	Retrieve(ctx context.Context, ref string) (Intent, error)
	// Find looks up the intent of payment id whatever key created it (Stripe: a search on
	// the payment id in its metadata); found is false when the provider has none.
	Find(ctx context.Context, paymentID uuid.UUID) (in Intent, found bool, err error)
	// Cancel cancels the intent ref, so that nobody can confirm it any more, and returns it
	// as it is then. An intent that cannot be cancelled (it succeeded, or is cancelled
	// already) is a *rejectedError.
	Cancel(ctx context.Context, ref string) (Intent, error)
	// Refund returns req.Amount of the intent req.PaymentRef; req.RefundID is the
	// idempotency key.
	Refund(ctx context.Context, req RefundRequest) (RefundResult, error)
}

// IntentRequest asks a provider to collect a payment.
type IntentRequest struct {
	PaymentID uuid.UUID
	OrderID   uuid.UUID
	Amount    subjects.Money
	Method    string
	// Attempt is 0 for the payment's first key; a later one is used only after Find found
	// no intent for a create whose answer was lost (Stripe replays a stored 500 for a key).
	Attempt int
}

// Key is the request's idempotency key: the payment id, with the attempt after a lost
// answer.
func (r IntentRequest) Key() string {
	if r.Attempt == 0 {
		return r.PaymentID.String()
	}
	return r.PaymentID.String() + "-" + strconv.Itoa(r.Attempt)
}

// Intent is a payment as its provider reports it.
type Intent struct {
	// Ref is the provider's id of the intent.
	Ref string
	// Status is processing, requires_action, succeeded, failed or canceled.
	Status string
	// DeclineCode says why a failed intent failed.
	DeclineCode string
	// ClientSecret lets the payer finish an intent that requires action. Never stored.
	ClientSecret string
	// final: the intent can no longer be confirmed (it was cancelled at the provider), so a
	// failure need not be cancelled there.
	final bool
}

// RefundRequest asks a provider to refund part of a captured payment.
type RefundRequest struct {
	RefundID   uuid.UUID
	PaymentID  uuid.UUID
	PaymentRef string
	Amount     subjects.Money
}

// RefundResult is a refund as its provider reports it.
type RefundResult struct {
	Ref string
	// Status is pending, succeeded or failed.
	Status        string
	FailureReason string
}

// Provider errors.
var (
	// errUnknownMethod: the provider cannot charge this payment method (a 400 on the field).
	errUnknownMethod = errors.New("unknown payment method")
	// errUnavailable: the breaker is open; calls wait until it lets one through.
	errUnavailable = errors.New("payment provider unavailable")
	// errNotReached: no connection to the provider was made, so the request cannot have
	// reached it (any other failure may have).
	errNotReached = errors.New("payment provider not reached")
)

// rejectedError is a request the provider refused for good: calling again with the same key
// gets the same answer.
type rejectedError struct{ msg string }

func (e *rejectedError) Error() string { return "provider rejected the request: " + e.msg }

// answered reports whether err is the provider's considered answer rather than a failure to
// reach it: the breaker counts it as a success.
func answered(err error) bool {
	var rej *rejectedError
	return err == nil || errors.Is(err, errUnknownMethod) || errors.As(err, &rej)
}

// guarded wraps a Provider with a timeout per call and a circuit breaker: after
// consecutive failures it stops calling for a while (openFor), PaymentCreate answers 503
// with Retry-After and the worker waits, instead of every request waiting out a timeout.
// Both settings follow the live configuration (payment.breaker_failures, .breaker_open_for).
type guarded struct {
	Provider
	timeout time.Duration
	// cb is the breaker in force. gobreaker fixes its open duration when it is built, so a
	// change of payment.breaker_open_for replaces it with a new, closed one (see newGuarded).
	cb atomic.Pointer[breaker]
}

// breaker is a circuit breaker and the open duration it was built with: what a 503's
// Retry-After says is the breaker's own, never a new setting's before its breaker is in.
type breaker struct {
	*gobreaker.TwoStepCircuitBreaker[struct{}]
	openFor time.Duration
}

// newProvider returns the provider cfg chooses, and the sandbox when it is the one (its
// notices are delivered by a loop of the service), else nil. It does no I/O.
func newProvider(cfg Config) (Provider, *sandbox) {
	if cfg.Provider == ProviderStripe {
		return newStripe(cfg), nil
	}
	sb := newSandbox(cfg.SandboxDelay)
	return sb, sb
}

// newGuarded returns p guarded by cfg's timeout and breaker, its state exported on reg. The
// breaker's settings follow live: the failures that open it are asked at each failure, so a
// change applies to the next one and nothing is lost; a change of how long it stays open
// builds a new breaker, closed, whose counts start from zero: an open breaker closes at once
// (the next call tries the provider, and a provider still down opens it again after the
// failures it takes), and the failures counted towards opening it are forgotten.
func newGuarded(p Provider, cfg Config, live *liveconfig.Config, reg prometheus.Registerer, log zerolog.Logger) *guarded {
	state := metrics.Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "souk_payment_breaker_open", Help: "1 while the payment provider's circuit breaker is open (or half-open), else 0.",
	}))
	failures := liveconfig.BreakerFailures.Bind(live, cfg.BreakerFailures)
	openFor := liveconfig.BreakerOpenFor.Bind(live, cfg.BreakerOpenFor)
	g := &guarded{Provider: p, timeout: cfg.ProviderTimeout}
	build := func(openFor time.Duration) *breaker {
		return &breaker{openFor: openFor, TwoStepCircuitBreaker: gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
			Name:        p.Name(),
			MaxRequests: 1,
			Timeout:     openFor,
			ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= uint32(failures.Load()) },
			// A caller that gave up says nothing about the provider.
			IsExcluded:   func(err error) bool { return errors.Is(err, context.Canceled) },
			IsSuccessful: answered,
			OnStateChange: func(name string, from, to gobreaker.State) {
				open := 0.0
				if to != gobreaker.StateClosed {
					open = 1
				}
				state.Set(open)
				log.Warn().Str("provider", name).Str("from", from.String()).Str("to", to.String()).Msg("payment: provider circuit breaker")
			},
		})}
	}
	g.cb.Store(build(openFor.Load()))
	openFor.OnChange(func(d time.Duration) {
		g.cb.Store(build(d))
		state.Set(0)
		log.Info().Dur("open_for", d).Msg("payment: provider circuit breaker rebuilt, closed, for its new open duration")
	})
	return g
}

// open reports whether calls are refused now, so background work waits instead of trying.
func (g *guarded) open() bool { return g.cb.Load().State() == gobreaker.StateOpen }

// closed is errUnavailable while the breaker is open, else nil: the gate before a new
// payment or refund is written, so that none is written that cannot be sent.
func (g *guarded) closed() error {
	if g.open() {
		return errUnavailable
	}
	return nil
}

// retryAfter is the Retry-After, in seconds, of a 503 while the breaker is open.
func (g *guarded) retryAfter() int { return int(math.Ceil(g.cb.Load().openFor.Seconds())) }

// guard runs one provider call through g's breaker with g's timeout. The call is detached
// from ctx's cancellation: a payer who hangs up must not cut a charge off halfway (the
// idempotency key would make it safe, but the answer would be lost until reconciliation).
func guard[T any](ctx context.Context, g *guarded, call func(ctx context.Context) (T, error)) (T, error) {
	var zero T
	done, err := g.cb.Load().Allow()
	if err != nil {
		return zero, errUnavailable
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.timeout)
	defer cancel()
	v, err := call(ctx)
	done(err)
	return v, err
}

// Create calls the provider's Create through the breaker.
func (g *guarded) Create(ctx context.Context, req IntentRequest) (Intent, error) {
	return guard(ctx, g, func(ctx context.Context) (Intent, error) { return g.Provider.Create(ctx, req) })
}

// Retrieve calls the provider's Retrieve through the breaker.
func (g *guarded) Retrieve(ctx context.Context, ref string) (Intent, error) {
	return guard(ctx, g, func(ctx context.Context) (Intent, error) { return g.Provider.Retrieve(ctx, ref) })
}

// Find calls the provider's Find through the breaker.
func (g *guarded) Find(ctx context.Context, paymentID uuid.UUID) (Intent, bool, error) {
	type found struct {
		in Intent
		ok bool
	}
	f, err := guard(ctx, g, func(ctx context.Context) (found, error) {
		in, ok, err := g.Provider.Find(ctx, paymentID)
		return found{in, ok}, err
	})
	return f.in, f.ok, err
}

// Cancel calls the provider's Cancel through the breaker.
func (g *guarded) Cancel(ctx context.Context, ref string) (Intent, error) {
	return guard(ctx, g, func(ctx context.Context) (Intent, error) { return g.Provider.Cancel(ctx, ref) })
}

// Refund calls the provider's Refund through the breaker.
func (g *guarded) Refund(ctx context.Context, req RefundRequest) (RefundResult, error) {
	return guard(ctx, g, func(ctx context.Context) (RefundResult, error) { return g.Provider.Refund(ctx, req) })
}
