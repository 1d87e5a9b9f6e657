package auth

import (
	"fmt"
	"time"

	"github.com/souk/souk/nats/bus"
)

// Defaults of Config.
const (
	// DefaultAccessTTL is the lifetime of an access token.
	DefaultAccessTTL = 15 * time.Minute
	// DefaultRefreshTTL is the lifetime of a refresh token, and the most a session may idle.
	DefaultRefreshTTL = 30 * 24 * time.Hour
	// MaxAccessTTL is the longest access token lifetime: the revocations bucket must keep
	// an entry until no token it refuses is valid any more (the lifetime, the verifiers' 30 s
	// of skew and a margin), and keeps them bus.RevocationsTTL.
	MaxAccessTTL = bus.RevocationsTTL - 5*time.Minute
)

func (c *Config) defaults() error {
	if c.AccessTTL == 0 {
		c.AccessTTL = DefaultAccessTTL
	}
	if c.RefreshTTL == 0 {
		c.RefreshTTL = DefaultRefreshTTL
	}
	if c.AccessTTL < time.Minute || c.AccessTTL > MaxAccessTTL {
		return fmt.Errorf("auth: access token TTL %s out of range 1m..%s", c.AccessTTL, MaxAccessTTL)
	}
	maxRefresh := DefaultRefreshTTL
	for _, b := range bus.Buckets {
		if b.Bucket == bus.BucketSessions {
			maxRefresh = b.TTL
		}
	}
	if c.RefreshTTL < c.AccessTTL || c.RefreshTTL > maxRefresh {
		return fmt.Errorf("auth: refresh token TTL %s out of range %s..%s", c.RefreshTTL, c.AccessTTL, maxRefresh)
	}
	return nil
}
