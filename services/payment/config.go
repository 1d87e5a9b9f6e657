package payment

import (
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/rs/zerolog"
)

// Providers.
const (
	ProviderSandbox = "sandbox"
	ProviderStripe  = "stripe"
)

// Defaults of Config.
const (
	DefaultSandboxDelay    = 200 * time.Millisecond
	DefaultProviderTimeout = 10 * time.Second
	DefaultReconcileAfter  = 30 * time.Second
	DefaultBreakerFailures = 5
	DefaultBreakerOpenFor  = 10 * time.Second
	DefaultActionTimeout   = 10 * time.Minute
)

// defaults checks c and fills in the defaults of what it leaves zero.
func (c *Config) defaults() error {
	c.Provider = cmp.Or(c.Provider, ProviderSandbox)
	c.StripeAPIURL = cmp.Or(c.StripeAPIURL, DefaultStripeAPIURL)
	switch {
	case c.Provider != ProviderSandbox && c.Provider != ProviderStripe:
		return fmt.Errorf("payment: provider %q is neither sandbox nor stripe", c.Provider)
	case c.Provider == ProviderStripe && c.StripeSecretKey == "":
		return errors.New("payment: the stripe provider needs StripeSecretKey")
	case c.SandboxDelay < 0 || c.ProviderTimeout < 0 || c.ReconcileAfter < 0 || c.BreakerFailures < 0 || c.BreakerOpenFor < 0 || c.ActionTimeout < 0:
		return errors.New("payment: negative durations or counts in the configuration")
	}
	if u, err := url.Parse(c.StripeAPIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("payment: StripeAPIURL %q is no http(s) URL", c.StripeAPIURL)
	}
	c.SandboxDelay = cmp.Or(c.SandboxDelay, DefaultSandboxDelay)
	c.ProviderTimeout = cmp.Or(c.ProviderTimeout, DefaultProviderTimeout)
	c.ReconcileAfter = cmp.Or(c.ReconcileAfter, DefaultReconcileAfter)
	c.BreakerOpenFor = cmp.Or(c.BreakerOpenFor, DefaultBreakerOpenFor)
	c.ActionTimeout = cmp.Or(c.ActionTimeout, DefaultActionTimeout)
	c.BreakerFailures = cmp.Or(c.BreakerFailures, DefaultBreakerFailures)
	return nil
}

// MarshalZerologObject logs the configuration with its secrets redacted.
func (c Config) MarshalZerologObject(e *zerolog.Event) {
	e.Str("provider", c.Provider).Str("stripe_api_url", c.StripeAPIURL).
		Str("stripe_secret_key", redact(c.StripeSecretKey)).Str("stripe_webhook_secret", redact(c.StripeWebhookSecret)).
		Dur("sandbox_delay", c.SandboxDelay).Dur("provider_timeout", c.ProviderTimeout).
		Dur("reconcile_after", c.ReconcileAfter).Int("breaker_failures", c.BreakerFailures).Dur("breaker_open_for", c.BreakerOpenFor).Dur("action_timeout", c.ActionTimeout)
}

// String prints the configuration with its secrets redacted, so %v cannot leak them.
func (c Config) String() string {
	return fmt.Sprintf("payment.Config{Provider: %q, StripeAPIURL: %q, StripeSecretKey: %q, StripeWebhookSecret: %q}",
		c.Provider, c.StripeAPIURL, redact(c.StripeSecretKey), redact(c.StripeWebhookSecret))
}

// GoString is String, for %#v.
func (c Config) GoString() string { return c.String() }

func redact(secret string) string {
	if secret == "" {
		return ""
	}
	return "[redacted]"
}
