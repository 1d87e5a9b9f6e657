package notification

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/souk/souk/platform/background"
)

// Defaults of Config.
const (
	// DefaultReviewURL is the review link of a delivered product; {product_id} is replaced.
	DefaultReviewURL   = "http://127.0.0.1:8080/v1/products/{product_id}/reviews"
	DefaultMaxAttempts = 8
	DefaultRetryBase   = 30 * time.Second
	DefaultRetryMax    = time.Hour
	DefaultSendTimeout = 10 * time.Second
	DefaultPoll        = time.Second
	DefaultParallel    = 8
)

func (c *Config) defaults() error {
	if c.ReviewURL == "" {
		c.ReviewURL = DefaultReviewURL
	}
	if u, err := url.Parse(c.ReviewURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || !strings.Contains(c.ReviewURL, "{product_id}") {
		return fmt.Errorf("notification: review URL %q: want an http(s) URL with {product_id}", c.ReviewURL)
	}
	if c.MaxAttempts < 0 || c.RetryBase < 0 || c.RetryMax < 0 || c.SendTimeout < 0 || c.Poll < 0 || c.Parallel < 0 {
		return errors.New("notification: negative durations or counts in the configuration")
	}
	c.MaxAttempts = orDefault(c.MaxAttempts, DefaultMaxAttempts)
	c.RetryBase = orDefault(c.RetryBase, DefaultRetryBase)
	c.RetryMax = max(orDefault(c.RetryMax, DefaultRetryMax), c.RetryBase)
	c.SendTimeout = orDefault(c.SendTimeout, DefaultSendTimeout)
	c.Poll = orDefault(c.Poll, min(DefaultPoll, c.RetryBase))
	c.Parallel = orDefault(c.Parallel, DefaultParallel)
	if c.SMTPURL != "" {
		if _, err := ParseSMTPURL(c.SMTPURL); err != nil {
			return fmt.Errorf("notification: %w", err)
		}
	}
	return nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// backoff is the wait after the attempts-th failed attempt: RetryBase doubling up to
// RetryMax.
func (c Config) backoff(attempts int) time.Duration {
	return background.Doubling(attempts, c.RetryBase, c.RetryMax)
}

// lease is how long a claimed delivery is left to its worker: an attempt's time and a
// margin. A worker that dies mid-send leaves it to be tried again after that.
func (c Config) lease() time.Duration { return c.SendTimeout + 5*time.Second }

// smtpDesc is the SMTP server for logs: the URL without its password, or "log".
func (c Config) smtpDesc() string {
	if c.SMTPURL == "" {
		return "log"
	}
	s, err := ParseSMTPURL(c.SMTPURL)
	if err != nil {
		return "[invalid]"
	}
	return s.String()
}

// MarshalZerologObject logs the configuration with the SMTP password redacted.
func (c Config) MarshalZerologObject(e *zerolog.Event) {
	e.Str("smtp", c.smtpDesc()).Str("review_url", c.ReviewURL).Int("max_attempts", c.MaxAttempts).
		Dur("retry_base", c.RetryBase).Dur("retry_max", c.RetryMax).Dur("send_timeout", c.SendTimeout).
		Bool("webhook_allow_private", c.AllowPrivateWebhooks)
}

// String prints the configuration with the SMTP password redacted, so %v cannot leak it.
func (c Config) String() string {
	return fmt.Sprintf("notification.Config{SMTP: %q, ReviewURL: %q, MaxAttempts: %d}", c.smtpDesc(), c.ReviewURL, c.MaxAttempts)
}

// GoString is String, for %#v.
func (c Config) GoString() string { return c.String() }
