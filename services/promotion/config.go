package promotion

import (
	"errors"
	"time"
)

// Defaults of Config.
const (
	DefaultHoldTTL    = 10 * time.Minute
	DefaultSweepEvery = 30 * time.Second
)

// defaults fills in the zero fields of c and checks the rest.
func (c *Config) defaults() error {
	if c.HoldTTL < 0 || c.SweepEvery < 0 {
		return errors.New("promotion: HoldTTL and SweepEvery must not be negative")
	}
	if c.HoldTTL == 0 {
		c.HoldTTL = DefaultHoldTTL
	}
	if c.SweepEvery == 0 {
		c.SweepEvery = DefaultSweepEvery
	}
	return nil
}
