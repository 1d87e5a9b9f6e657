package payment

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestStripeFindAndCancelAgainstStripeMock proves the wire format of the search and the
// cancellation: stripe-mock validates both requests against Stripe's OpenAPI spec. Its
// search answers a fixture that names no payment of ours, which Find must not take for one.
// It runs where STRIPE_MOCK_URL is set (CI starts a stripe-mock).
func TestStripeFindAndCancelAgainstStripeMock(t *testing.T) {
	url := os.Getenv("STRIPE_MOCK_URL")
	if url == "" {
		t.Skip("STRIPE_MOCK_URL is not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p := newStripe(Config{StripeSecretKey: "sk_test_souk", StripeAPIURL: url, ProviderTimeout: 5 * time.Second})
	in, found, err := p.Find(ctx, uuid.Must(uuid.NewV7()))
	if err != nil || found {
		t.Fatalf("Find: %+v, found %v, %v; want none found", in, found, err)
	}
	in, err = p.Cancel(ctx, "pi_123")
	if err != nil || in.Ref != "pi_123" {
		t.Fatalf("Cancel: %+v, %v", in, err)
	}
}
