package product

import (
	"strings"
	"sync"

	"golang.org/x/text/language"
)

// maxPrefs bounds the languages taken from one Accept-Language header.
const maxPrefs = 4

// PrefsCache remembers what Accept-Language headers resolve to: a product read parses no
// header twice. Bounded: it starts afresh when full.
type PrefsCache struct {
	defaultLocale string
	mu            sync.RWMutex
	m             map[string]Prefs
}

// Prefs are the locales a caller accepts, best first, ending before the default locale (whose
// text needs no translation).
type Prefs struct {
	// List are the locales, best first.
	List []string
	// Key is their canonical join, part of every cache key.
	Key string
}

const prefsCacheSize = 1024

// NewPrefsCache returns an empty cache for a catalog whose own text is in defaultLocale.
func NewPrefsCache(defaultLocale string) *PrefsCache {
	return &PrefsCache{defaultLocale: defaultLocale, m: make(map[string]Prefs, 64)}
}

// Resolve returns the preferences of an Accept-Language header value.
func (c *PrefsCache) Resolve(header string) Prefs {
	if header == "" {
		return Prefs{}
	}
	c.mu.RLock()
	p, ok := c.m[header]
	c.mu.RUnlock()
	if ok {
		return p
	}
	p = ParsePrefs(header, c.defaultLocale)
	if len(header) <= 256 {
		c.mu.Lock()
		if len(c.m) >= prefsCacheSize {
			clear(c.m)
		}
		c.m[header] = p
		c.mu.Unlock()
	}
	return p
}

// ParsePrefs reads an Accept-Language header: tags by descending q, each canonical, with its
// base language after it ("de-AT" then "de"), stopping at the default language.
func ParsePrefs(header, defaultLocale string) Prefs {
	if len(header) > 1024 { // cut at a list separator, so that the rest still parses
		header = header[:strings.LastIndexByte(header[:1024], ',')+1]
	}
	tags, _, err := language.ParseAcceptLanguage(header)
	if err != nil {
		return Prefs{}
	}
	defBase := baseOf(defaultLocale)
	var list []string
	add := func(s string) {
		for _, have := range list {
			if have == s {
				return
			}
		}
		list = append(list, s)
	}
	for _, t := range tags {
		if len(list) >= maxPrefs {
			break
		}
		s := t.String()
		if s == "und" || s == "mul" {
			continue
		}
		if baseOf(s) == defBase {
			break // the default text serves from here on
		}
		add(s)
		if b := baseOf(s); b != s {
			add(b)
		}
	}
	if len(list) > maxPrefs {
		list = list[:maxPrefs]
	}
	return Prefs{List: list, Key: strings.Join(list, ",")}
}

func baseOf(locale string) string {
	b, _, _ := strings.Cut(locale, "-")
	return strings.ToLower(b)
}

// PickLocale returns the first of prefs that texts has, or one of the same base language,
// and false when the default text is the answer.
func PickLocale[T any](prefs []string, defaultLocale string, texts map[string]T) (string, bool) {
	if len(texts) == 0 {
		return "", false
	}
	for _, p := range prefs {
		if _, ok := texts[p]; ok {
			return p, true
		}
		base := baseOf(p)
		if base == baseOf(defaultLocale) {
			return "", false
		}
		for _, l := range SortedKeys(texts) {
			if baseOf(l) == base {
				return l, true
			}
		}
	}
	return "", false
}
