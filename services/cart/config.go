package cart

import (
	"fmt"

	"github.com/souk/souk/subjects"
)

// Defaults of Config.
const (
	DefaultCurrency           = "EUR"
	DefaultMaxLines           = 100
	DefaultMaxQuantity        = 999
	DefaultCatalogConcurrency = 8
	// writeAttempts bounds the compare-and-swap loop of one write; then it is a 409.
	writeAttempts = 10
)

// defaults fills in the zero fields of c and checks the rest.
func (c *Config) defaults() error {
	if c.DefaultCurrency == "" {
		c.DefaultCurrency = DefaultCurrency
	}
	cur, ok := subjects.CheckCurrency(c.DefaultCurrency)
	if !ok {
		return fmt.Errorf("cart: default currency %q is no ISO 4217 code", c.DefaultCurrency)
	}
	c.DefaultCurrency = cur
	if c.MaxLines <= 0 {
		c.MaxLines = DefaultMaxLines
	}
	if c.MaxQuantity <= 0 {
		c.MaxQuantity = DefaultMaxQuantity
	}
	if c.CatalogConcurrency <= 0 {
		c.CatalogConcurrency = DefaultCatalogConcurrency
	}
	return nil
}
