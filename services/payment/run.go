package payment

import (
	"embed"
	"time"

	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/platform/rpc"
	"github.com/souk/souk/subjects"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// Schema is the PostgreSQL schema the payment service owns.
const Schema = "payments"

// Config configures the payment service; zero fields take their Default. Its secrets are
// redacted wherever it is logged or printed (MarshalZerologObject, String).
type Config struct {
	// Provider is "sandbox" (the default: Stripe's test payment methods, decided here) or
	// "stripe".
	Provider string
	// StripeSecretKey is the Stripe API key (sk_…); required with the stripe provider.
	StripeSecretKey string
	// StripeWebhookSecret verifies Stripe's webhooks (whsec_…); without it every webhook is
	// refused.
	StripeWebhookSecret string
	// StripeAPIURL is Stripe's API base URL (DefaultStripeAPIURL); stripe-mock's in tests.
	StripeAPIURL string
	// SandboxDelay is how long the sandbox takes to decide a payment (200 ms).
	SandboxDelay time.Duration
	// ProviderTimeout bounds every provider call (10 s).
	ProviderTimeout time.Duration
	// ReconcileAfter is how long a payment may stay undecided, or a refund unanswered,
	// before the worker asks the provider (30 s); the wait doubles with every look.
	ReconcileAfter time.Duration
	// BreakerFailures consecutive failed provider calls open the circuit breaker (5).
	BreakerFailures int
	// BreakerOpenFor is how long an open breaker refuses calls before it tries one (10 s).
	BreakerOpenFor time.Duration
	// ActionTimeout is how long a payment may wait for its payer to act (3-D Secure, a new
	// card) before the worker cancels its intent and fails it action_timeout, so that the
	// order is cancelled and its stock released (10 min: inside the 15 min reservation hold,
	// so the customer is told why).
	ActionTimeout time.Duration
	// Currency is the shop's currency (SOUK_CURRENCY): its revenue and refund series exist
	// from the start, at 0. Payments in other currencies count under their own.
	Currency string
}

// Service declares the payment service: its endpoints, the consumer that keeps its copy of
// orders (and starts the payments of reserved ones), the payment events it publishes, the
// worker, the pruner of applied webhook ids and, with the sandbox, its deliveries.
func Service(cfg Config, deps kit.Deps) (kit.Service, error) {
	if err := cfg.defaults(); err != nil {
		return kit.Service{}, err
	}
	s := newService(cfg, deps)
	return kit.Service{
		Name: "payment", Version: "0.1.0", Description: "payment intents, provider webhooks, refunds",
		Schema: Schema, Migrations: migrationsFS,
		Publishes: []subjects.EventKind{subjects.EvtPaymentSucceeded.EventKind, subjects.EvtPaymentFailed.EventKind,
			subjects.EvtPaymentRefunded.EventKind},
		Endpoints: []rpc.Binding{
			rpc.Bind(subjects.PaymentCreate, s.paymentCreate),
			rpc.Bind(subjects.PaymentRefund, s.refundCreate),
			rpc.Bind(subjects.PaymentStripeWebhook, s.stripeWebhook),
		},
		// A committed batch may have started payments or made refunds due: the worker sends them.
		Consumers: []*consumer.Consumer{{Name: "payment-orders", On: s.orders(), Idempotent: true, AfterCommit: func([]consumer.Msg) { s.wake.Kick() }}},
		Calls:     []subjects.Callee{subjects.OrderGet},
		Loops:     s.loops(),
		Start:     s.start,
	}, nil
}
