package cart

import (
	"fmt"
	"time"

	"github.com/souk/souk/subjects"
)

// Defaults of Config.
const (
	DefaultCurrency           = "EUR"
	DefaultMaxLines           = 100
	DefaultMaxQuantity        = 999
	DefaultCatalogConcurrency = 8
	// writePatience bounds how long one write goes on losing compare-and-swap races; then it
	// is a 409. Within an instance the writes to one cart queue (Store.stripes), so the races
	// are between instances, and the winner of a queue of writes keeps winning until its
	// queue is done: ten attempts were lost in a row by twenty tabs adding at once through
	// two instances on a busy machine. Time, not a count, is what a caller waits.
	writePatience = 2 * time.Second
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
