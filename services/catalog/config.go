package catalog

import (
	"fmt"
	"time"

	"github.com/souk/souk/subjects"
)

// Defaults of Config.
const (
	DefaultLocale            = "en"
	DefaultCurrency          = "EUR"
	DefaultProductCacheBytes = 32 << 20
	DefaultListCacheBytes    = 16 << 20
	DefaultProductCacheTTL   = 10 * time.Minute
	DefaultListCacheTTL      = time.Minute
	// DefaultSearchMaxMatches is Meilisearch's pagination.maxTotalHits: a search's relevance
	// and facets over its first thousand matches cost ~1/20 of a 22 000-match search's.
	DefaultSearchMaxMatches = 1000
	// DefaultRelayRate paces the catalog's events once the relay has a backlog (Config.RelayRate).
	DefaultRelayRate = 1000
)

// defaults fills in what c leaves out and checks the rest.
func (c *Config) defaults() error {
	if c.DefaultLocale == "" {
		c.DefaultLocale = DefaultLocale
	}
	l, ok := subjects.CheckLocale(c.DefaultLocale)
	if !ok {
		return fmt.Errorf("catalog: default locale %q is no BCP 47 tag", c.DefaultLocale)
	}
	c.DefaultLocale = l
	if c.DefaultCurrency == "" {
		c.DefaultCurrency = DefaultCurrency
	}
	cur, ok := subjects.CheckCurrency(c.DefaultCurrency)
	if !ok {
		return fmt.Errorf("catalog: default currency %q is no ISO 4217 code", c.DefaultCurrency)
	}
	c.DefaultCurrency = cur
	if c.ProductCacheBytes <= 0 {
		c.ProductCacheBytes = DefaultProductCacheBytes
	}
	if c.ListCacheBytes <= 0 {
		c.ListCacheBytes = DefaultListCacheBytes
	}
	if c.ProductCacheTTL <= 0 {
		c.ProductCacheTTL = DefaultProductCacheTTL
	}
	if c.ListCacheTTL <= 0 {
		c.ListCacheTTL = DefaultListCacheTTL
	}
	if c.SearchMaxMatches == 0 {
		c.SearchMaxMatches = DefaultSearchMaxMatches
	}
	if c.RelayRate == 0 {
		c.RelayRate = DefaultRelayRate
	}
	return nil
}
